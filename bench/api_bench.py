#!/usr/bin/env python3
"""API throughput and latency of privlink against moto's server, on loopback.

Starts a release `privlink serve --no-network` (dev mode, temporary data dir) and `python -m moto.server`,
then drives each with N concurrent clients — threads, each with its own keep-alive connection
sending pre-encoded Query requests over a raw socket (no SDK: client cost must not dominate) —
for two mixes:

  describe  DescribeVpcs (all / one id), DescribeTags (by resource), DescribeVpcAttribute over a
            pre-created set of VPCs
  churn     CreateVpc + CreateTags + DeleteVpc

Every response must be HTTP 200; one in --sample is also parsed and checked (right element,
right VPC, right count). Each run is bounded by --duration seconds and --max-requests. All
traffic goes to 127.0.0.1. Prints one table: requests/s, p50 and p99 latency per server and mix,
and the privlink/moto ratio.
"""

import argparse
import datetime
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.awsrequest
import botocore.credentials

ROOT = pathlib.Path(__file__).resolve().parents[1]
EC2_VERSION = "2016-11-15"
ACCOUNT = "111111111111"
REGION = "us-east-1"
VPC_ID = re.compile(rb"<vpcId>(vpc-[0-9a-f]+)</vpcId>")


# --- servers ----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, args, url=None, env=None):
        self.name = name
        self.args = args
        self.url = url
        self.env = env
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log",
                                               delete=False)

    def start(self, timeout=60.0):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + timeout
        if self.url is None:
            # privlink prints "privlink listening on http://ADDR" first.
            line = self.proc.stdout.readline().decode()
            if "listening on " not in line:
                self.stop()
                raise RuntimeError(f"{self.name} did not start: {line!r} {self.tail()}")
            self.url = line.split("listening on ", 1)[1].strip()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            probe = Client(self.url)
            try:
                status, _ = probe.call(query("DescribeVpcs"))
                if status == 200:
                    return self
            except OSError:
                pass
            finally:
                probe.close()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    def tail(self):
        try:
            return pathlib.Path(self.log.name).read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def privlink_server(binary, data_dir):
    # The API alone: moto has no network either, and namespaces would outlive the run.
    return Server("privlink", [binary, "serve", "--no-network", "--listen", "127.0.0.1:0",
                               "--data-dir", data_dir, "--region", REGION],
                  env={**os.environ, "PRIVLINK_LOG": "warn"})


