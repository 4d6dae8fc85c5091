#!/usr/bin/env python3
"""DNS benchmark: privlink's resolver against dnsmasq and unbound, side by side on loopback, in
one run.

Starts, all on 127.0.0.1 with free ports:

  upstream   dnsmasq answering for `fwd.test` (FWD_NAMES A records, TTL 3600): the one
             forwarding target of the three resolvers
  privlink   `serve --no-network --dns-listen … --dns-upstream <upstream>`, with N interface
             endpoints created through its API (boto3): their DnsEntries are the local names
  dnsmasq    the same local names -> the same addresses (addn-hosts), the rest forwarded to the
             upstream; cache on, no query logging
  unbound    the same (local-data), forward-zone "." to the upstream; cache on, verbosity 0

checks every local and every forwarded name on each resolver (the exact address set; this also
fills the caches), then runs `privlink-bench dnsload` (bench/tool) with the same query files on
each: throughput with OUTSTANDING queries in flight, then latency with one query at a time.
Each resolver is pinned to one CPU (the same for all) and the load client to another.

Prints one table and, with --json, writes the figures. Everything it started is stopped at the
end, also on failure or Ctrl-C. See bench/README.md.
"""

import argparse
import concurrent.futures
import ipaddress
import json
import math
import os
import pathlib
import random
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config

from benchlib import compilers_running, cpu_seconds, log, ratio, run_meta, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[1]
REGION = "us-east-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"
ENDPOINTS_PER_VPC = 50  # AWS's (and privlink's) default quota
FWD_ZONE = "fwd.test"
FWD_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544's benchmarking range
FWD_TTL = 3600  # longer than a whole run: forwarded answers stay cached throughout
LOCAL_TTL = 60  # privlink's TTL for its own names; the baselines are given the same
RESOLVERS = ("privlink", "dnsmasq", "unbound")
MIXES = {
    "local": "endpoint names only",
    "mix": "50% endpoint names, 50% forwarded names (cached)",
    "fwd": "forwarded names only (cached)",
}


