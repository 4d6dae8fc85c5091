#!/usr/bin/env python3
"""Data-plane benchmark: privlink's endpoint path against the kernel path and HAProxy, in one
run on one topology.

Starts a release `privlink serve` (with the network, so as root) on loopback with a temporary
data dir and builds, through the EC2/ELBv2 APIs (boto3):

  provider VPC 10.0.0.0/16   target instance (user data: `iperf3 -s`, an echo server)
                             client instance (the kernel path's client)
                             internal NLB, TCP target groups and listeners 5201, 7000
                             endpoint service (no acceptance), default group open to the VPC
  consumer VPC 10.0.0.0/16   client instance, interface endpoint (same CIDR as the provider)

and HAProxy (tcp mode, splice) on the same path: bound on the endpoint's address (other ports)
in the consumer VPC's router namespace, connecting from the NLB node's address in the provider
VPC's namespace. Every client runs inside an instance namespace (`ip netns exec`).

Measured, paths interleaved within each run: iperf3 throughput (1 and 8 streams), 1-byte
ping-pong latency, connections per second (sequential and concurrent), with the proxy's CPU per
GB; then time from CreateVpcEndpoint to the first byte through the new endpoint, and the cost
of many endpoints (wall time until all are available, daemon VmRSS per idle endpoint).

Prints one table and, with --json, writes the figures. Everything it made is removed at the end
(`privlink destroy`), also on failure or Ctrl-C. See bench/README.md.
"""

import argparse
import concurrent.futures
import json
import math
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config
import botocore.exceptions

from benchlib import compilers_running, cpu_seconds, log, ratio, run_meta, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[1]
REGION = "us-east-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"
AMI = "ami-12345678"
CIDR = "10.0.0.0/16"
SUBNET = "10.0.1.0/24"
IPERF_PORT, ECHO_PORT = 5201, 7000
# HAProxy listens on the endpoint's address too, on these ports.
HA_IPERF_PORT, HA_ECHO_PORT = 15201, 17000
BENCH_PORTS = (IPERF_PORT, ECHO_PORT, HA_IPERF_PORT, HA_ECHO_PORT)
ENDPOINTS_PER_VPC = 50  # AWS's (and privlink's) default quota
PATHS = ("kernel", "privlink", "haproxy")
CONN_CHUNKS = 5  # each conn/s test, in turns over the paths


def prefix_of(data_dir):
    """netns::Prefix::from_data_dir: `pl` + 6 hex digits of FNV-1a of the canonical path."""
    h = 0xCBF29CE484222325
    for b in os.fsencode(os.path.realpath(data_dir)):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"pl{h & 0xFFFFFF:06x}"


def namespaces(prefix):
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix + "-"))
    except FileNotFoundError:
        return []