def moto_server():
    port = free_port()
    return Server("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  url=f"http://127.0.0.1:{port}")


# --- requests ---------------------------------------------------------------------------------

def query(action, **params):
    return {"Action": action, "Version": EC2_VERSION, **params}


_AUTH = {}


def auth_headers():
    """One SigV4 signature, made once and sent with every request. Neither server checks it here
    (privlink in dev mode, moto by default); it names the service, region and account."""
    if not _AUTH:
        req = botocore.awsrequest.AWSRequest(method="POST", url="http://127.0.0.1/", data=b"",
                                             headers={"Content-Type":
                                                      "application/x-www-form-urlencoded"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCOUNT, "bench-secret"), "ec2",
                                REGION).add_auth(req)
        _AUTH.update({k: v for k, v in req.headers.items()
                      if k.lower() in ("authorization", "x-amz-date")})
    return _AUTH


def encode(host, params):
    body = urllib.parse.urlencode(params).encode()
    head = ["POST / HTTP/1.1", f"Host: {host}",
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in auth_headers().items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Client:
    """A keep-alive HTTP/1.1 connection with a minimal response reader (Content-Length or
    chunked), so that the client spends as little as possible per request."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
        self.addr = (u.hostname, u.port)
        self.host = u.netloc
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.create_connection(self.addr, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send_raw(self, request):
        if self.sock is None:
            self.connect()
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for h in lines[1:]:
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        if b"content-length" in headers:
            body = self._take(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                parts.append(self._take(size))
                self._take(2)
            body = b"".join(parts)
        else:  # body until close
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            body, self.buf = self.buf, b""
            self.close()
        if headers.get(b"connection") == b"close" or lines[0].startswith(b"HTTP/1.0"):
            self.close()
        return status, body

    def call(self, params):
        return self.send_raw(encode(self.host, params))


# --- workloads --------------------------------------------------------------------------------

class Check(Exception):
    pass


def xml(body):
    """Parsed XML with namespaces dropped: moto's DescribeTags answers in a namespace without
    the trailing slash; what is checked here is the structure."""
    root = ET.fromstring(body)
    for e in root.iter():
        e.tag = e.tag.rsplit("}", 1)[-1]
    return root


def prepare(url, n_vpcs):
    """Creates the VPCs the describe mix reads; returns their ids."""
    c = Client(url)
    ids = []
    for i in range(n_vpcs):
        status, body = c.call(query("CreateVpc", CidrBlock=f"10.{i}.0.0/16", **{
            "TagSpecification.1.ResourceType": "vpc",
            "TagSpecification.1.Tag.1.Key": "Name",
            "TagSpecification.1.Tag.1.Value": f"bench-{i}"}))
        if status != 200:
            raise RuntimeError(f"setup CreateVpc failed: {status} {body[:300]!r}")
        ids.append(VPC_ID.search(body).group(1).decode())
    c.close()
    return ids


def describe_worker(client, rng, vpc_ids, sample, record):
    """One describe-mix request; `record(latency, ok)` for each."""
    kind = rng.randrange(4)
    vpc = rng.choice(vpc_ids)
    if kind == 0:
        params = query("DescribeVpcs")
    elif kind == 1:
        params = query("DescribeVpcs", **{"VpcId.1": vpc})
    elif kind == 2:
        params = query("DescribeTags", **{"Filter.1.Name": "resource-id",
                                          "Filter.1.Value.1": vpc})
    else:
        params = query("DescribeVpcAttribute", VpcId=vpc, Attribute="enableDnsSupport")
    req = encode(client.host, params)
    t0 = time.perf_counter()
    status, body = client.send_raw(req)
    dt = time.perf_counter() - t0
    ok = status == 200
    if ok and rng.random() < sample:
        root = xml(body)
        if root.tag != f"{params['Action']}Response":
            raise Check(f"{params['Action']}: root {root.tag}")
        if kind == 0:
            got = {e.text for e in root.iter("vpcId")}
            if not set(vpc_ids) <= got:
                raise Check(f"DescribeVpcs misses {len(set(vpc_ids) - got)} VPCs")
        elif kind == 1:
            got = [e.text for e in root.iter("vpcId")]
            if got != [vpc]:
                raise Check(f"DescribeVpcs {vpc}: {got}")
        elif kind == 2:
            items = root.findall("tagSet/item")
            if [(i.findtext("resourceId"), i.findtext("key"))
                    for i in items] != [(vpc, "Name")]:
                raise Check(f"DescribeTags {vpc}: {ET.tostring(root)[:300]!r}")
        elif root.findtext("vpcId") != vpc or \
                root.findtext("enableDnsSupport/value") != "true":
            raise Check(f"DescribeVpcAttribute {vpc}: {ET.tostring(root)[:300]!r}")
    record(dt, ok, status, body)


def churn_worker(client, rng, _ids, sample, record):
    """CreateVpc + CreateTags + DeleteVpc (three requests)."""
    t0 = time.perf_counter()
    status, body = client.call(query("CreateVpc", CidrBlock="10.0.0.0/16"))
    record(time.perf_counter() - t0, status == 200, status, body)
    if status != 200:
        return
    vpc = VPC_ID.search(body).group(1).decode()
    t0 = time.perf_counter()
    status, body = client.call(query("CreateTags", **{"ResourceId.1": vpc, "Tag.1.Key": "k",
                                                      "Tag.1.Value": "v"}))
    record(time.perf_counter() - t0, status == 200, status, body)
    check = rng.random() < sample
    if check and status == 200:
        status2, body2 = client.call(query("DescribeTags", **{
            "Filter.1.Name": "resource-id", "Filter.1.Value.1": vpc}))
        keys = [e.text for e in xml(body2).iter("key")]
        if status2 != 200 or keys != ["k"]:
            raise Check(f"tags of {vpc} after CreateTags: {status2} {keys}")
    t0 = time.perf_counter()
    status, body = client.call(query("DeleteVpc", VpcId=vpc))
    record(time.perf_counter() - t0, status == 200, status, body)
    if check and status == 200:
        status2, body2 = client.call(query("DescribeVpcs", **{"VpcId.1": vpc}))
        if status2 == 200:
            raise Check(f"{vpc} still described after DeleteVpc")


MIXES = {"describe": describe_worker, "churn": churn_worker}


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_mix(url, mix, vpc_ids, clients, duration, max_requests, sample, seed, server_pid):
    latencies = [[] for _ in range(clients)]
    failures = []
    count = [0]
    lock = threading.Lock()
    stop = threading.Event()
    start = threading.Barrier(clients + 1)

    def worker(i):
        client = Client(url)
        rng = random.Random(seed * 1000 + i)
        mine = latencies[i]

        def record(dt, ok, status, body):
            mine.append(dt)
            if not ok:
                with lock:
                    if len(failures) < 5:
                        failures.append(f"HTTP {status}: {body[:200]!r}")
                    else:
                        failures.append(None)
            with lock:
                count[0] += 1
                if count[0] >= max_requests:
                    stop.set()

        try:
            client.connect()
            start.wait()
            while not stop.is_set():
                MIXES[mix](client, rng, vpc_ids, sample, record)
        except Check as e:
            with lock:
                failures.append(f"check: {e}")
            stop.set()
        except Exception as e:  # noqa: BLE001 (a broken run is reported, not hidden)
            with lock:
                failures.append(f"{type(e).__name__}: {e}")
            stop.set()
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    client_cpu0, server_cpu0 = cpu_seconds(os.getpid()), cpu_seconds(server_pid)
    stop.wait(timeout=duration)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - t0
    client_cpu = cpu_seconds(os.getpid()) - client_cpu0
    server_cpu = cpu_seconds(server_pid) - server_cpu0
    all_lat = sorted(x for lat in latencies for x in lat)
    return {
        "requests": len(all_lat),
        "seconds": elapsed,
        "rps": len(all_lat) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(all_lat, 50) * 1000,
        "p99_ms": percentile(all_lat, 99) * 1000,
        "mean_ms": statistics.fmean(all_lat) * 1000 if all_lat else 0.0,
        # CPU used per wall-clock second (1.0 = one core busy): shows whether the client or
        # the server was the bottleneck on this machine.
        "client_cpu": client_cpu / elapsed if elapsed else 0.0,
        "server_cpu": server_cpu / elapsed if elapsed else 0.0,
        "failures": len(failures),
        "failure_samples": [f for f in failures if f][:5],
    }


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# --- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--privlink-bin", default=str(ROOT / "target" / "release" / "privlink"))
    ap.add_argument("--servers", default="privlink,moto")
    ap.add_argument("--mixes", default="describe,churn")
    ap.add_argument("--clients", type=int, default=8, help="concurrent connections")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per server and mix")
    ap.add_argument("--max-requests", type=int, default=200_000, help="cap per server and mix")
    ap.add_argument("--vpcs", type=int, default=50, help="VPCs the describe mix reads")
    ap.add_argument("--sample", type=float, default=0.02, help="share of responses verified")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if not 0 < args.duration <= 600 or not 0 < args.max_requests <= 10_000_000:
        ap.error("--duration must be in (0, 600] and --max-requests in (0, 1e7]")

    servers = args.servers.split(",")
    mixes = args.mixes.split(",")
    results = {}
    for name in servers:
        data_dir = tempfile.mkdtemp(prefix="privlink-bench-")
        if name == "privlink":
            if not os.path.exists(args.privlink_bin):
                sys.exit(f"{args.privlink_bin} not found: build it with "
                         "`cargo build --release -p privlink` (scripts/bench-api does)")
            server = privlink_server(args.privlink_bin, data_dir)
        elif name == "moto":
            server = moto_server()
        else:
            sys.exit(f"unknown server {name}")
        try:
            server.start()
            print(f"{name}: {server.url}", file=sys.stderr)
            vpc_ids = prepare(server.url, args.vpcs)
            for mix in mixes:
                print(f"  {mix}: {args.clients} clients, {args.duration:g}s ...",
                      file=sys.stderr)
                results[(name, mix)] = run_mix(server.url, mix, vpc_ids, args.clients,
                                               args.duration, args.max_requests, args.sample,
                                               args.seed, server.proc.pid)
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)

    print_table(results, servers, mixes, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{s}/{m}": r for (s, m), r in results.items()}, f, indent=2)
    if any(r["failures"] for r in results.values()):
        for (s, m), r in results.items():
            for f in r["failure_samples"]:
                print(f"FAILED {s}/{m}: {f}", file=sys.stderr)
        sys.exit(1)


def print_table(results, servers, mixes, args):
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"\nprivlink API bench, {when}: {args.clients} clients, {args.duration:g}s per run, "
          f"{args.vpcs} VPCs, {os.cpu_count()} CPUs, loopback\n")
    header = f"{'mix':<9} {'server':<9} {'requests':>9} {'req/s':>9} {'p50 ms':>8} " \
             f"{'p99 ms':>8} {'failed':>7} {'srv cpu':>8} {'cli cpu':>8}"
    print(header)
    print("-" * len(header))
    for mix in mixes:
        for s in servers:
            r = results.get((s, mix))
            if r:
                print(f"{mix:<9} {s:<9} {r['requests']:>9} {r['rps']:>9.0f} "
                      f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['failures']:>7} "
                      f"{r['server_cpu']:>8.2f} {r['client_cpu']:>8.2f}")
        a, b = results.get(("privlink", mix)), results.get(("moto", mix))
        if a and b and b["rps"] and a["p99_ms"]:
            print(f"{mix:<9} {'ratio':<9} {'':>9} {a['rps'] / b['rps']:>8.1f}x "
                  f"{'':>8} {b['p99_ms'] / a['p99_ms']:>7.1f}x   (privlink/moto req/s; "
                  f"moto/privlink p99)")
    print("srv cpu / cli cpu: cores busy in the server / the bench client during the run.\n")


if __name__ == "__main__":
    main()
