"""Security groups in the data plane, as AWS defines them: stateful, default deny, the union of
an interface's groups' rules, group references resolved to the members' addresses; the
endpoint's groups filter connections to the endpoint interface; a target whose group does
not admit the NLB's node fails its health checks. And VPC isolation with overlapping CIDRs,
asserted on the servers' side.

Needs root (network namespaces); without it the tests fail, they never skip. Every process
runs inside the test daemon's own namespaces (`ip netns exec`); nothing connects from the
host's namespace to a VPC address. Servers are killed and reaped at the end, also on failure.
"""

import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER, REGION, wait_until
from test_network import prefix_of
from test_traffic import (allow_tcp, daemon, default_group, instance, needs_root,  # noqa: F401
                          running)

PORT = 8080

# A TCP echo server: logs "accept <peer address>" for every connection it accepts and
# "data <peer address> <chunk>" for the first chunk of each, and answers every chunk with
# "echo:<chunk>" until the peer closes. (Health checks connect and send nothing.)
SERVER = r"""
import socket, sys, threading
port, log = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
def record(line):
    with lock, open(log, "a") as f:
        f.write(line + "\n")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
print("ready", flush=True)
def serve(c, peer):
    first = True
    with c:
        while True:
            data = c.recv(100)
            if not data:
                return
            if first:
                record(f"data {peer} {data.decode(errors='replace')}")
                first = False
            c.sendall(b"echo:" + data)
while True:
    c, peer = s.accept()
    record(f"accept {peer[0]}")
    threading.Thread(target=serve, args=(c, peer[0]), daemon=True).start()
"""

# One connection: prints the echo of "hello" (exit 0) or the error (exit 3).
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

# A connection held open: sends each line read from stdin, prints each answer.
HOLDER = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("connected", flush=True)
for line in sys.stdin:
    try:
        c.sendall(line.strip().encode())
        print(c.recv(100).decode(), flush=True)
    except OSError as e:
        print("error:", type(e).__name__, e, flush=True)
"""


@pytest.fixture
def procs():
    """Processes started in the daemon's namespaces; killed and reaped at the end."""
    started = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


class Server:
    """An echo server in an instance's namespace that logs the peer of every connection."""

    def __init__(self, procs, ns, log_path, port=PORT):
        self.log_path = log_path
        log_path.write_text("")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(port),
             str(log_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        procs.append(self.proc)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"server did not start: {line!r}"

    def lines(self, kind):
        return [line.split(" ", 1)[1] for line in self.log_path.read_text().splitlines()
                if line.startswith(kind + " ")]

    def peers(self):
        """The peer address of every connection accepted so far."""
        return self.lines("accept")

    def messages(self):
        """"<peer> <first chunk>" of every connection that sent data."""
        return self.lines("data")


def connect(ns, ip, port=PORT, timeout=1.0):
    """One connection from namespace `ns`: (ok, output). A dropped SYN times out."""
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, ip,
                          str(port), str(timeout)],
                         capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and out.stdout.strip() == "echo:hello", out.stdout.strip()


def reaches(ns, ip, port=PORT):
    return connect(ns, ip, port)[0]


def blocked(ns, ip, port=PORT):
    ok, out = connect(ns, ip, port)
    return not ok and out.startswith("error:")


def vpc_with_subnet(ec2, cidr="10.0.0.0/16", subnet_cidr="10.0.1.0/24"):
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr,
                            AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    return vpc, sub


def group(ec2, vpc, name):
    """A new group: no inbound rule, all outbound (AWS's defaults for a new group)."""
    return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]


def launch(ec2, sub, groups=None):
    """An instance (in `groups`, or the VPC's default group); returns (id, address) once
    it runs."""
    kw = {"SecurityGroupIds": groups} if groups else {}
    i = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=sub,
                          **kw)["Instances"][0]
    wait_until(lambda: running(ec2, i["InstanceId"]), timeout=30,
               what=f"{i['InstanceId']} running")
    return i["InstanceId"], i["PrivateIpAddress"]


