"""Harness for privlink's end-to-end tests: a real `privlink serve` per test (temporary data
dir, free port) driven by real AWS clients (boto3 / the AWS CLI)."""

import os
import pathlib
import signal
import subprocess
import tempfile
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"
OTHER = "333333333333"
# The DNS upstream of daemons whose test gives none: nothing listens there.
NO_UPSTREAM = "127.0.0.1:1"


def privlink_bin():
    path = os.environ.get("PRIVLINK_BIN")
    candidates = [pathlib.Path(path)] if path else [
        ROOT / "target" / "debug" / "privlink",
        ROOT / "target" / "release" / "privlink",
    ]
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if target_dir and not path:
        candidates = [pathlib.Path(target_dir) / "debug" / "privlink"] + candidates
    for c in candidates:
        if c.exists():
            return str(c)
    pytest.fail(f"privlink binary not found (tried {candidates}); build it first "
                "(scripts/test does) or set PRIVLINK_BIN", pytrace=False)


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate` until it returns a truthy value; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Daemon:
    """One `privlink serve` process on a free loopback port. API only (`--no-network`) unless
    `network=True`: API tests assert the API-only state machine (instances stay `pending`),
    which would race with the network making them `running`. With `dns_listen=True` it also
    serves the public DNS view on a free loopback port (UDP and TCP): `dns_addr`."""

    def __init__(self, data_dir, accounts_file=None, region=REGION, extra_args=(),
                 network=False, dns_listen=False):
        self.data_dir = str(data_dir)
        self.accounts_file = accounts_file
        self.region = region
        self.extra_args = list(extra_args)
        self.network = network
        self.dns_listen = dns_listen
        self.proc = None
        self.url = None
        self.dns_addr = None
        self.log_path = os.path.join(self.data_dir, "daemon.log")

    def start(self, timeout=15.0):
        args = [privlink_bin(), "serve", "--listen", "127.0.0.1:0",
                "--data-dir", self.data_dir, "--region", self.region]
        if self.accounts_file:
            args += ["--accounts", str(self.accounts_file)]
        if not self.network:
            args.append("--no-network")
        if self.dns_listen:
            args += ["--dns-listen", "127.0.0.1:0"]
        if "--dns-upstream" not in self.extra_args:
            # Never the machine's resolvers (/etc/resolv.conf): a closed loopback port, so
            # nothing a test asserts depends on them (a private DNS name stays unverified).
            args += ["--dns-upstream", NO_UPSTREAM]
        args += self.extra_args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        # The daemon prints the API's bound address on its first stdout line, then (with
        # --dns-listen) the public DNS view's.
        text = self._line(deadline, timeout)
        if not text.startswith("privlink listening on "):
            self.kill()
            raise AssertionError(f"privlink did not report its address in {timeout}s: {text!r} {self.log()}")
        self.url = text.split("listening on ", 1)[1]
        if self.dns_listen:
            text = self._line(deadline, timeout)
            if not text.startswith("privlink DNS listening on "):
                self.kill()
                raise AssertionError(f"privlink did not report its DNS address in {timeout}s: {text!r} {self.log()}")
            host, port = text.split("listening on ", 1)[1].rsplit(":", 1)
            self.dns_addr = (host, int(port))
        return self

    def _line(self, deadline, timeout):
        line = b""
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.readline()
            if chunk:
                line += chunk
                if line.endswith(b"\n"):
                    break
            elif self.proc.poll() is not None:
                raise AssertionError(f"privlink exited with {self.proc.returncode}: {self.log()}")
            else:
                time.sleep(0.01)
        return line.decode().strip()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self, sig=signal.SIGKILL):
        self.kill(sig)
        return self.start()

    def client(self, service, account=PROVIDER, secret="dev-secret", region=None, **config):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region or self.region,
            aws_access_key_id=account,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1}, **config),
        )

    def ec2(self, account=PROVIDER, **kw):
        return self.client("ec2", account, **kw)

    def elbv2(self, account=PROVIDER, **kw):
        return self.client("elbv2", account, **kw)


def destroy(data_dir):
    """`privlink destroy`: a daemon's network namespaces outlive it; this removes them (and
    its data dir). Fails if a daemon still runs on `data_dir`."""
    out = subprocess.run([privlink_bin(), "destroy", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"privlink destroy failed: {out.stdout}{out.stderr}"
    return out


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="privlink-e2e-") as d:
        yield pathlib.Path(d)
        destroy(d)


@pytest.fixture
def daemon(data_dir):
    d = Daemon(data_dir).start()
    try:
        yield d
    finally:
        d.kill()


@pytest.fixture
def provider_ec2(daemon):
    return daemon.ec2(PROVIDER)


@pytest.fixture
def provider_elb(daemon):
    return daemon.elbv2(PROVIDER)


@pytest.fixture
def consumer_ec2(daemon):
    return daemon.ec2(CONSUMER)


def expect_error(code, fn, *args, status=None, **kwargs):
    """Calls `fn` and asserts it fails with AWS error `code` (and HTTP `status` if given)."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error'].get('Message')}"
        if status is not None:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert e.response["Error"].get("Message"), "error without a message"
        return e.response
    raise AssertionError(f"expected error {code}, but the call succeeded")


def require_root(what):
    """Fails (never skips) a test that needs root when it runs without."""
    if os.geteuid() != 0:
        pytest.fail(f"{what}: needs root (network namespaces, workloads); run as root, as CI "
                    "does", pytrace=False)


def network_daemon(data_dir, monkeypatch, **kw):
    """The body of a `daemon` fixture with the network on, whatever the environment says
    (`kw`: more of `Daemon`'s arguments)."""
    monkeypatch.delenv("PRIVLINK_NO_NETWORK", raising=False)
    d = Daemon(data_dir, network=True, **kw).start()
    try:
        yield d
    finally:
        d.kill()
