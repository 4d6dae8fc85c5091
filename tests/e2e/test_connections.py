"""Connection lifetime through an interface endpoint, as AWS behaves.

- A path that goes away resets its live connections (the client reads ECONNRESET, neither a
  hang nor a clean end of stream), on the node pass that follows the change: an endpoint's
  subnet removed, the endpoint rejected or deleted, a listener deleted, the load balancer
  deleted.
- New listeners and targets serve live endpoints without restarting anything.
- A target that turns unhealthy has its connections reset (unless
  `target_health_state.unhealthy.connection_termination.enabled` is false).
- A deregistered target drains for `deregistration_delay.timeout_seconds`: its connections
  carry on, it gets no new one; then it leaves DescribeTargetHealth, and its connections are
  closed only with `deregistration_delay.connection_termination.enabled`.
- The daemon killed (`kill -9`, SIGTERM) and started again serves the same endpoint within
  seconds; the instances keep running; nothing is left behind.

Servers run as the provider instances' user data: a TCP service on 8080 that greets each
connection with `hello <backend>` and then echoes, and an HTTP health check on 8081 that
answers 503 while `$HOME/sick` exists. Clients run in the consumer instance's namespace
(`ip netns exec`): a one-shot client reads the greeting; a held client keeps its connection
and says how it ended (RST, EOF). Needs root; without it the tests fail, they never skip.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import CONSUMER, PROVIDER, REGION, wait_until
from test_instances import init_pid, instance_dir, pid_alive
from test_network import namespaces, prefix_of
from test_traffic import daemon, needs_root, netns_exec, running  # noqa: F401

AMI = "ami-12345678"
INTERVAL = 5
THRESHOLD = 2
# Time to flip a health verdict: THRESHOLD checks, the first up to an interval away, plus slack
# for a loaded machine.
FLIP = INTERVAL * (THRESHOLD + 1) + 10
# A node pass follows every change; the reset it makes reaches the client at once.
RESET_DEADLINE = 10

SERVER = r"""
import http.server, os, socket, sys, threading
name, home = sys.argv[1], os.environ["HOME"]

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503 if os.path.exists(os.path.join(home, "sick")) else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

def echo(c):
    with c:
        try:
            c.sendall(f"hello {name}\n".encode())
            while data := c.recv(65536):
                c.sendall(data)
        except OSError:
            pass

def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(256)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()

threading.Thread(target=serve, args=(8080,), daemon=True).start()
http.server.ThreadingHTTPServer(("0.0.0.0", 8081), Health).serve_forever()
"""


def user_data(name):
    return f"#!/bin/sh\ncat > \"$HOME/server.py\" <<'EOF'\n{SERVER}\nEOF\n" \
           f"exec python3 \"$HOME/server.py\" {name}\n"


# One connection: prints the backend that greeted it, or ERR.
ONE = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    line = c.makefile("rb").readline().decode().split()
    print(line[1] if len(line) == 2 and line[0] == "hello" else "ERR " + repr(line))
except Exception as e:
    print("ERR", type(e).__name__, e)
"""

# A held connection. Prints `DATA <line>` for each line received, and how it ended: `RST`
# (ECONNRESET), `EOF` (a clean end of stream) or `ERR <error>`. Each line on stdin is sent.
HOLD = r"""
import os, select, socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
except Exception as e:
    print("ERR", type(e).__name__, e, flush=True)
    sys.exit()
s.settimeout(None)
buf = b""
while True:
    ready, _, _ = select.select([s, 0], [], [])
    try:
        if s in ready:
            data = s.recv(65536)
            if not data:
                print("EOF", flush=True)
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                print("DATA", line.decode(), flush=True)
        if 0 in ready:
            out = os.read(0, 65536)
            if not out:
                break
            s.sendall(out)
    except ConnectionResetError:
        print("RST", flush=True)
        break
    except OSError as e:
        print("ERR", type(e).__name__, e, flush=True)
        break
"""