def tcp(port, cidr=None, group_id=None):
    perm = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        perm["IpRanges"] = [{"CidrIp": cidr}]
    if group_id:
        perm["UserIdGroupPairs"] = [{"GroupId": group_id}]
    return [perm]


# All traffic, any address (the rule every new group has outbound).
ALL = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


# --- instances ------------------------------------------------------------------------------

def test_default_group_members_reach_each_other_and_non_members_do_not(daemon, data_dir,
                                                                       procs, tmp_path):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc, sub = vpc_with_subnet(ec2)
    other = group(ec2, vpc, "other")
    a, a_ip = launch(ec2, sub)
    b, b_ip = launch(ec2, sub)
    c, c_ip = launch(ec2, sub, [other])
    ns = {i: f"{prefix}-{i}" for i in (a, b, c)}

    table = subprocess.run(["ip", "netns", "exec", ns[b], "nft", "list", "table", "inet",
                            "privlink_sg"], capture_output=True, text=True, timeout=10)
    assert table.returncode == 0 and "policy drop" in table.stdout, table

    server_b = Server(procs, ns[b], tmp_path / "b.log")
    server_c = Server(procs, ns[c], tmp_path / "c.log")
    # Members of the default group admit each other.
    ok, out = connect(ns[a], b_ip)
    assert ok, out
    # `other` admits nothing inbound and is no member of the default group: c reaches
    # nobody that admits only members, and nobody reaches c.
    assert blocked(ns[c], b_ip)
    assert blocked(ns[a], c_ip)
    assert blocked(ns[b], c_ip)
    assert server_b.peers() == [a_ip], "only the member's connection arrived"
    assert server_c.peers() == [], "nothing reached the non-member"
    # Loopback is always allowed, whatever the groups.
    ok, out = connect(ns[c], "127.0.0.1")
    assert ok, out


