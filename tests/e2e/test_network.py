"""The daemon makes its VPCs real: network namespaces under /run/netns with the daemon's
prefix, driven through boto3 against a real `privlink serve`, and inspected with `ip`.

These tests need root (they create network namespaces); without it they fail, they never
skip. Traffic only flows between the namespaces a test's daemon made; nothing touches the
host's own network. Every test's namespaces are removed by `privlink destroy` when its data
dir goes (conftest), also when the test fails.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import (CONSUMER, OTHER, PROVIDER, destroy, network_daemon, privlink_bin,
                      require_root, wait_until)

AMI = "ami-12345678"
NETNS = "/run/netns"


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the network tests")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


# --- helpers --------------------------------------------------------------------------------

def prefix_of(data_dir):
    """The daemon's namespace prefix: `pl` + 6 hex digits of the FNV-1a hash of the data
    dir's canonical path (netns::Prefix::from_data_dir)."""
    h = 0xcbf29ce484222325
    for b in os.fsencode(os.path.realpath(data_dir)):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"pl{h & 0xFFFFFF:06x}"


def namespaces(prefix):
    """Short names of the namespaces under `prefix`."""
    try:
        names = os.listdir(NETNS)
    except FileNotFoundError:
        return set()
    return {n[len(prefix) + 1:] for n in names if n.startswith(prefix + "-")}


def ns_path(prefix, name):
    return os.path.join(NETNS, f"{prefix}-{name}")


def ip_json(prefix, name, *args):
    out = subprocess.run(["ip", "-n", f"{prefix}-{name}", "-j", *args],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout or "[]")


def links(prefix, name):
    """{ifname: link} with link kind (`bridge`, `veth`, …) under `kind`."""
    out = {}
    for link in ip_json(prefix, name, "-d", "link"):
        link["kind"] = link.get("linkinfo", {}).get("info_kind")
        out[link["ifname"]] = link
    return out


def addresses(prefix, name):
    """{ifname: {"ip/len", …}} of IPv4 addresses."""
    out = {}
    for link in ip_json(prefix, name, "addr"):
        out[link["ifname"]] = {f'{a["local"]}/{a["prefixlen"]}'
                               for a in link.get("addr_info", []) if a["family"] == "inet"}
    return out


def bridge_addresses(prefix, vpc_id):
    """{bridge: addresses} of the bridges in a VPC router (one `ip` call, so links and
    addresses agree)."""
    out = {}
    for link in ip_json(prefix, vpc_id, "-d", "addr"):
        if link.get("linkinfo", {}).get("info_kind") == "bridge":
            out[link["ifname"]] = {f'{a["local"]}/{a["prefixlen"]}'
                                   for a in link.get("addr_info", []) if a["family"] == "inet"}
    return out


def vpc_with_subnet(ec2, cidr="10.0.0.0/16", subnet_cidr="10.0.1.0/24", zone="a"):
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr,
                            AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
    return vpc_id, sub


def run(ec2, subnet_id, count=1):
    return ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count,
                             SubnetId=subnet_id)["Instances"]


def state(ec2, instance_id):
    res = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return res[0]["Instances"][0]["State"]["Name"]


def wait_running(ec2, ids, timeout=15):
    wait_until(lambda: all(state(ec2, i) == "running" for i in ids), timeout,
               what=f"{ids} running")


def mounted(prefix, name):
    """Whether a namespace's file is bound to the namespace yet: creation makes the file,
    then mounts the namespace on it, and `ip -n` fails on the bare file meanwhile."""
    try:
        return os.stat(ns_path(prefix, name)).st_dev != os.stat(NETNS).st_dev
    except FileNotFoundError:
        return False


def wait_ns(prefix, names, present=True, timeout=15):
    names = set(names)
    if present:
        wait_until(lambda: names <= namespaces(prefix)
                   and all(mounted(prefix, n) for n in names), timeout,
                   what=f"namespaces {names}")
    else:
        wait_until(lambda: not (names & namespaces(prefix)), timeout,
                   what=f"namespaces {names} gone")