def load():
    """Load averages and the compilers running now: the noise next to the figures."""
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "compilers": compilers_running()}


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def free_port(taken):
    """A port free for both UDP and TCP on 127.0.0.1 (DNS servers bind both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            if port in taken:
                continue
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free port on 127.0.0.1")


# --- a minimal DNS client, for the correctness check ------------------------------------------


def dns_query(name, qid):
    labels = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split("."))
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(
        ">HH", 1, 1)


def skip_name(msg, pos):
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            return pos + 2
        if n == 0:
            return pos + 1
        pos += 1 + n


def parse_answer(msg, qid):
    """(rcode, sorted A addresses, smallest A TTL) of an answer to query `qid`."""
    mid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if mid != qid or not flags & 0x8000:
        raise ValueError(f"not an answer to query {qid}")
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    addrs, ttls = [], []
    for _ in range(an):
        pos = skip_name(msg, pos)
        rtype, _, ttl, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[pos:pos + 4]))
            ttls.append(ttl)
        pos += rdlen
    return flags & 0xF, sorted(addrs), min(ttls) if ttls else None


def resolve(port, name, timeout=2.0, tries=3):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        s.settimeout(timeout)
        for attempt in range(tries):
            qid = random.randrange(65536)
            s.send(dns_query(name, qid))
            try:
                while True:
                    msg = s.recv(4096)
                    try:
                        return parse_answer(msg, qid)
                    except ValueError:
                        continue  # a late answer to an earlier try
            except (socket.timeout, ConnectionRefusedError):
                if attempt == tries - 1:
                    raise
    raise AssertionError("unreachable")


# --- the bench --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work_dir
        self.data_dir = args.data_dir or tempfile.mkdtemp(prefix="privlink-dnsbench-")
        self.procs = {}  # name -> Popen: the servers
        self.perfs = []  # perf record processes (--perf)
        self.ports = {}
        self.results = {"loads": []}

    def pinned(self, cpu):
        """Runs in the child before exec: pins it to `cpu` (None: not pinned)."""
        if cpu is None:
            return None
        return lambda: os.sched_setaffinity(0, {cpu})

    def spawn(self, name, argv, cpu=None, env=None, stdout=subprocess.DEVNULL):
        logf = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=logf,
                             env=env, preexec_fn=self.pinned(cpu))
        logf.close()
        self.procs[name] = p
        # For scripts/bench-dns, should this harness be killed outright.
        with open(os.path.join(self.work, f"{name}.pid"), "w") as f:
            f.write(f"{p.pid}\n")
        return p

    def cleanup(self):
        for p in self.perfs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log(f"{name} ignored SIGTERM; killing it")
                    p.kill()
                    p.wait()
        if os.path.isdir(self.data_dir):
            r = subprocess.run([self.args.privlink_bin, "destroy", "--data-dir", self.data_dir],
                               capture_output=True, text=True)
            if r.returncode != 0:
                log(f"privlink destroy failed: {r.stderr.strip()}")
                return False
        # `destroy` leaves a dir that holds no privlink state (the daemon never started).
        if self.args.data_dir is None and os.path.isdir(self.data_dir) \
                and not os.listdir(self.data_dir):
            os.rmdir(self.data_dir)
        return True

    def check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}; see "
                                   f"{os.path.join(self.work, name + '.log')}")

    # --- servers -------------------------------------------------------------------------------

    def start_upstream(self):
        a = self.args
        self.fwd = {}
        hosts = []
        for i in range(a.fwd_names):
            name = f"h{i:04d}.{FWD_ZONE}"
            ip = str(FWD_NET[i + 1])
            self.fwd[name] = [ip]
            hosts.append(f"{ip} {name}")
        port = self.ports["upstream"] = free_port(set(self.ports.values()))
        hosts_file = self.write("upstream.hosts", hosts)
        conf = self.write("upstream.conf", [
            f"port={port}", "listen-address=127.0.0.1", "bind-interfaces",
            "no-resolv", "no-hosts", f"addn-hosts={hosts_file}",
            # Authoritative for the zone: unknown names are NXDOMAIN, never forwarded.
            f"local=/{FWD_ZONE}/", f"local-ttl={FWD_TTL}", "cache-size=0",
            # Root, as started: the hosts file is in a private temp dir.
            "user=root", "pid-file=", f"log-facility={self.work}/upstream.log",
        ])
        # On the client's CPU, away from the resolvers': it is busy only while they fill
        # their caches, before any measurement.
        self.spawn("upstream", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"],
                   cpu=a.client_cpu)
        self.wait_answering("upstream", next(iter(self.fwd)))

    def start_privlink(self):
        a = self.args
        env = dict(os.environ, PRIVLINK_LOG=os.environ.get("PRIVLINK_LOG", "warn"))
        env.pop("PRIVLINK_NO_NETWORK", None)
        argv = [a.privlink_bin, "serve", "--no-network", "--listen", "127.0.0.1:0",
                "--data-dir", self.data_dir, "--region", REGION]
        if "privlink" in a.resolvers:
            self.ports["privlink"] = free_port(set(self.ports.values()))
            argv += ["--dns-listen", f"127.0.0.1:{self.ports['privlink']}",
                     "--dns-upstream", f"127.0.0.1:{self.ports['upstream']}"]
        p = self.spawn("privlink", argv, cpu=a.server_cpu, env=env, stdout=subprocess.PIPE)
        line = p.stdout.readline().decode()
        if "listening on " not in line:
            raise RuntimeError(f"privlink did not start: {line!r}; see {self.work}/privlink.log")
        self.url = line.split("listening on ", 1)[1].strip()
        log(f"privlink API on {self.url}, DNS on {self.ports.get('privlink', '-')}, "
            f"data dir {self.data_dir}")

    def start_dnsmasq(self):
        port = self.ports["dnsmasq"] = free_port(set(self.ports.values()))
        hosts = [f"{ip} {name}" for name, ips in self.local.items() for ip in ips]
        hosts_file = self.write("dnsmasq.hosts", hosts)
        conf = self.write("dnsmasq.conf", [
            f"port={port}", "listen-address=127.0.0.1", "bind-interfaces",
            "no-resolv", "no-hosts", f"addn-hosts={hosts_file}", f"local-ttl={LOCAL_TTL}",
            f"server=127.0.0.1#{self.ports['upstream']}",
            "cache-size=10000",  # dnsmasq's largest; the default of 150 would not hold them
            "user=root", "pid-file=", f"log-facility={self.work}/dnsmasq.log",
        ])
        self.spawn("dnsmasq", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"],
                   cpu=self.args.server_cpu)

    def start_unbound(self):
        port = self.ports["unbound"] = free_port(set(self.ports.values()))
        lines = [
            "server:",
            f"    interface: 127.0.0.1@{port}",
            f"    port: {port}",
            "    num-threads: 1",  # one CPU, like the others
            "    so-reuseport: no",
            "    do-ip6: no",
            "    access-control: 127.0.0.0/8 allow",
            "    do-not-query-localhost: no",  # the upstream is on 127.0.0.1
            "    do-daemonize: no",
            "    use-systemd: no",
            '    chroot: ""',
            '    username: ""',
            f'    directory: "{self.work}"',
            '    pidfile: ""',
            "    use-syslog: no",
            f'    logfile: "{self.work}/unbound.log"',
            "    verbosity: 0",
            "    log-queries: no",
            "    log-replies: no",
            '    module-config: "iterator"',  # no DNSSEC validation (nor do the others)
            "    qname-minimisation: no",
            "    prefetch: no",
            # unbound answers `test.` itself by default (RFC 6761's special-use names).
            f'    local-zone: "{FWD_ZONE.rsplit(".", 1)[-1]}." nodefault',
        ]
        lines += [f'    local-data: "{name}. {LOCAL_TTL} IN A {ip}"'
                  for name, ips in self.local.items() for ip in ips]
        lines += ["forward-zone:", '    name: "."',
                  f"    forward-addr: 127.0.0.1@{self.ports['upstream']}"]
        conf = self.write("unbound.conf", lines)
        r = subprocess.run(["unbound-checkconf", conf], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"unbound-checkconf: {r.stdout.strip()} {r.stderr.strip()}")
        self.spawn("unbound", ["unbound", "-d", "-c", conf], cpu=self.args.server_cpu)

    def write(self, name, lines):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def wait_answering(self, name, probe, timeout=30):
        port = self.ports[name]

        def answers():
            self.check_alive()
            try:
                return resolve(port, probe, timeout=0.5, tries=1)[0] == 0
            except (OSError, ValueError):
                return False
        wait_until(answers, timeout, f"{name} answering on 127.0.0.1:{port}", 0.1)

    # --- endpoints -----------------------------------------------------------------------------

    def client(self, service, account):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=account, aws_secret_access_key="dev",
                            config=botocore.config.Config(retries={"max_attempts": 3},
                                                          max_pool_connections=16))

    def create_endpoints(self):
        """One provider NLB and endpoint service (no acceptance), N interface endpoints in
        consumer VPCs (50 each, AWS's quota; distinct CIDRs, so every address is distinct).
        Returns {local name: sorted addresses} from DnsEntries and the endpoints' ENIs."""
        n = self.args.endpoints
        pec2, pelb = self.client("ec2", PROVIDER), self.client("elbv2", PROVIDER)
        cec2 = self.client("ec2", CONSUMER)
        t0 = time.monotonic()
        pvpc = pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        psub = pec2.create_subnet(VpcId=pvpc, CidrBlock="10.0.1.0/24",
                                  AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        lb = pelb.create_load_balancer(Name="dnsbench", Type="network", Scheme="internal",
                                       Subnets=[psub])["LoadBalancers"][0]
        svc = pec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[lb["LoadBalancerArn"]],
            AcceptanceRequired=False)["ServiceConfiguration"]
        pec2.modify_vpc_endpoint_service_permissions(
            ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
        subnets = []
        for i in range(math.ceil(n / ENDPOINTS_PER_VPC)):
            vpc = cec2.create_vpc(CidrBlock=f"10.{i + 1}.0.0/16")["Vpc"]["VpcId"]
            sub = cec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{i + 1}.1.0/24",
                                     AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
            subnets.append((vpc, sub))

        def create(i):
            vpc, sub = subnets[i // ENDPOINTS_PER_VPC]
            return cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc,
                                            ServiceName=svc["ServiceName"],
                                            SubnetIds=[sub])["VpcEndpoint"]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            eps = list(pool.map(create, range(n)))
        enis = {}
        for page in cec2.get_paginator("describe_network_interfaces").paginate(
                Filters=[{"Name": "vpc-id", "Values": [v for v, _ in subnets]}]):
            for ni in page["NetworkInterfaces"]:
                enis[ni["NetworkInterfaceId"]] = (ni["AvailabilityZone"], ni["PrivateIpAddress"])
        local = {}
        for ep in eps:
            ifaces = [enis[i] for i in ep["NetworkInterfaceIds"]]
            for entry in ep["DnsEntries"]:
                name = entry["DnsName"]
                # The zonal name carries its zone in the first label; the regional name
                # stands for every zone's address.
                first = name.split(".", 1)[0]
                ips = [ip for zone, ip in ifaces if first.endswith(f"-{zone}")] or \
                    [ip for _, ip in ifaces]
                local[name] = sorted(ips)
        log(f"{n} endpoints in {len(subnets)} consumer VPCs, {len(local)} local names, "
            f"in {time.monotonic() - t0:.1f} s")
        return local

    # --- correctness ---------------------------------------------------------------------------

    def check(self, name):
        """Every local and forwarded name, on `name`: NOERROR and exactly the expected
        addresses (which also fills the resolver's cache with the forwarded names)."""
        port = self.ports[name]
        wrong = []
        ttls = {"local": set(), "fwd": set()}
        for kind, names in (("local", self.local), ("fwd", self.fwd)):
            for qname, want in names.items():
                rcode, got, ttl = resolve(port, qname)
                if rcode != 0 or got != want:
                    wrong.append(f"{qname}: rcode {rcode}, {got} (want {want})")
                elif ttl is not None:
                    ttls[kind].add(ttl)
        return wrong, {k: [min(v), max(v)] if v else None for k, v in ttls.items()}

    def check_all(self):
        self.results["ttls"] = {}
        for name in self.args.resolvers:
            # privlink learns its endpoints from the store: give it a moment to know them.
            deadline = time.monotonic() + 30
            while True:
                self.check_alive()
                wrong, ttls = self.check(name)
                if not wrong or name != "privlink" or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if wrong:
                raise RuntimeError(f"{name} answered {len(wrong)} of "
                                   f"{len(self.local) + len(self.fwd)} names wrongly, e.g. "
                                   + "; ".join(wrong[:3]))
            self.results["ttls"][name] = ttls
            log(f"{name}: all {len(self.local)} local and {len(self.fwd)} forwarded names "
                f"answered correctly (TTLs local {ttls['local']}, forwarded {ttls['fwd']})")

    # --- load ----------------------------------------------------------------------------------

    def query_files(self):
        rng = random.Random(7)
        local, fwd = list(self.local), list(self.fwd)
        half = min(len(local), len(fwd))
        sets = {"local": local, "fwd": fwd,
                "mix": rng.sample(local, half) + rng.sample(fwd, half)}
        self.files = {}
        for mix in self.args.mixes:
            names = list(sets[mix])
            rng.shuffle(names)
            self.files[mix] = self.write(f"queries-{mix}.txt", [f"{n} A" for n in names])

    def dnsload(self, resolver, mix, secs, outstanding):
        argv = [self.args.tool_bin, "dnsload", f"127.0.0.1:{self.ports[resolver]}",
                self.files[mix], str(secs), str(outstanding)]
        pid = self.procs[resolver].pid
        up = self.procs["upstream"].pid
        srv0, up0 = cpu_seconds(pid), cpu_seconds(up)
        cli0, t0 = children_cpu_seconds(), time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60,
                           preexec_fn=self.pinned(self.args.client_cpu))
        wall = time.monotonic() - t0
        if r.returncode != 0:
            self.check_alive()
            raise RuntimeError(f"dnsload against {resolver} failed: {r.stderr.strip()}")
        out = json.loads(r.stdout)
        srv = cpu_seconds(pid) - srv0
        out["srv_cpu"] = round(srv / wall, 2)
        # CPU per answer: unlike the rate, it holds when other work takes CPU from the resolver.
        out["srv_us_per_q"] = round(srv * 1e6 / max(out["good"], 1), 2)
        out["cli_cpu"] = round((children_cpu_seconds() - cli0) / wall, 2)
        # Near 0 once the resolver's cache holds every forwarded name.
        out["upstream_cpu"] = round((cpu_seconds(up) - up0) / wall, 2)
        return out

    def perf(self, resolver, mix):
        """`perf record -g` of a resolver during its first throughput test of `mix` (--perf)."""
        out = os.path.join(self.work, f"perf-{resolver}-{mix}.data")
        p = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(self.procs[resolver].pid),
                              "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.perfs.append(p)
        time.sleep(0.5)
        log(f"perf: recording {resolver} ({mix}) into {out}")
        return p

    def measure(self):
        a = self.args
        res = a.resolvers
        raw = {m: {r: {"tput": [], "lat": []} for r in res} for m in a.mixes}
        # Warm-up: the first queries pay for lazy allocations and cache inserts.
        for mix in a.mixes:
            for r in res:
                self.dnsload(r, mix, 0.5, a.outstanding)
        for run in range(a.runs):
            self.results["loads"].append({"phase": f"run {run + 1}", **load()})
            order = list(res[run % len(res):] + res[:run % len(res)])
            for mix in a.mixes:
                for r in order:
                    perf = self.perf(r, mix) if run == 0 and r in a.perf else None
                    raw[mix][r]["tput"].append(self.dnsload(r, mix, a.duration, a.outstanding))
                    if perf:
                        perf.send_signal(signal.SIGINT)
                        perf.wait(timeout=60)
                    raw[mix][r]["lat"].append(self.dnsload(r, mix, a.latency_duration, 1))
                log(f"run {run + 1}/{a.runs} {mix}: " + ", ".join(
                    f"{r} {raw[mix][r]['tput'][-1]['qps']} q/s, 1-query p99 "
                    f"{raw[mix][r]['lat'][-1]['p99_us']} us" for r in order))
        med = statistics.median
        figures = {}
        for mix in a.mixes:
            figures[mix] = {}
            for r in res:
                t, lat = raw[mix][r]["tput"], raw[mix][r]["lat"]
                every = t + lat
                figures[mix][r] = {
                    "qps": round(med(x["qps"] for x in t)),
                    "sat_p50_us": round(med(x["p50_us"] for x in t), 1),
                    "sat_p99_us": round(med(x["p99_us"] for x in t), 1),
                    "p50_us": round(med(x["p50_us"] for x in lat), 1),
                    "p99_us": round(med(x["p99_us"] for x in lat), 1),
                    "srv_cpu": round(med(x["srv_cpu"] for x in t), 2),
                    "srv_us_per_q": round(med(x["srv_us_per_q"] for x in t), 2),
                    "cli_cpu": round(med(x["cli_cpu"] for x in t), 2),
                    "upstream_cpu": round(max(x["upstream_cpu"] for x in t), 2),
                    "bad": sum(x["bad"] for x in every),
                    "lost": sum(x["lost"] for x in every),
                    "sent": sum(x["sent"] for x in every),
                    "runs": {"tput": t, "lat": lat},
                }
        self.results["figures"] = figures


# --- report -----------------------------------------------------------------------------------


def report(results, args):
    meta = results["meta"]
    lines = [f"\nprivlink DNS bench, {meta['date']}, {meta['machine']}",
             f"{meta['local_names']} local names ({args.endpoints} endpoints), "
             f"{meta['fwd_names']} forwarded names; {args.runs} runs x {args.duration} s with "
             f"{args.outstanding} queries in flight, then {args.latency_duration} s with 1; "
             + (f"resolvers on CPU {args.server_cpu}, client on CPU {args.client_cpu}"
                if args.server_cpu is not None else "not pinned")
             + "; threads " + ", ".join(f"{r} {n}" for r, n in meta["threads"].items()),
             "load (1/5/15 min): " + ", ".join(
                 f"{l['phase']} {'/'.join(str(x) for x in l['loadavg'])} ({l['compilers']} "
                 f"compilers)" for l in results["loads"])]
    figures = results.get("figures", {})
    res = args.resolvers
    goals = []
    if figures:
        lines.append("")
        lines.append(f"{'mix':<6} {'resolver':<13} {'qps':>8} {'cpu/q':>7} {'sat p50':>8} "
                     f"{'sat p99':>8} {'1q p50':>7} {'1q p99':>8} {'srv cpu':>7} {'cli cpu':>7} "
                     f"{'up cpu':>6} {'lost':>5} {'bad':>4}")
        lines.append(f"{'':<6} {'':<13} {'':>8} {'us':>7} {'us':>8} {'us':>8} {'us':>7} {'us':>8}")
        lines.append("-" * 106)
        for mix, per in figures.items():
            for r in res:
                f = per[r]
                lines.append(f"{mix:<6} {r:<13} {f['qps']:>8} {f['srv_us_per_q']:>7} "
                             f"{f['sat_p50_us']:>8} {f['sat_p99_us']:>8} {f['p50_us']:>7} "
                             f"{f['p99_us']:>8} {f['srv_cpu']:>7} {f['cli_cpu']:>7} "
                             f"{f['upstream_cpu']:>6} {f['lost']:>5} {f['bad']:>4}")
            if "privlink" in res:
                p = per["privlink"]
                for other in res:
                    if other == "privlink":
                        continue
                    o = per[other]
                    q = ratio(p["qps"], o["qps"])

                    def x(key, width=8):
                        return f"{str(ratio(p[key], o[key])) + 'x':>{width}}"
                    lines.append(f"{mix:<6} {'pl/' + other:<13} {x('qps')} "
                                 f"{x('srv_us_per_q', 7)} {x('sat_p50_us')} {x('sat_p99_us')} "
                                 f"{x('p50_us', 7)} {x('p99_us')} {x('srv_cpu', 7)}")
                    goals.append({"goal": f"{mix}: privlink qps >= 1.0x {other}", "value": q,
                                  "met": q is not None and q >= 1.0})
            lines.append("")
        if "privlink" in res and "local" in figures:
            v = figures["local"]["privlink"]["p99_us"]
            goals.append({"goal": "local names: privlink p99 < 1 ms (one query at a time)",
                          "value": f"{v} us", "met": v < 1000})
        for r in res:
            lost = sum(figures[m][r]["lost"] for m in figures)
            sent = sum(figures[m][r]["sent"] for m in figures)
            goals.append({"goal": f"{r}: no query lost", "value": f"{lost} of {sent}",
                          "met": lost == 0})
    if goals:
        lines.append("goals:")
        for g in goals:
            lines.append(f"  [{'met' if g['met'] else 'MISSED'}] {g['goal']}: {g['value']}")
    results["goals"] = goals
    print("\n".join(lines))


def privlink_has_dns(binary):
    r = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True)
    return "--dns-listen" in r.stdout and "--dns-upstream" in r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    ap.add_argument("--privlink-bin", default=str(target / "privlink"))
    ap.add_argument("--tool-bin", default=str(target / "privlink-bench"))
    ap.add_argument("--work-dir", help="configs, query files, logs (default: a temp dir)")
    ap.add_argument("--data-dir", help="the daemon's data dir (default: a temp dir; destroyed)")
    ap.add_argument("--endpoints", type=int, default=200,
                    help="interface endpoints; each gives a regional and a zonal name")
    ap.add_argument("--fwd-names", type=int, default=300, help="A records of the upstream zone")
    ap.add_argument("--runs", type=int, default=10, help="runs (medians reported)")
    ap.add_argument("--duration", type=float, default=1, help="seconds per throughput test")
    ap.add_argument("--latency-duration", type=float, default=0.5,
                    help="seconds per one-query-at-a-time latency test")
    ap.add_argument("--outstanding", type=int, default=64,
                    help="queries in flight in the throughput test")
    ap.add_argument("--mixes", default="local,mix,fwd", help=f"of {','.join(MIXES)}")
    ap.add_argument("--resolvers", default=",".join(RESOLVERS),
                    help="privlink needs a binary with --dns-listen; without privlink, the "
                    "daemon still makes the endpoints")
    ap.add_argument("--server-cpu", type=int, default=1, help="CPU of every resolver")
    ap.add_argument("--client-cpu", type=int, default=0, help="CPU of the load client")
    ap.add_argument("--no-pin", action="store_true", help="let the scheduler place everything")
    ap.add_argument("--quick", action="store_true",
                    help="1 run of 1 s (latency 0.5 s), 50 endpoints, 100 forwarded names")
    ap.add_argument("--perf", default="",
                    help="resolvers to record with `perf record -g` during their first "
                    "throughput test of each mix; data in --work-dir (kept)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    args.perf = [r for r in args.perf.split(",") if r]
    if args.quick:
        args.runs, args.duration, args.latency_duration = 1, 1, 0.5
        args.endpoints, args.fwd_names = 50, 100
    args.mixes = [m for m in args.mixes.split(",") if m]
    args.resolvers = tuple(r for r in args.resolvers.split(",") if r)
    for m in args.mixes:
        if m not in MIXES:
            sys.exit(f"unknown mix {m!r} (of {', '.join(MIXES)})")
    for r in args.resolvers:
        if r not in RESOLVERS:
            sys.exit(f"unknown resolver {r!r} (of {', '.join(RESOLVERS)})")
    if args.endpoints < 1 or args.fwd_names < 1 or args.fwd_names > 65000:
        sys.exit("--endpoints and --fwd-names must be positive (at most 65000 names)")
    cpus = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(cpus) < 2:
        args.server_cpu = args.client_cpu = None
    elif args.server_cpu not in cpus or args.client_cpu not in cpus \
            or args.server_cpu == args.client_cpu:
        sys.exit(f"--server-cpu and --client-cpu must be two different CPUs of {cpus}")
    for b in (args.privlink_bin, args.tool_bin):
        if not os.path.exists(b):
            sys.exit(f"{b} not found: build with `cargo build --release -p privlink "
                     "-p privlink-bench` (scripts/bench-dns does)")
    for b in ("dnsmasq", "unbound", "unbound-checkconf"):
        if not any(os.access(os.path.join(d, b), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin"]):
            sys.exit(f"{b} not found: apt-get install dnsmasq-base unbound "
                     "(scripts/bench-dns does)")
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
    if "privlink" in args.resolvers and not privlink_has_dns(args.privlink_bin):
        sys.exit(f"{args.privlink_bin} has no `serve --dns-listen`/`--dns-upstream`: build a "
                 "privlink with the DNS resolver, or leave it out with "
                 "--resolvers dnsmasq,unbound")
    own_work_dir = args.work_dir is None
    if own_work_dir:
        args.work_dir = tempfile.mkdtemp(prefix="privlink-dnsbench-")
    else:
        os.makedirs(args.work_dir, exist_ok=True)

    # SIGTERM ends the run like Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    results = bench.results
    results["meta"] = run_meta(args)
    ok = False
    try:
        bench.start_upstream()
        bench.start_privlink()
        bench.local = bench.create_endpoints()
        results["meta"]["local_names"] = len(bench.local)
        results["meta"]["fwd_names"] = len(bench.fwd)
        if "dnsmasq" in args.resolvers:
            bench.start_dnsmasq()
        if "unbound" in args.resolvers:
            bench.start_unbound()
        for r in args.resolvers:
            bench.wait_answering(r, next(iter(bench.fwd)))
        results["meta"]["threads"] = {r: threads(bench.procs[r].pid) for r in args.resolvers}
        bench.check_all()
        bench.query_files()
        bench.measure()
        ok = not any(f["bad"] for per in results["figures"].values() for f in per.values())
        if not ok:
            log("some answers were wrong (the `bad` column)")
    finally:
        clean = bench.cleanup()
        if own_work_dir and ok and clean and not args.perf:
            shutil.rmtree(args.work_dir, ignore_errors=True)
        elif own_work_dir:
            log(f"configs and logs kept in {args.work_dir}")
        log("cleaned up" if clean else "cleanup incomplete")
    if "figures" in results:
        report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(0 if ok and clean else 1)


if __name__ == "__main__":
    main()