def test_authorize_by_cidr_or_group_opens_revoke_closes_new_connections_only(
        daemon, data_dir, procs, tmp_path):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc, sub = vpc_with_subnet(ec2)
    web, clients = group(ec2, vpc, "web"), group(ec2, vpc, "clients")
    s, s_ip = launch(ec2, sub, [web])
    c1, c1_ip = launch(ec2, sub, [clients])
    c2, c2_ip = launch(ec2, sub)
    ns = {i: f"{prefix}-{i}" for i in (s, c1, c2)}
    server = Server(procs, ns[s], tmp_path / "s.log")

    assert blocked(ns[c1], s_ip), "a new group admits nothing"

    # By CIDR: c1's address only.
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=tcp(PORT, f"{c1_ip}/32"))
    wait_until(lambda: reaches(ns[c1], s_ip), timeout=15, what="c1 admitted by CIDR")
    assert blocked(ns[c2], s_ip), "the CIDR admits c1 only"
    # Another port is not admitted.
    Server(procs, ns[s], tmp_path / "s9090.log", port=9090)
    assert blocked(ns[c1], s_ip, 9090)

    # By group: the members of `clients`, whatever their address.
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=tcp(PORT, f"{c1_ip}/32"))
    wait_until(lambda: blocked(ns[c1], s_ip), timeout=15, what="CIDR rule revoked")
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=tcp(PORT, group_id=clients))
    wait_until(lambda: reaches(ns[c1], s_ip), timeout=15, what="c1 admitted by group")
    assert blocked(ns[c2], s_ip), "c2 is no member of clients"
    # A new member is admitted on the next pass, without touching the rules.
    c3, c3_ip = launch(ec2, sub, [clients])
    wait_until(lambda: reaches(f"{prefix}-{c3}", s_ip), timeout=15, what="new member c3")

    # A connection made while admitted survives the revoke (connection tracking, as on AWS);
    # new connections are refused.
    holder = subprocess.Popen(["ip", "netns", "exec", ns[c1], sys.executable, "-c", HOLDER,
                               s_ip, str(PORT)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    procs.append(holder)
    assert holder.stdout.readline().strip() == "connected"
    holder.stdin.write("before\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "echo:before"
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=tcp(PORT, group_id=clients))
    wait_until(lambda: blocked(ns[c1], s_ip), timeout=15, what="group rule revoked")
    assert blocked(f"{prefix}-{c3}", s_ip)
    holder.stdin.write("after\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "echo:after", "the tracked connection goes on"

    peers = server.peers()
    assert c2_ip not in peers, "c2 was never admitted"
    assert set(peers) == {c1_ip, c3_ip}


def test_revoking_all_egress_blocks_outbound_connections(daemon, data_dir, procs, tmp_path):
    prefix = prefix_of(data_dir)
    ec2 = daemon.ec2(PROVIDER)
    vpc, sub = vpc_with_subnet(ec2)
    out_group = group(ec2, vpc, "out")
    # The server admits the whole VPC: only the client's egress can stop it.
    allow_tcp(ec2, default_group(ec2, vpc), PORT, "10.0.0.0/16")
    s, s_ip = launch(ec2, sub)
    c, _ = launch(ec2, sub, [out_group])
    server = Server(procs, f"{prefix}-{s}", tmp_path / "s.log")
    client_ns = f"{prefix}-{c}"
    ok, out = connect(client_ns, s_ip)
    assert ok, out

    ec2.revoke_security_group_egress(GroupId=out_group, IpPermissions=ALL)
    wait_until(lambda: blocked(client_ns, s_ip), timeout=15, what="egress revoked")
    assert len(server.peers()) == 1, "nothing left the client after the revoke"

    # An egress rule for the server's port only: that port opens again.
    ec2.authorize_security_group_egress(GroupId=out_group, IpPermissions=tcp(PORT, f"{s_ip}/32"))
    wait_until(lambda: reaches(client_ns, s_ip), timeout=15, what="egress to the server")


# --- endpoints and load balancers -----------------------------------------------------------

def provider_service(daemon, procs, tmp_path, prefix, admit_node=True, interval=5):
    """A provider VPC with one target serving the echo server on PORT behind an NLB
    (listener 80) exposed as an endpoint service the consumer may use. Returns a dict."""
    ec2, elb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    vpc, sub = vpc_with_subnet(ec2)
    if admit_node:
        allow_tcp(ec2, default_group(ec2, vpc), PORT, "10.0.0.0/16")
    target, target_ip = launch(ec2, sub)
    server = Server(procs, f"{prefix}-{target}", tmp_path / "target.log")
    lb = elb.create_load_balancer(Name="svc", Type="network", Scheme="internal",
                                  Subnets=[sub])["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="svc", Protocol="TCP", Port=PORT, VpcId=vpc, TargetType="instance",
        HealthCheckIntervalSeconds=interval, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": target}])
    elb.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return {"vpc": vpc, "sub": sub, "target": target, "target_ip": target_ip,
            "server": server, "lb": lb, "tg": tg}


def target_state(elb, tg, target):
    (d,) = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": target}])[
        "TargetHealthDescriptions"]
    return d["TargetHealth"]["State"]


def test_a_target_whose_group_does_not_admit_the_nlb_node_fails_health_checks(
        daemon, data_dir, procs, tmp_path):
    prefix = prefix_of(data_dir)
    elb, ec2 = daemon.elbv2(PROVIDER), daemon.ec2(PROVIDER)
    p = provider_service(daemon, procs, tmp_path, prefix, admit_node=False)
    # The default group admits only its members; the NLB's node is none.
    wait_until(lambda: target_state(elb, p["tg"], p["target"]) == "unhealthy", timeout=40,
               interval=1, what="target unhealthy")
    assert p["server"].peers() == [], "no health check reached the server"
    # Admitting the VPC's CIDR on the target port (what AWS's docs ask of NLB targets).
    allow_tcp(ec2, default_group(ec2, p["vpc"]), PORT, "10.0.0.0/16")
    wait_until(lambda: target_state(elb, p["tg"], p["target"]) == "healthy", timeout=40,
               interval=1, what="target healthy once admitted")
    (node,) = [n["PrivateIpAddress"] for n in ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [p["vpc"]]}])["NetworkInterfaces"]
        if n["InterfaceType"] == "network_load_balancer"]
    assert set(p["server"].peers()) == {node}, "the checks come from the node address"