LISTENER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
n = 0
try:
    while True:
        c, peer = s.accept()
        n += 1
        data = c.recv(100)
        c.sendall(b"echo:" + data + b" from " + peer[0].encode())
        c.close()
except socket.timeout:
    pass
print("accepted", n, flush=True)
"""

CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    c.sendall(b"hello")
    print(c.recv(100).decode(), flush=True)
except OSError as e:
    print("error:", type(e).__name__, e, flush=True)
    sys.exit(3)
"""


class Listener:
    """A TCP echo server inside a namespace (`ip netns exec`), stopped after `lifetime`
    seconds without a connection."""

    def __init__(self, prefix, name, port=8080, lifetime=5.0):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", f"{prefix}-{name}", sys.executable, "-c", LISTENER,
             str(port), str(lifetime)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"listener did not start: {line!r} {self.proc.stderr.read()}"

    def accepted(self):
        out, _ = self.proc.communicate(timeout=30)
        m = re.search(r"accepted (\d+)", out)
        assert m, out
        return int(m.group(1))


def connect(prefix, name, ip, port=8080, timeout=2.0):
    out = subprocess.run(["ip", "netns", "exec", f"{prefix}-{name}", sys.executable, "-c",
                          CLIENT, ip, str(port), str(timeout)],
                         capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout.strip()


# --- tests ----------------------------------------------------------------------------------

def test_a_vpc_is_a_router_namespace_with_a_bridge_per_subnet(daemon, data_dir):
    prefix = prefix_of(data_dir)
    assert f"/run/netns/{prefix}-*" in daemon.log(), "the daemon names its prefix"
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    wait_ns(prefix, [vpc_id])

    def bridges():
        return bridge_addresses(prefix, vpc_id)
    wait_until(lambda: list(bridges().values()) == [{"10.0.1.1/24"}], what="subnet bridge")
    sub2 = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.128.0/20")["Subnet"]["SubnetId"]
    wait_until(lambda: sorted(map(sorted, bridges().values())) ==
               [["10.0.1.1/24"], ["10.0.128.1/20"]], what="second bridge")
    assert namespaces(prefix) == {vpc_id}, "a subnet is no namespace of its own"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_forwarding = f.read()
    out = subprocess.run(["ip", "netns", "exec", f"{prefix}-{vpc_id}", "cat",
                          "/proc/sys/net/ipv4/ip_forward"], capture_output=True, text=True)
    assert out.stdout.strip() == "1", "the router forwards between its subnets"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_forwarding, "the host's own setting is untouched"

    ec2.delete_subnet(SubnetId=sub2)
    wait_until(lambda: list(bridges().values()) == [{"10.0.1.1/24"}], what="bridge removed")
    ec2.delete_subnet(SubnetId=sub)
    wait_until(lambda: bridges() == {}, what="no bridge left")
    ec2.delete_vpc(VpcId=vpc_id)
    wait_ns(prefix, [vpc_id], present=False)
    assert namespaces(prefix) == set()


def test_an_instance_gets_eth0_its_address_a_default_route_and_runs(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    launched = run(ec2, sub, 2)
    assert [i["State"]["Name"] for i in launched] == ["pending", "pending"]
    ids = [i["InstanceId"] for i in launched]
    wait_running(ec2, ids)
    assert namespaces(prefix) == {vpc_id, *ids}
    enis = {e["Attachment"]["InstanceId"]: e for e in ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [sub]}])["NetworkInterfaces"]}
    for inst in launched:
        iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
        ls = links(prefix, iid)
        assert set(ls) == {"lo", "eth0"}
        assert ls["eth0"]["kind"] == "veth"
        assert ls["eth0"]["address"] == enis[iid]["MacAddress"], "eth0 has the ENI's MAC"
        assert addresses(prefix, iid)["eth0"] == {f"{ip}/32"}
        routes = ip_json(prefix, iid, "route")
        default = [r for r in routes if r["dst"] == "default"]
        assert default and default[0]["gateway"] == "10.0.1.1" and default[0]["dev"] == "eth0"
        assert "onlink" in default[0].get("flags", []), "eth0 is a /32: the gateway is onlink"
    # The router end of each instance's veth is a port of the subnet's bridge.
    router = links(prefix, vpc_id)
    (bridge,) = [n for n, l in router.items() if l["kind"] == "bridge"]
    ports = [n for n, l in router.items() if l["kind"] == "veth"]
    assert len(ports) == 2 and all(router[p].get("master") == bridge for p in ports)