def load():
    """Load average and the compilers running now: the noise next to the figures."""
    return {"loadavg_1m": round(os.getloadavg()[0], 2), "compilers": compilers_running()}


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Bench:
    def __init__(self, args):
        self.args = args
        self.data_dir = args.data_dir or tempfile.mkdtemp(prefix="privlink-bench-")
        self.prefix = prefix_of(self.data_dir)
        self.daemon = None
        self.haproxy = None
        self.procs = []  # long-running helpers started in namespaces
        self.url = None
        self.results = {"loads": []}

    # --- lifecycle -----------------------------------------------------------------------------

    def start_daemon(self):
        env = dict(os.environ, PRIVLINK_LOG=os.environ.get("PRIVLINK_LOG", "warn"))
        env["PRIVLINK_DATAPLANE_THREADS"] = str(self.args.workers)
        env.pop("PRIVLINK_NO_NETWORK", None)
        self.daemon_log = open(os.path.join(self.args.work_dir, "daemon.log"), "ab")
        self.daemon = subprocess.Popen(
            [self.args.privlink_bin, "serve", "--listen", "127.0.0.1:0",
             "--data-dir", self.data_dir, "--region", REGION],
            stdout=subprocess.PIPE, stderr=self.daemon_log, stdin=subprocess.DEVNULL, env=env)
        # For scripts/bench-dataplane, should this harness be killed outright.
        with open(os.path.join(self.args.work_dir, "privlink.pid"), "w") as f:
            f.write(f"{self.daemon.pid}\n")
        line = self.daemon.stdout.readline().decode()
        if "listening on " not in line:
            raise RuntimeError(f"privlink did not start: {line!r}; see {self.daemon_log.name}")
        self.url = line.split("listening on ", 1)[1].strip()
        log(f"privlink serving on {self.url}, data dir {self.data_dir}, prefix {self.prefix}")

    def client(self, service, account):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=account, aws_secret_access_key="dev",
                            config=botocore.config.Config(retries={"max_attempts": 3},
                                                          max_pool_connections=16))

    def cleanup(self):
        for p in self.procs + [self.haproxy]:
            if p and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if os.path.isdir(self.data_dir):
            r = subprocess.run([self.args.privlink_bin, "destroy", "--data-dir", self.data_dir],
                               capture_output=True, text=True)
            if r.returncode != 0:
                log(f"privlink destroy failed: {r.stderr.strip()}")
        left = namespaces(self.prefix)
        if left:
            log(f"namespaces left behind: {left}")
            return False
        return True

    # --- helpers -------------------------------------------------------------------------------

    def ns(self, resource_id):
        return f"{self.prefix}-{resource_id}"

    def run_in(self, ns, *argv, timeout=120):
        r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {ns} failed ({r.returncode}): "
                               f"{r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def tool(self, ns, *argv, timeout=300):
        return json.loads(self.run_in(ns, self.args.tool_bin, *argv, timeout=timeout))

    def listening(self, ns, port):
        out = self.run_in(ns, "ss", "-Hltn", f"sport = :{port}")
        return bool(out.strip())

    # --- topology ------------------------------------------------------------------------------

    def build(self):
        pec2, pelb = self.client("ec2", PROVIDER), self.client("elbv2", PROVIDER)
        cec2 = self.client("ec2", CONSUMER)
        self.pec2, self.pelb, self.cec2 = pec2, pelb, cec2

        pvpc = pec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
        psub = pec2.create_subnet(VpcId=pvpc, CidrBlock=SUBNET,
                                  AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        self.open_default_group(pec2, pvpc)
        user_data = ("#!/bin/sh\n"
                     f"iperf3 -s -p {IPERF_PORT} >/dev/null 2>&1 &\n"
                     f"exec {self.args.tool_bin} echo-server 0.0.0.0:{ECHO_PORT}\n")
        target = pec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=psub,
                                    UserData=user_data)["Instances"][0]
        pclient = pec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                     SubnetId=psub)["Instances"][0]
        self.target_id, self.target_ip = target["InstanceId"], target["PrivateIpAddress"]
        self.pclient_id = pclient["InstanceId"]

        lb = pelb.create_load_balancer(Name="bench", Type="network", Scheme="internal",
                                       Subnets=[psub])["LoadBalancers"][0]
        for port in (IPERF_PORT, ECHO_PORT):
            tg = pelb.create_target_group(
                Name=f"bench-{port}", Protocol="TCP", Port=port, VpcId=pvpc,
                TargetType="instance", HealthCheckIntervalSeconds=5,
                HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)["TargetGroups"][0]
            pelb.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                                  Targets=[{"Id": self.target_id}])
            pelb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP",
                                 Port=port, DefaultActions=[{"Type": "forward",
                                                             "TargetGroupArn": tg["TargetGroupArn"]}])
        nodes = [ni["PrivateIpAddress"] for ni in pec2.describe_network_interfaces(
            Filters=[{"Name": "vpc-id", "Values": [pvpc]}])["NetworkInterfaces"]
            if ni.get("InterfaceType") == "network_load_balancer"]
        self.node_ip = nodes[0]
        svc = pec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[lb["LoadBalancerArn"]],
            AcceptanceRequired=False)["ServiceConfiguration"]
        pec2.modify_vpc_endpoint_service_permissions(
            ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
        self.service_name = svc["ServiceName"]

        cvpc = cec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
        csub = cec2.create_subnet(VpcId=cvpc, CidrBlock=SUBNET,
                                  AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        self.open_default_group(cec2, cvpc)
        cclient = cec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                     SubnetId=csub)["Instances"][0]
        self.cclient_id = cclient["InstanceId"]
        self.pvpc, self.cvpc, self.csub = pvpc, cvpc, csub
        ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                      ServiceName=self.service_name,
                                      SubnetIds=[csub])["VpcEndpoint"]
        self.ep_ip = self.endpoint_ip(ep)

        def running(ec2, iid):
            i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
            return i["State"]["Name"] == "running"

        for ec2, iid in ((pec2, self.target_id), (pec2, self.pclient_id),
                         (cec2, self.cclient_id)):
            wait_until(lambda: running(ec2, iid), 60, f"{iid} running", 0.2)
        wait_until(lambda: self.endpoint_state(ep["VpcEndpointId"]) == "available", 60,
                   "endpoint available", 0.1)
        for port in (IPERF_PORT, ECHO_PORT):
            wait_until(lambda: self.listening(self.ns(self.target_id), port), 30,
                       f"target listening on {port}", 0.2)
        # The clients close first, so their ports sit in TIME_WAIT for a minute; a load
        # generator reuses them (tens of thousands of connections per run to one address).
        for iid in (self.pclient_id, self.cclient_id):
            self.run_in(self.ns(iid), "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
        self.start_haproxy()
        log(f"topology: target {self.target_ip}, NLB node {self.node_ip}, "
            f"endpoint {self.ep_ip} (consumer VPC {cvpc}, provider VPC {pvpc})")

    def open_default_group(self, ec2, vpc):
        """What an AWS user must do: the default group admits only itself."""
        sg = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
        ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": CIDR}]}
            for p in BENCH_PORTS])

    def endpoint_ip(self, ep):
        eni = self.cec2.describe_network_interfaces(
            NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]
        return eni["PrivateIpAddress"]

    def endpoint_state(self, ep_id):
        try:
            eps = self.cec2.describe_vpc_endpoints(VpcEndpointIds=[ep_id])["VpcEndpoints"]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "InvalidVpcEndpointId.NotFound":
                return None
            raise
        return eps[0]["State"] if eps else None

    def start_haproxy(self):
        threads = self.args.haproxy_threads
        cons_ns, prov_ns = self.ns(self.cvpc), self.ns(self.pvpc)
        cfg = [
            "global",
            f"    nbthread {threads}",
            "    maxconn 4000",
            # The same pipe size as privlink's (F_SETPIPE_SZ 1 MiB).
            "    tune.pipesize 1048576",
            "defaults",
            "    mode tcp",
            "    option splice-request",
            "    option splice-response",
            "    timeout connect 5s",
            "    timeout client 350s",
            "    timeout server 350s",
        ]
        for name, front, back in (("iperf", HA_IPERF_PORT, IPERF_PORT),
                                  ("echo", HA_ECHO_PORT, ECHO_PORT)):
            cfg += [
                f"listen {name}",
                f"    bind {self.ep_ip}:{front} namespace {cons_ns}",
                f"    server t {self.target_ip}:{back} namespace {prov_ns} source {self.node_ip}",
            ]
        path = os.path.join(self.args.work_dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.haproxy_log = open(os.path.join(self.args.work_dir, "haproxy.log"), "ab")
        # Foreground (-db), so it is our child and killed by pid.
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", path], stdin=subprocess.DEVNULL,
                                        stdout=self.haproxy_log, stderr=self.haproxy_log)
        with open(os.path.join(self.args.work_dir, "haproxy.pid"), "w") as f:
            f.write(f"{self.haproxy.pid}\n")
        wait_until(lambda: self.haproxy.poll() is not None or self.listening(cons_ns, HA_ECHO_PORT),
                   10, "haproxy listening", 0.1)
        if self.haproxy.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.haproxy.returncode}; "
                               f"see {self.haproxy_log.name}")

    # --- paths ---------------------------------------------------------------------------------

    def path(self, name):
        """(client namespace, address, iperf port, echo port, proxy pid) of a path."""
        if name == "kernel":
            return self.ns(self.pclient_id), self.target_ip, IPERF_PORT, ECHO_PORT, None
        if name == "privlink":
            return (self.ns(self.cclient_id), self.ep_ip, IPERF_PORT, ECHO_PORT,
                    self.daemon.pid)
        return (self.ns(self.cclient_id), self.ep_ip, HA_IPERF_PORT, HA_ECHO_PORT,
                self.haproxy.pid)

    def iperf(self, name, streams):
        ns, ip, port, _, pid = self.path(name)
        argv = ["iperf3", "-c", ip, "-p", str(port), "-t", str(self.args.duration), "-J",
                "-P", str(streams)]
        for attempt in range(3):
            cpu0 = cpu_seconds(pid) if pid else 0.0
            r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                               text=True, timeout=self.args.duration + 60)
            cpu = (cpu_seconds(pid) - cpu0) if pid else None
            try:
                out = json.loads(r.stdout)
            except json.JSONDecodeError:
                out = {"error": r.stderr.strip() or r.stdout.strip()}
            if "error" not in out:
                recv = out["end"]["sum_received"]
                gbytes = recv["bytes"] / 1e9
                return {"gbps": recv["bits_per_second"] / 1e9,
                        "cpu_s_per_gb": round(cpu / gbytes, 3) if cpu is not None else None}
            # The server still finishing a previous test answers "busy": try again.
            log(f"iperf3 {name} -P {streams}: {out['error']}; retrying")
            time.sleep(1 + attempt)
        raise RuntimeError(f"iperf3 on the {name} path failed: {out['error']}")

    def perf(self, path, what):
        """`perf record -g` of the proxy process of `path` until SIGINT (--perf)."""
        pid = self.path(path)[4]
        out = os.path.join(self.args.work_dir, f"perf-{path}-{what}.data")
        p = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(pid), "-o", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(0.5)
        log(f"perf: recording {path} ({what}) into {out}")
        return p

    def measure_paths(self):
        """Every figure of the three paths back to back (the order rotating per run), so that
        the load of the moment falls on all of them alike; medians over the runs."""
        a = self.args
        raw = {p: {"tput1": [], "tput8": [], "cpu1": [], "cpu8": [], "lat": [], "seq": [],
                   "conc": []} for p in PATHS}
        for run in range(a.runs):
            self.results["loads"].append({"phase": f"paths run {run + 1}", **load()})
            order = PATHS[run % 3:] + PATHS[:run % 3]
            for streams in (1, 8):
                for p in order:
                    r = self.iperf(p, streams)
                    raw[p][f"tput{streams}"].append(r["gbps"])
                    if r["cpu_s_per_gb"] is not None:
                        raw[p][f"cpu{streams}"].append(r["cpu_s_per_gb"])
            perf = {p: self.perf(p, "latency") for p in order
                    if p in a.perf.split(",") and p != "kernel"}
            for p in order:
                ns, ip, _, eport, _ = self.path(p)
                raw[p]["lat"].append(self.tool(ns, "pingpong", f"{ip}:{eport}", str(a.samples)))
            # Connection rates swing with every burst of load, so each test is cut into
            # chunks taken in turn on the three paths.
            for key, clients in (("seq", 1), ("conc", a.clients)):
                chunks = {p: [] for p in PATHS}
                per_chunk = max(1, a.conns // CONN_CHUNKS)
                for _ in range(CONN_CHUNKS):
                    for p in order:
                        ns, ip, _, eport, _ = self.path(p)
                        r = self.tool(ns, "connrate", f"{ip}:{eport}", str(per_chunk),
                                      str(clients))
                        if r.get("failed"):
                            raise RuntimeError(f"{p}: {r['failed']} connections failed")
                        chunks[p].append(r)
                for p in PATHS:
                    conns = sum(c["conns"] for c in chunks[p])
                    secs = sum(c["secs"] for c in chunks[p])
                    raw[p][key].append({"conns": conns, "secs": round(secs, 3),
                                        "per_sec": round(conns / secs),
                                        "chunks": [c["per_sec"] for c in chunks[p]]})
            for proc in perf.values():
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
            for p in PATHS:
                log(f"run {run + 1}/{a.runs} {p}: {raw[p]['tput1'][-1]:.1f} / "
                    f"{raw[p]['tput8'][-1]:.1f} Gbit/s, rtt p50 {raw[p]['lat'][-1]['p50_us']} us, "
                    f"{raw[p]['seq'][-1]['per_sec']} / {raw[p]['conc'][-1]['per_sec']} conn/s")
        med = statistics.median
        figures = {}
        for p in PATHS:
            r = raw[p]
            figures[p] = {
                "tput_1_gbps": round(med(r["tput1"]), 2),
                "tput_8_gbps": round(med(r["tput8"]), 2),
                "cpu_s_per_gb_1": round(med(r["cpu1"]), 3) if r["cpu1"] else None,
                "cpu_s_per_gb_8": round(med(r["cpu8"]), 3) if r["cpu8"] else None,
                "rtt_p50_us": round(med(x["p50_us"] for x in r["lat"]), 1),
                "rtt_p99_us": round(med(x["p99_us"] for x in r["lat"]), 1),
                "conn_s_seq": round(med(x["per_sec"] for x in r["seq"])),
                "conn_s_conc": round(med(x["per_sec"] for x in r["conc"])),
                "runs": r,
            }
        self.results["paths"] = figures

    # --- endpoint readiness --------------------------------------------------------------------

    def measure_readiness(self):
        n = self.args.ready
        ns = self.ns(self.cclient_id)
        self.results["loads"].append({"phase": "readiness", **load()})
        # ARP in the client's namespace retries every 5 ms, not every second: the poller's
        # first SYN usually precedes the endpoint's address, and Linux's 1 s ARP retry would be
        # measured instead of privlink (in a VPC the hypervisor answers ARP at once).
        self.run_in(ns, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=5")
        poller = subprocess.Popen(["ip", "netns", "exec", ns, self.args.tool_bin, "ready"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(poller)
        times = []
        for i in range(n):
            t0 = time.monotonic()
            ep = self.cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=self.cvpc,
                                               ServiceName=self.service_name,
                                               SubnetIds=[self.csub])["VpcEndpoint"]
            ip = self.endpoint_ip(ep)
            t1 = time.monotonic()
            poller.stdin.write(f"{ip}:{ECHO_PORT}\n")
            poller.stdin.flush()
            answer = poller.stdout.readline().strip()
            if not answer.isdigit():
                raise RuntimeError(f"endpoint {ep['VpcEndpointId']} never carried a byte: "
                                   f"{answer!r}")
            ms = (t1 - t0) * 1e3 + int(answer) / 1e3
            times.append(ms)
            self.cec2.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
            wait_until(lambda: self.endpoint_state(ep["VpcEndpointId"]) in (None, "deleted"),
                       30, "endpoint deleted", 0.05)
        poller.stdin.close()
        poller.wait(timeout=10)
        times.sort()
        self.results["ready"] = {
            "endpoints": n,
            "p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(times[min(n - 1, math.ceil(0.99 * n) - 1)], 1),
            "max_ms": round(times[-1], 1),
            "samples_ms": [round(t, 1) for t in times],
        }
        log(f"readiness: p50 {self.results['ready']['p50_ms']} ms, "
            f"p99 {self.results['ready']['p99_ms']} ms")

    # --- scale ---------------------------------------------------------------------------------

    def measure_scale(self):
        n = self.args.endpoints
        vpcs = math.ceil(n / ENDPOINTS_PER_VPC)
        cec2 = self.cec2
        self.results["loads"].append({"phase": "scale", **load()})
        subnets = []
        for _ in range(vpcs):
            vpc = cec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
            sub = cec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET,
                                     AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
            subnets.append((vpc, sub))
        wait_until(lambda: all(os.path.exists(f"/run/netns/{self.ns(v)}") for v, _ in subnets),
                   120, "the scale VPCs' namespaces", 0.2)
        time.sleep(self.args.settle)
        rss0 = vm_rss_kib(self.daemon.pid)
        log(f"scale: {vpcs} VPCs ready, daemon VmRSS {rss0} KiB; creating {n} endpoints")

        jobs = [subnets[i // ENDPOINTS_PER_VPC] for i in range(n)]

        def create(job):
            vpc, sub = job
            return cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc,
                                            ServiceName=self.service_name,
                                            SubnetIds=[sub])["VpcEndpoint"]["VpcEndpointId"]

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.args.api_clients) as pool:
            ids = set(pool.map(create, jobs))
        t_created = time.monotonic() - t0

        def available():
            count = 0
            for page in cec2.get_paginator("describe_vpc_endpoints").paginate(
                    Filters=[{"Name": "vpc-endpoint-state", "Values": ["available"]}]):
                count += sum(1 for e in page["VpcEndpoints"] if e["VpcEndpointId"] in ids)
            return count == n

        wait_until(available, 900, f"{n} endpoints available", 0.25)
        t_all = time.monotonic() - t0
        time.sleep(self.args.settle)
        rss1 = vm_rss_kib(self.daemon.pid)
        self.results["scale"] = {
            "endpoints": n,
            "vpcs": vpcs,
            "listeners_per_endpoint": 2,
            "api_seconds": round(t_created, 2),
            "all_available_seconds": round(t_all, 2),
            "rss_before_kib": rss0,
            "rss_after_kib": rss1,
            "kib_per_endpoint": round((rss1 - rss0) / n, 1),
        }
        log(f"scale: {n} endpoints available after {t_all:.1f} s "
            f"(API calls {t_created:.1f} s); VmRSS {rss0} -> {rss1} KiB")


# --- report -----------------------------------------------------------------------------------

GOALS = [
    # (figure, ratio key, threshold, description)
    ("tput_1_gbps", "kernel", 0.8, "1-stream throughput >= 0.8x kernel"),
    ("tput_8_gbps", "kernel", 0.8, "8-stream throughput >= 0.8x kernel"),
    ("tput_1_gbps", "haproxy", 1.0, "1-stream throughput >= 1.0x HAProxy"),
    ("tput_8_gbps", "haproxy", 1.0, "8-stream throughput >= 1.0x HAProxy"),
    ("conn_s_seq", "haproxy", 1.0, "sequential conn/s >= HAProxy"),
    ("conn_s_conc", "haproxy", 1.0, "concurrent conn/s >= HAProxy"),
]

ROWS = [
    ("tput_1_gbps", "throughput, 1 stream", "Gbit/s", True),
    ("tput_8_gbps", "throughput, 8 streams", "Gbit/s", True),
    ("cpu_s_per_gb_1", "proxy CPU, 1 stream", "s/GB", False),
    ("cpu_s_per_gb_8", "proxy CPU, 8 streams", "s/GB", False),
    ("rtt_p50_us", "1-byte RTT p50", "us", False),
    ("rtt_p99_us", "1-byte RTT p99", "us", False),
    ("conn_s_seq", "conn/s, 1 client", "conn/s", True),
    ("conn_s_conc", "conn/s, N clients", "conn/s", True),
]


def report(results, args):
    lines = []
    meta = results["meta"]
    lines.append(f"\nprivlink data-plane bench, {meta['date']}, {meta['machine']}; "
                 f"runs {args.runs} x {args.duration}s iperf3, {args.samples} RTT samples, "
                 f"{args.conns} conns ({args.clients} clients for N), privlink data-plane threads "
                 f"{args.workers}, HAProxy nbthread {args.haproxy_threads}")
    lines.append("load: " + ", ".join(f"{l['phase']} {l['loadavg_1m']} ({l['compilers']} "
                                      f"compilers)" for l in results["loads"]))
    ratios = {}
    if "paths" in results:
        f = results["paths"]
        lines.append("")
        lines.append(f"{'figure':<24} {'unit':>7} {'kernel':>9} {'privlink':>9} "
                     f"{'haproxy':>9} {'pl/kern':>8} {'pl/hap':>8}")
        lines.append("-" * 80)
        for key, label, unit, _higher in ROWS:
            k, p, h = (f[x][key] for x in PATHS)
            rk, rh = ratio(p, k), ratio(p, h)
            ratios[key] = {"privlink/kernel": rk, "privlink/haproxy": rh}

            def cell(v):
                return f"{v:>9}" if v is not None else f"{'-':>9}"

            def rcell(v):
                return f"{v:>7}x" if v is not None else f"{'-':>8}"
            lines.append(f"{label:<24} {unit:>7} {cell(k)} {cell(p)} {cell(h)} "
                         f"{rcell(rk)} {rcell(rh)}")
    if "ready" in results:
        r = results["ready"]
        lines.append(f"\nCreateVpcEndpoint -> first byte ({r['endpoints']} endpoints): "
                     f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms")
    if "scale" in results:
        s = results["scale"]
        lines.append(f"{s['endpoints']} endpoints ({s['vpcs']} VPCs, {s['listeners_per_endpoint']} "
                     f"listeners each): all available after {s['all_available_seconds']} s "
                     f"(API calls {s['api_seconds']} s); daemon VmRSS {s['rss_before_kib']} -> "
                     f"{s['rss_after_kib']} KiB = {s['kib_per_endpoint']} KiB per endpoint")
    goals = []
    if "paths" in results:
        for key, base, threshold, desc in GOALS:
            v = ratios[key][f"privlink/{base}"]
            goals.append({"goal": desc, "value": v, "met": v is not None and v >= threshold})
    if "ready" in results:
        v = results["ready"]["p50_ms"]
        goals.append({"goal": "endpoint ready p50 < 200 ms", "value": v, "met": v < 200})
    if "scale" in results:
        v = results["scale"]["kib_per_endpoint"]
        goals.append({"goal": "< 100 KiB daemon memory per idle endpoint", "value": v,
                      "met": v < 100})
    lines.append("\ngoals:")
    for g in goals:
        lines.append(f"  [{'met' if g['met'] else 'MISSED'}] {g['goal']}: {g['value']}")
    results["ratios"] = ratios
    results["goals"] = goals
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    ap.add_argument("--privlink-bin", default=str(target / "privlink"))
    ap.add_argument("--tool-bin", default=str(target / "privlink-bench"))
    ap.add_argument("--work-dir", help="logs and HAProxy's config (default: a temp dir)")
    ap.add_argument("--data-dir", help="the daemon's data dir (default: a temp dir; destroyed)")
    ap.add_argument("--runs", type=int, default=5, help="runs per path (median reported)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per iperf3 test")
    ap.add_argument("--samples", type=int, default=20000, help="ping-pong round trips")
    ap.add_argument("--conns", type=int, default=3000, help="connections per conn/s test")
    ap.add_argument("--clients", type=int, default=4, help="clients of the concurrent test")
    ap.add_argument("--ready", type=int, default=20, help="endpoints timed to the first byte")
    ap.add_argument("--endpoints", type=int, default=1000, help="endpoints of the scale test")
    ap.add_argument("--api-clients", type=int, default=4, help="API threads creating them")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds before reading the daemon's memory")
    ap.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 2) // 2),
                    help="privlink's data-plane threads (--dataplane-threads; default: the "
                    "daemon's, half the CPUs, at least 2)")
    ap.add_argument("--haproxy-threads", type=int, default=0,
                    help="HAProxy nbthread (default: privlink's data-plane threads)")
    ap.add_argument("--phases", default="paths,ready,scale")
    ap.add_argument("--perf", default="", help="paths whose proxy to profile with perf during "
                    "the latency and conn/s tests (privlink,haproxy); data in --work-dir")
    ap.add_argument("--quick", action="store_true",
                    help="1 run of 2 s, 5000 samples, 1000 conns, 5 ready, 200 endpoints")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.duration, args.samples, args.conns = 1, 2, 5000, 1000
        args.ready, args.endpoints = 5, 200
    args.haproxy_threads = args.haproxy_threads or args.workers
    if os.geteuid() != 0:
        sys.exit("the data-plane bench needs root (network namespaces)")
    for b in (args.privlink_bin, args.tool_bin):
        if not os.path.exists(b):
            sys.exit(f"{b} not found: build with `cargo build --release -p privlink "
                     "-p privlink-bench` (scripts/bench-dataplane does)")
    if args.work_dir is None:
        args.work_dir = tempfile.mkdtemp(prefix="privlink-dpbench-")
    phases = args.phases.split(",")

    # SIGTERM ends the run like Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    results = bench.results
    results["meta"] = run_meta(args)
    ok = False
    try:
        bench.start_daemon()
        bench.build()
        if "paths" in phases:
            bench.measure_paths()
        if "ready" in phases:
            bench.measure_readiness()
        if "scale" in phases:
            bench.measure_scale()
        ok = True
    finally:
        clean = bench.cleanup()
        log("cleaned up" if clean else "cleanup incomplete")
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(0 if ok and clean else 1)


if __name__ == "__main__":
    main()
