"""What the benchmark harnesses share: logging, waiting with a deadline, the machine's load
next to the figures, a process's CPU time, ratios, a run's description."""

import datetime
import os
import platform
import sys
import time

COMPILERS = ("rustc", "cc1", "cc1plus", "ld", "cargo")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def wait_until(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def compilers_running():
    """How many compiler processes run now: the noise next to the figures."""
    busy = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() in COMPILERS:
                        busy += 1
            except OSError:
                pass
    return busy


def cpu_seconds(pid):
    """user + system CPU of a process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def run_meta(args):
    """When, where and with which options a run was made: the head of its results."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}",
        "args": dict(vars(args)),
    }