def test_instances_of_a_vpc_reach_each_other_and_other_vpcs_do_not(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    sub_b = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    a, b = run(ec2, sub, 2)
    (c,) = run(ec2, sub_b)
    # Another account, the same CIDRs: its instance takes the first address, like `a`.
    other = daemon.ec2(OTHER)
    _, osub = vpc_with_subnet(other)
    (x,) = run(other, osub)
    assert x["PrivateIpAddress"] == a["PrivateIpAddress"]
    wait_running(ec2, [a["InstanceId"], b["InstanceId"], c["InstanceId"]])
    wait_running(other, [x["InstanceId"]])

    server = Listener(prefix, b["InstanceId"])
    # Same subnet, and across the VPC router from the other subnet.
    for client in (a, c):
        rc, out = connect(prefix, client["InstanceId"], b["PrivateIpAddress"])
        assert rc == 0 and out == f'echo:hello from {client["PrivateIpAddress"]}', out
    # From the other account's VPC, b's address leads nowhere: no route between VPCs.
    rc, out = connect(prefix, x["InstanceId"], b["PrivateIpAddress"], timeout=1.5)
    assert rc == 3 and out.startswith("error:"), out
    assert server.accepted() == 2, "only the two connections from its own VPC arrived"


def test_terminate_delete_subnet_and_vpc_remove_their_namespaces(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    ids = [i["InstanceId"] for i in run(ec2, sub, 2)]
    wait_ns(prefix, [vpc_id, *ids])
    ec2.terminate_instances(InstanceIds=[ids[0]])
    wait_ns(prefix, [ids[0]], present=False)
    assert namespaces(prefix) == {vpc_id, ids[1]}
    assert state(ec2, ids[0]) == "terminated"
    router = links(prefix, vpc_id)
    assert len([n for n, l in router.items() if l["kind"] == "veth"]) == 1, \
        "the terminated instance's veth is gone from the router"
    ec2.terminate_instances(InstanceIds=[ids[1]])
    wait_ns(prefix, [ids[1]], present=False)
    ec2.delete_subnet(SubnetId=sub)
    wait_until(lambda: bridge_addresses(prefix, vpc_id) == {}, what="bridge gone")
    ec2.delete_vpc(VpcId=vpc_id)
    wait_ns(prefix, [vpc_id], present=False)
    assert namespaces(prefix) == set(), "deleting everything leaves nothing of the prefix"


def test_endpoint_and_load_balancer_addresses_are_held_by_the_vpc_routers(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2, elb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    pvpc, psub = vpc_with_subnet(ec2)
    lb = elb.create_load_balancer(Name="net", Type="network", Scheme="internal",
                                  Subnets=[psub])["LoadBalancers"][0]
    (node,) = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [psub]}])["NetworkInterfaces"]
    assert node["InterfaceType"] == "network_load_balancer"
    node_ip = node["PrivateIpAddress"]
    wait_ns(prefix, [pvpc])
    wait_until(lambda: list(bridge_addresses(prefix, pvpc).values()) ==
               [{"10.0.1.1/24", f"{node_ip}/32"}], what="NLB node address on the bridge")

    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]],
        AcceptanceRequired=False)["ServiceConfiguration"]
    ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
    consumer = daemon.ec2(CONSUMER)
    cvpc, csub = vpc_with_subnet(consumer)
    wait_ns(prefix, [cvpc])
    ep = consumer.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                      ServiceName=svc["ServiceName"],
                                      SubnetIds=[csub])["VpcEndpoint"]
    (eni,) = consumer.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    assert eni["InterfaceType"] == "vpc_endpoint"
    ep_ip = eni["PrivateIpAddress"]
    wait_until(lambda: list(bridge_addresses(prefix, cvpc).values()) ==
               [{"10.0.1.1/24", f"{ep_ip}/32"}], what="endpoint address on the bridge")
    # The overlapping provider VPC does not hold the consumer's endpoint address.
    assert list(bridge_addresses(prefix, pvpc).values()) == [{"10.0.1.1/24", f"{node_ip}/32"}]

    consumer.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
    wait_until(lambda: list(bridge_addresses(prefix, cvpc).values()) == [{"10.0.1.1/24"}],
               what="endpoint address released")