def test_the_endpoint_groups_filter_connections_to_the_endpoint(daemon, data_dir, procs,
                                                                tmp_path):
    prefix = prefix_of(data_dir)
    pec2, cec2 = daemon.ec2(PROVIDER), daemon.ec2(CONSUMER)
    p = provider_service(daemon, procs, tmp_path, prefix)
    svc = pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[p["lb"]], AcceptanceRequired=False)["ServiceConfiguration"]
    pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])

    cvpc, csub = vpc_with_subnet(cec2)
    ep_group = group(cec2, cvpc, "endpoint")
    client, _ = launch(cec2, csub)
    client_ns = f"{prefix}-{client}"
    ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                  ServiceName=svc["ServiceName"], SubnetIds=[csub],
                                  SecurityGroupIds=[ep_group])["VpcEndpoint"]
    wait_until(lambda: cec2.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
               ["VpcEndpoints"][0]["State"] == "available", timeout=30,
               what="endpoint available")
    (eni,) = cec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    ep_ip = eni["PrivateIpAddress"]
    assert [g["GroupId"] for g in eni["Groups"]] == [ep_group]

    # The endpoint's group admits nothing: the client's connections never get through (the
    # target only sees the NLB's health checks, which send no data).
    assert blocked(client_ns, ep_ip, 80)
    assert blocked(client_ns, ep_ip, 80)
    assert p["server"].messages() == [], "nothing reached the target"

    # Admitting the client's group (the consumer VPC's default group) on the listener port.
    cec2.authorize_security_group_ingress(
        GroupId=ep_group, IpPermissions=tcp(80, group_id=default_group(cec2, cvpc)))
    wait_until(lambda: reaches(client_ns, ep_ip, 80), timeout=20,
               what="the endpoint admits the client")
    assert [m.split()[1] for m in p["server"].messages()] == ["hello"], \
        "the client's connection reached the target"

    # Revoking the rule closes the endpoint to new connections again.
    cec2.revoke_security_group_ingress(
        GroupId=ep_group, IpPermissions=tcp(80, group_id=default_group(cec2, cvpc)))
    wait_until(lambda: blocked(client_ns, ep_ip, 80), timeout=20,
               what="the endpoint's rule revoked")
    # Adding the VPC's default group to the endpoint: it admits its members, the client.
    cec2.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"],
                             AddSecurityGroupIds=[default_group(cec2, cvpc)])
    wait_until(lambda: reaches(client_ns, ep_ip, 80), timeout=20,
               what="the default group added to the endpoint admits the client")