class Held:
    """A client connection held open inside a namespace."""

    def __init__(self, ns, ip, port):
        self.where = f"{ip}:{port}"
        self.proc = subprocess.Popen(netns_exec(ns, sys.executable, "-c", HOLD, ip, str(port)),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.sent = 0
        first = self.next(10)
        assert first.startswith("DATA hello "), f"{self.where}: {first}"
        self.backend = first.split()[2]

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("GONE")

    def next(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "TIMEOUT"

    def alive(self):
        """Whether the connection still carries a message both ways."""
        self.sent += 1
        msg = f"ping {self.sent}"
        try:
            self.proc.stdin.write(msg + "\n")
            self.proc.stdin.flush()
        except OSError:
            return False
        return self.next(10) == f"DATA {msg}"

    def ended(self, timeout=RESET_DEADLINE):
        """How the connection ended (`RST`, `EOF`, `ERR …`), `TIMEOUT` if it is still open."""
        return self.next(timeout)

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stdin.close()


@pytest.fixture
def hold():
    """`hold(ns, ip, port)` → a Held connection; all are closed at the end."""
    made = []

    def make(ns, ip, port):
        h = Held(ns, ip, port)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def one(ns, ip, port):
    out = subprocess.run(netns_exec(ns, sys.executable, "-c", ONE, ip, str(port)),
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def health(elb, tg_arn):
    """{target id: state}."""
    out = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in out}


class Deployment:
    """Provider: a VPC with subnets in zones a and b, `backends` instances serving (user data)
    in zone a, an internal NLB in both zones, a target group (HTTP checks on 8081 every 5 s,
    thresholds 2) with the first `registered` backends, a TCP listener on 80, an endpoint
    service allowing the consumer. Consumer: a VPC with the same CIDR, subnets in zones a and
    b, a client instance in zone a."""

    def __init__(self, daemon, data_dir, backends=2, registered=None, acceptance=False,
                 tg_attributes=None):
        self.prefix = prefix_of(data_dir)
        self.data_dir = data_dir
        self.connect(daemon)
        pec2, pelb, cec2 = self.pec2, self.pelb, self.cec2

        self.pvpc = pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        psubs = [pec2.create_subnet(VpcId=self.pvpc, CidrBlock=f"10.0.{n}.0/24",
                                    AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
                 for n, z in ((1, "a"), (2, "b"))]
        # The NLB has no security group: its nodes reach the targets from the VPC's addresses.
        sg = pec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.pvpc]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        pec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081,
            "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
        self.backends = []
        for n in range(backends):
            i = pec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=psubs[0],
                                   UserData=user_data(f"backend{n}"))["Instances"][0]
            self.backends.append(i["InstanceId"])
        self.name = {iid: f"backend{n}" for n, iid in enumerate(self.backends)}

        self.lb_arn = pelb.create_load_balancer(
            Name="web", Type="network", Scheme="internal",
            Subnets=psubs)["LoadBalancers"][0]["LoadBalancerArn"]
        self.tg_arn = pelb.create_target_group(
            Name="web", Protocol="TCP", Port=8080, VpcId=self.pvpc, TargetType="instance",
            HealthCheckProtocol="HTTP", HealthCheckPort="8081", HealthCheckPath="/health",
            HealthCheckIntervalSeconds=INTERVAL, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=THRESHOLD, UnhealthyThresholdCount=THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
        if tg_attributes:
            pelb.modify_target_group_attributes(
                TargetGroupArn=self.tg_arn,
                Attributes=[{"Key": k, "Value": v} for k, v in tg_attributes.items()])
        first = self.backends[:len(self.backends) if registered is None else registered]
        pelb.register_targets(TargetGroupArn=self.tg_arn, Targets=[{"Id": i} for i in first])
        self.listeners = {80: self.listener(80)}
        self.node_ips = {ni["AvailabilityZone"]: ni["PrivateIpAddress"]
                         for ni in pec2.describe_network_interfaces(Filters=[
                             {"Name": "vpc-id", "Values": [self.pvpc]}])["NetworkInterfaces"]
                         if ni.get("InterfaceType") == "network_load_balancer"}

        svc = pec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[self.lb_arn],
            AcceptanceRequired=acceptance)["ServiceConfiguration"]
        self.service_id, self.service_name = svc["ServiceId"], svc["ServiceName"]
        pec2.modify_vpc_endpoint_service_permissions(
            ServiceId=self.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])

        self.cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.csubs = {z: cec2.create_subnet(VpcId=self.cvpc, CidrBlock=f"10.0.{n}.0/24",
                                            AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
                      for n, z in ((1, "a"), (2, "b"))}
        self.client = cec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                         SubnetId=self.csubs["a"])["Instances"][0]["InstanceId"]
        self.client_ns = f"{self.prefix}-{self.client}"
        for iid in self.backends:
            wait_until(lambda: running(pec2, iid), timeout=30, what=f"{iid} running")
        wait_until(lambda: running(cec2, self.client), timeout=30, what="client running")

    def connect(self, daemon):
        """API clients for `daemon` (again after a restart: it listens on a new port)."""
        self.pec2, self.pelb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
        self.cec2 = daemon.ec2(CONSUMER)

    def listener(self, port):
        return self.pelb.create_listener(
            LoadBalancerArn=self.lb_arn, Protocol="TCP", Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg_arn}],
        )["Listeners"][0]["ListenerArn"]

    def endpoint(self, zones=("a",)):
        """A new endpoint in the consumer VPC: its id and {zone: address}."""
        ep = self.cec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=self.cvpc, ServiceName=self.service_name,
            SubnetIds=[self.csubs[z] for z in zones])["VpcEndpoint"]
        enis = self.cec2.describe_network_interfaces(
            NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
        return ep["VpcEndpointId"], {e["AvailabilityZone"][-1]: e["PrivateIpAddress"]
                                     for e in enis}

    def endpoint_state(self, ep_id):
        eps = self.cec2.describe_vpc_endpoints(VpcEndpointIds=[ep_id])["VpcEndpoints"]
        return eps[0]["State"] if eps else None

    def wait_available(self, ep_id):
        wait_until(lambda: self.endpoint_state(ep_id) == "available", timeout=30,
                   what=f"{ep_id} available")

    def wait_healthy(self, *iids):
        wait_until(lambda: all(health(self.pelb, self.tg_arn).get(i) == "healthy"
                               for i in iids),
                   timeout=FLIP, interval=0.5, what=f"{iids} healthy")

    def set_sick(self, iid, sick):
        path = os.path.join(instance_dir(self.data_dir, iid), "home", "sick")
        if sick:
            open(path, "w").close()
        else:
            os.unlink(path)

    def tg_attribute(self, key, value):
        self.pelb.modify_target_group_attributes(
            TargetGroupArn=self.tg_arn, Attributes=[{"Key": key, "Value": value}])

    def one(self, ip, port=80):
        return one(self.client_ns, ip, port)

    def held_on(self, hold, iid, ip, port=80):
        """A held connection that landed on `iid` (others made meanwhile are closed)."""
        want = self.name[iid]
        for _ in range(40):
            h = hold(self.client_ns, ip, port)
            if h.backend == want:
                return h
            h.close()
        raise AssertionError(f"no connection reached {want}")


def test_a_path_that_goes_away_resets_its_connections(daemon, data_dir, hold):
    # A backend is also the NLB's direct client below: with client IP preservation (the
    # default for instance targets) a target cannot reach itself through its NLB (hairpin,
    # as on AWS), so this deployment's group does not preserve it.
    d = Deployment(daemon, data_dir, acceptance=True,
                   tg_attributes={"preserve_client_ip.enabled": "false"})
    d.listeners[81] = d.listener(81)
    # e1 in both zones, e2 in zone a; both accepted.
    e1, e1_ips = d.endpoint(zones=("a", "b"))
    e2, e2_ips = d.endpoint()
    assert d.endpoint_state(e1) == "pendingAcceptance"
    d.pec2.accept_vpc_endpoint_connections(ServiceId=d.service_id, VpcEndpointIds=[e1, e2])
    d.wait_available(e1)
    d.wait_available(e2)

    on_e1_a = hold(d.client_ns, e1_ips["a"], 80)
    on_e1_b = hold(d.client_ns, e1_ips["b"], 80)
    on_e2 = hold(d.client_ns, e2_ips["a"], 80)
    on_e2_81 = hold(d.client_ns, e2_ips["a"], 81)
    # Inside the provider VPC, straight to the NLB's node (from a backend's namespace).
    provider_ns = f"{d.prefix}-{d.backends[0]}"
    on_nlb = hold(provider_ns, d.node_ips[f"{REGION}a"], 80)
    everyone = [on_e1_a, on_e1_b, on_e2, on_e2_81, on_nlb]
    assert all(h.alive() for h in everyone)

    def step(change, goes, stays):
        started = time.monotonic()
        change()
        for h in goes:
            assert h.ended() == "RST", f"{h.where}: expected a reset"
        took = time.monotonic() - started
        print(f"{change.__name__}: reset after {took:.2f}s")
        for h in stays:
            assert h.alive(), f"{h.where} lost its connection"
        return took

    def remove_subnet_b():
        d.cec2.modify_vpc_endpoint(VpcEndpointId=e1, RemoveSubnetIds=[d.csubs["b"]])

    def reject_e1():
        d.pec2.reject_vpc_endpoint_connections(ServiceId=d.service_id, VpcEndpointIds=[e1])

    def delete_listener_81():
        d.pelb.delete_listener(ListenerArn=d.listeners[81])

    def delete_e2():
        d.cec2.delete_vpc_endpoints(VpcEndpointIds=[e2])

    def delete_service_and_nlb():
        d.pec2.delete_vpc_endpoint_service_configurations(ServiceIds=[d.service_id])

        def deleted():
            try:
                d.pelb.delete_load_balancer(LoadBalancerArn=d.lb_arn)
                return True
            except d.pelb.exceptions.ClientError as e:
                # The service is on its way out; the load balancer is free once it is gone.
                assert e.response["Error"]["Code"] == "ResourceInUse", e
                return False

        wait_until(deleted, timeout=10, interval=0.1, what="load balancer deleted")

    step(remove_subnet_b, goes=[on_e1_b], stays=[on_e1_a, on_e2, on_e2_81, on_nlb])
    assert one(d.client_ns, e1_ips["b"], 80).startswith("ERR")
    step(reject_e1, goes=[on_e1_a], stays=[on_e2, on_e2_81, on_nlb])
    assert d.endpoint_state(e1) == "rejected"
    assert one(d.client_ns, e1_ips["a"], 80).startswith("ERR")
    step(delete_listener_81, goes=[on_e2_81], stays=[on_e2, on_nlb])
    assert one(d.client_ns, e2_ips["a"], 81).startswith("ERR")
    step(delete_e2, goes=[on_e2], stays=[on_nlb])
    step(delete_service_and_nlb, goes=[on_nlb], stays=[])


def test_new_listeners_and_targets_serve_live_endpoints(daemon, data_dir, hold):
    d = Deployment(daemon, data_dir, registered=1)
    b0, b1 = d.backends
    d.wait_healthy(b0)
    ep, ips = d.endpoint()
    d.wait_available(ep)
    kept = hold(d.client_ns, ips["a"], 80)
    assert kept.backend == "backend0"

    # A listener on a new port: served on the endpoint's address at the next pass.
    d.listeners[8443] = d.listener(8443)
    started = time.monotonic()
    wait_until(lambda: d.one(ips["a"], 8443) == "backend0", timeout=10, interval=0.1,
               what="the new listener answers")
    print(f"new listener served after {time.monotonic() - started:.2f}s")

    # A new target: it gets new connections once it passes its checks.
    d.pelb.register_targets(TargetGroupArn=d.tg_arn, Targets=[{"Id": b1}])
    started = time.monotonic()
    wait_until(lambda: d.one(ips["a"]) == "backend1", timeout=FLIP, interval=0.2,
               what="the new target answers")
    print(f"new target served after {time.monotonic() - started:.2f}s")
    # (Healthy for the endpoint's node; the other zone's node may take a check longer.)
    d.wait_healthy(b0, b1)
    # Nothing was restarted on the way: the first connection is the same one.
    assert kept.alive()
    assert kept.ended(timeout=0.5) == "TIMEOUT"


def test_unhealthy_targets_lose_their_connections_unless_termination_is_off(
        daemon, data_dir, hold):
    d = Deployment(daemon, data_dir)
    b0, b1 = d.backends
    d.wait_healthy(b0, b1)
    ep, ips = d.endpoint()
    d.wait_available(ep)
    on_b0 = d.held_on(hold, b0, ips["a"])
    on_b1 = d.held_on(hold, b1, ips["a"])

    # AWS's default: the unhealthy target's connections are reset (backend0 is healthy, so
    # the node is not failing open); the other target's are not.
    d.set_sick(b1, True)
    wait_until(lambda: health(d.pelb, d.tg_arn)[b1] == "unhealthy", timeout=FLIP,
               interval=0.5, what="backend1 unhealthy")
    # DescribeTargetHealth answers the worst of the two zones' nodes; the endpoint's node
    # (zone a) may come to the same verdict up to a check interval later.
    assert on_b1.ended(timeout=INTERVAL + 5) == "RST"
    assert on_b0.alive()
    assert [d.one(ips["a"]) for _ in range(5)] == ["backend0"] * 5

    # Termination off: an unhealthy target keeps its connections (and gets no new one).
    d.tg_attribute("target_health_state.unhealthy.connection_termination.enabled", "false")
    d.set_sick(b1, False)
    d.wait_healthy(b1)
    kept = d.held_on(hold, b1, ips["a"])
    d.set_sick(b1, True)
    wait_until(lambda: health(d.pelb, d.tg_arn)[b1] == "unhealthy", timeout=FLIP,
               interval=0.5, what="backend1 unhealthy again")
    # Past the endpoint's node's verdict too (see above), the connection is still there.
    assert kept.ended(timeout=INTERVAL + 2) == "TIMEOUT", "closed although termination is off"
    assert kept.alive()
    wait_until(lambda: [d.one(ips["a"]) for _ in range(5)] == ["backend0"] * 5,
               timeout=INTERVAL + 5, interval=0, what="new connections to backend0 only")
    assert kept.alive() and on_b0.alive()


def test_deregistered_targets_drain_for_the_delay(daemon, data_dir, hold):
    delay = 5
    d = Deployment(daemon, data_dir,
                   tg_attributes={"deregistration_delay.timeout_seconds": str(delay)})
    b0, b1 = d.backends
    d.wait_healthy(b0, b1)
    ep, ips = d.endpoint()
    d.wait_available(ep)

    def drain(held):
        """Deregisters backend1 holding `held`; checks the draining period; returns when the
        target left DescribeTargetHealth, with the deregistration's start."""
        started = time.monotonic()
        d.pelb.deregister_targets(TargetGroupArn=d.tg_arn, Targets=[{"Id": b1}])
        assert health(d.pelb, d.tg_arn) == {b0: "healthy", b1: "draining"}
        # Draining: the established connection carries on, no new one goes to the target.
        wait_until(lambda: time.monotonic() - started >= 2, timeout=3)
        assert held.alive(), "lost while draining"
        assert time.monotonic() - started < delay - 1, "too slow to check within the delay"
        assert [d.one(ips["a"]) for _ in range(5)] == ["backend0"] * 5
        wait_until(lambda: b1 not in health(d.pelb, d.tg_arn), timeout=delay + 5,
                   interval=0.1, what="backend1 deregistered")
        gone = time.monotonic() - started
        print(f"deregistered after {gone:.2f}s (delay {delay}s)")
        assert gone >= delay - 1, f"left after {gone:.2f}s, before its {delay}s delay"
        return started

    # AWS's default (no connection termination): the connection outlives the delay.
    held = d.held_on(hold, b1, ips["a"])
    drain(held)
    assert held.ended(timeout=3) == "TIMEOUT", "closed although termination is off"
    assert held.alive()
    held.close()

    # With connection termination, it is reset when the delay ends.
    d.tg_attribute("deregistration_delay.connection_termination.enabled", "true")
    d.pelb.register_targets(TargetGroupArn=d.tg_arn, Targets=[{"Id": b1}])
    d.wait_healthy(b1)
    held = d.held_on(hold, b1, ips["a"])
    started = drain(held)
    how = held.ended(timeout=delay + 5 - (time.monotonic() - started))
    took = time.monotonic() - started
    print(f"draining connection reset after {took:.2f}s (delay {delay}s)")
    assert how == "RST", how
    assert delay - 1 <= took <= delay + 5, took


def store_namespaces(d):
    """What the store says should exist: a router per VPC, a namespace per live instance."""
    names = set()
    for ec2 in (d.pec2, d.cec2):
        names |= {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
        for r in ec2.describe_instances()["Reservations"]:
            names |= {i["InstanceId"] for i in r["Instances"]
                      if i["State"]["Name"] in ("pending", "running")}
    return names


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_restarted_daemon_serves_again_within_seconds(daemon, data_dir, hold, sig):
    d = Deployment(daemon, data_dir)
    b0, b1 = d.backends
    d.wait_healthy(b0, b1)
    ep, ips = d.endpoint()
    d.wait_available(ep)
    seen = set()
    wait_until(lambda: seen.add(d.one(ips["a"])) or {"backend0", "backend1"} <= seen,
               timeout=30, interval=0, what="both backends answer")
    instances = [*d.backends, d.client]
    pids = {i: init_pid(data_dir, i) for i in instances}
    held = hold(d.client_ns, ips["a"], 80)
    assert held.alive()

    daemon.kill(sig)
    if sig == signal.SIGTERM:
        # A stopping daemon resets its connections rather than ending them like an answer.
        assert held.ended() == "RST"
    else:
        # The kernel closes a killed process's sockets; the client is not left hanging.
        assert held.ended() in ("EOF", "RST")
    assert one(d.client_ns, ips["a"], 80).startswith("ERR")
    # The instances do not depend on the daemon.
    assert all(pid_alive(p) for p in pids.values())

    started = time.monotonic()
    daemon.start()
    d.connect(daemon)
    wait_until(lambda: d.one(ips["a"]) in ("backend0", "backend1"), timeout=30,
               interval=0.05, what="traffic through the endpoint again")
    took = time.monotonic() - started
    print(f"serving again {took:.2f}s after the start")
    assert took < 15, f"took {took:.2f}s to serve again"

    assert {i: init_pid(data_dir, i) for i in instances} == pids, "the same processes"
    assert all(pid_alive(p) for p in pids.values())
    for iid in d.backends:
        assert running(d.pec2, iid)
    assert running(d.cec2, d.client)
    d.wait_healthy(b0, b1)
    seen = set()
    wait_until(lambda: seen.add(d.one(ips["a"])) or {"backend0", "backend1"} <= seen,
               timeout=30, interval=0, what="both backends answer after the restart")
    assert seen == {"backend0", "backend1"}, seen
    assert namespaces(d.prefix) == store_namespaces(d), "nothing orphaned, nothing missing"