def test_a_killed_daemon_restarts_adopting_its_namespaces(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    ids = [i["InstanceId"] for i in run(ec2, sub, 2)]
    wait_running(ec2, ids)
    before = {n: os.stat(ns_path(prefix, n)).st_ino for n in namespaces(prefix)}
    assert set(before) == {vpc_id, *ids}
    router_links = {n: l["ifindex"] for n, l in links(prefix, vpc_id).items()}
    eth0 = {i: links(prefix, i)["eth0"]["ifindex"] for i in ids}

    daemon.restart()  # kill -9, then start again on the same data dir
    with open(daemon.log_path) as f:
        log_start = len(f.read())
    ec2 = daemon.ec2(PROVIDER)
    # A change after the restart: once its namespace exists, a full pass has run.
    vpc2 = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    wait_ns(prefix, [vpc2])
    after = {n: os.stat(ns_path(prefix, n)).st_ino for n in namespaces(prefix)}
    assert after == {**before, vpc2: after[vpc2]}, "same namespaces, none made again"
    assert {n: l["ifindex"] for n, l in links(prefix, vpc_id).items()} == router_links
    assert {i: links(prefix, i)["eth0"]["ifindex"] for i in ids} == eth0
    with open(daemon.log_path) as f:
        new_log = f.read()[log_start:]
    # Adopting a running workload is no change; the first pass may log it after `log_start`.
    changes = "\n".join(line for line in new_log.splitlines()
                        if "adopted running workload" not in line)
    for old in (vpc_id, *ids):
        assert old not in changes, f"the restarted daemon changed nothing of {old}: " + repr(
            [line for line in changes.splitlines() if old in line])
    assert [state(ec2, i) for i in ids] == ["running", "running"]
    assert [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]] == [sub]


def test_destroy_removes_every_namespace_and_the_data_dir(daemon, data_dir):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc_id, sub = vpc_with_subnet(ec2)
    ids = [i["InstanceId"] for i in run(ec2, sub, 2)]
    wait_ns(prefix, [vpc_id, *ids])

    out = subprocess.run([privlink_bin(), "destroy", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "daemon is running" in out.stderr, out.stderr
    assert namespaces(prefix) == {vpc_id, *ids}, "refused: nothing removed"
    assert (data_dir / "privlink.db").exists()

    daemon.kill()
    out = destroy(data_dir)
    assert "deleted 3 network namespaces" in out.stdout, out.stdout
    assert namespaces(prefix) == set()
    assert not data_dir.exists()
    # Again: nothing left to do, still fine.
    out = destroy(data_dir)
    assert "deleted" not in out.stdout


def test_a_second_daemon_on_the_same_data_dir_is_refused(daemon, data_dir):
    out = subprocess.run([privlink_bin(), "serve", "--listen", "127.0.0.1:0",
                          "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "another privlink daemon is serving data dir" in out.stderr, out.stderr


def test_serve_without_root_needs_no_network(data_dir):
    binary = privlink_bin()
    data = data_dir / "d"
    data.mkdir()
    os.chown(data, 65534, 65534)
    os.chmod(data_dir, 0o755)
    env = {k: v for k, v in os.environ.items() if k != "PRIVLINK_NO_NETWORK"}
    env["RUST_BACKTRACE"] = "0"
    out = subprocess.run([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=30, user=65534, group=65534,
                         env=env)
    assert out.returncode != 0
    assert "needs root for VPC networking; use --no-network for the API only" in out.stderr
    assert not os.listdir(data), "refused before touching the data dir"

    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                             str(data), "--no-network"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, user=65534, group=65534, env=env)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, proc.stderr.read() if not line else line
    finally:
        proc.kill()
        proc.wait()