def test_nlb_groups_filter_clients_of_the_node_and_targets_may_name_them(daemon, data_dir,
                                                                       procs, tmp_path):
    prefix = prefix_of(data_dir)
    ec2, elb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    vpc, sub = vpc_with_subnet(ec2)
    lb_group, web = group(ec2, vpc, "nlb"), group(ec2, vpc, "web")
    # AWS's pattern for an NLB with groups: the targets admit the load balancer's group.
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=tcp(PORT, group_id=lb_group))
    target, _ = launch(ec2, sub, [web])
    client, _ = launch(ec2, sub)
    server = Server(procs, f"{prefix}-{target}", tmp_path / "target.log")
    lb = elb.create_load_balancer(Name="grouped", Type="network", Scheme="internal",
                                  Subnets=[sub], SecurityGroups=[lb_group])["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name="grouped", Protocol="TCP", Port=PORT, VpcId=vpc, TargetType="instance",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    # The target sees the node's address: a rule naming the NLB's group admits the nodes.
    # (With client IP preservation AWS admits the NLB's clients through such a rule too;
    # privlink does not yet — docs/network.md, Open.)
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "preserve_client_ip.enabled", "Value": "false"}])
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": target}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    (node,) = [n["PrivateIpAddress"] for n in ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
        if n["InterfaceType"] == "network_load_balancer"]
    # The node is a member of the load balancer's group: the target admits its checks.
    wait_until(lambda: target_state(elb, tg, target) == "healthy", timeout=40, interval=1,
               what="target healthy through the group reference")
    client_ns = f"{prefix}-{client}"
    # The load balancer's group admits no client yet.
    assert blocked(client_ns, node, 80)
    assert server.messages() == []
    ec2.authorize_security_group_ingress(GroupId=lb_group,
                                         IpPermissions=tcp(80, "10.0.0.0/16"))
    wait_until(lambda: reaches(client_ns, node, 80), timeout=20,
               what="the NLB's group admits the client")
    assert [m.split() for m in server.messages()] == [[node, "hello"]]

    # The NLB's outbound rules govern its connections to targets, health checks included
    # (AWS: "health checks are subject to outbound rules"): none left, the target fails.
    ec2.revoke_security_group_egress(GroupId=lb_group, IpPermissions=ALL)
    wait_until(lambda: target_state(elb, tg, target) == "unhealthy", timeout=40, interval=1,
               what="target unhealthy once the NLB may not reach it")
    assert not reaches(client_ns, node, 80), "no target reachable (fail-open finds none either)"
    ec2.authorize_security_group_egress(GroupId=lb_group, IpPermissions=tcp(PORT, "10.0.0.0/16"))
    wait_until(lambda: target_state(elb, tg, target) == "healthy", timeout=40, interval=1,
               what="target healthy with the NLB's egress to the target port")
    wait_until(lambda: reaches(client_ns, node, 80), timeout=20, what="traffic flows again")


# --- isolation ------------------------------------------------------------------------------

def test_vpcs_with_the_same_cidr_in_two_accounts_are_isolated_both_ways(daemon, data_dir,
                                                                        procs, tmp_path):
    prefix = prefix_of(data_dir)
    pec2, cec2 = daemon.ec2(PROVIDER), daemon.ec2(CONSUMER)
    # The same VPC CIDR; the provider's instances in 10.0.1.0/24, the consumer's in
    # 10.0.2.0/24, so each side's address is free in the other VPC.
    pvpc, psub = vpc_with_subnet(pec2, subnet_cidr="10.0.1.0/24")
    cvpc, csub = vpc_with_subnet(cec2, subnet_cidr="10.0.2.0/24")
    # Both sides admit everything: only isolation can keep the traffic out.
    for ec2, vpc in ((pec2, pvpc), (cec2, cvpc)):
        ec2.authorize_security_group_ingress(GroupId=default_group(ec2, vpc),
                                             IpPermissions=ALL)
    p, p_ip = launch(pec2, psub)
    p2, p2_ip = launch(pec2, psub)
    c, c_ip = launch(cec2, csub)
    c2, c2_ip = launch(cec2, csub)
    ns = {i: f"{prefix}-{i}" for i in (p, p2, c, c2)}
    provider_server = Server(procs, ns[p], tmp_path / "p.log")
    consumer_server = Server(procs, ns[c], tmp_path / "c.log")

    # Each server is reachable from its own VPC...
    assert reaches(ns[p2], p_ip)
    assert reaches(ns[c2], c_ip)
    # ...and from the other VPC in neither direction, on any port.
    assert blocked(ns[c], p_ip)
    assert blocked(ns[c2], p_ip)
    assert blocked(ns[p], c_ip)
    assert blocked(ns[p2], c_ip)
    assert blocked(ns[c], p_ip, 22)
    assert provider_server.peers() == [p2_ip], "the provider's server saw only its own VPC"
    assert consumer_server.peers() == [c2_ip], "the consumer's server saw only its own VPC"
