"""Client IP preservation (`preserve_client_ip.enabled`) for clients inside the provider VPC
that use the NLB directly, and its absence for traffic through an interface endpoint.

Needs root (network namespaces); without it the tests fail, they never skip. Every process
runs inside the test daemon's own namespaces (`ip netns exec`); nothing connects from the
host's namespace to a VPC address. Servers are killed at the end, also on failure.
"""

import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER, REGION, network_daemon, require_root, wait_until
from test_network import prefix_of
from test_traffic import instance as launch, running, servers  # noqa: F401

AMI = "ami-12345678"
PORT = 8080

# Answers every connection with "<peer ip> <peer port>" and closes.
SERVER = r"""
import socket, socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        ip, port = self.client_address[:2]
        try:
            self.request.sendall(f"{ip} {port}\n".encode())
        except OSError:
            pass
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", 8080), H).serve_forever()
"""

# Connects to host:port and prints what the server said, or "ERR <error>" ("ERR EOF" when
# the connection closed without a byte).
CLIENT = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.decode().strip() if data else "ERR EOF")
except Exception as e:
    print("ERR", type(e).__name__, e)
"""


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the client IP tests")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


def ask(ns, host, port, timeout=3):
    """What the server saw, asked from namespace `ns`: "<ip> <port>" or "ERR …"."""
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT,
                          host, str(port), str(timeout)],
                         capture_output=True, text=True, timeout=timeout + 30)
    return out.stdout.strip()


def seen_ip(ns, host, port):
    answer = ask(ns, host, port)
    return None if answer.startswith("ERR") else answer.split()[0]


def open_vpc_to_server(ec2, vpc, cidr):
    """Lets the VPC reach the server port through the default security group."""
    sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
        "IpRanges": [{"CidrIp": cidr}]}])


def set_preserve(elb, tg_arn, on):
    elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
        {"Key": "preserve_client_ip.enabled", "Value": "true" if on else "false"}])


def provider_setup(daemon, prefix, servers):
    """A provider VPC with two subnets; a server instance in the first, a client in each;
    an NLB in the first subnet with listener 80 → an instance-target group (preservation on
    by default) and listener 81 → an ip-target group (off by default), both to the server."""
    ec2, elb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    open_vpc_to_server(ec2, vpc, "10.0.0.0/16")
    sub_a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    sub_b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24",
                              AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
    server, server_ip = launch(ec2, sub_a)
    near, near_ip = launch(ec2, sub_a)
    far, far_ip = launch(ec2, sub_b)
    for iid in (server, near, far):
        wait_until(lambda: running(ec2, iid), timeout=30, what=f"{iid} running")
    servers.append(subprocess.Popen(
        ["ip", "netns", "exec", f"{prefix}-{server}", sys.executable, "-c", SERVER],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    lb_arn = elb.create_load_balancer(Name="app", Type="network", Scheme="internal",
                                      Subnets=[sub_a])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_inst = elb.create_target_group(Name="inst", Protocol="TCP", Port=PORT, VpcId=vpc,
                                      TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    tg_ip = elb.create_target_group(Name="ip", Protocol="TCP", Port=PORT, VpcId=vpc,
                                    TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg_inst, Targets=[{"Id": server}])
    elb.register_targets(TargetGroupArn=tg_ip, Targets=[{"Id": server_ip}])
    for port, tg in ((80, tg_inst), (81, tg_ip)):
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=port,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    node_ip = [ni["PrivateIpAddress"] for ni in ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
        if ni.get("InterfaceType") == "network_load_balancer"][0]
    return {
        "ec2": ec2, "elb": elb, "vpc": vpc, "lb": lb_arn, "node": node_ip,
        "tg_inst": tg_inst, "tg_ip": tg_ip,
        "server": (f"{prefix}-{server}", server_ip),
        "near": (f"{prefix}-{near}", near_ip),
        "far": (f"{prefix}-{far}", far_ip),
    }


def test_direct_clients_are_seen_with_their_own_address_when_the_group_preserves_it(
        daemon, data_dir, servers):
    p = provider_setup(daemon, prefix_of(data_dir), servers)
    node = p["node"]
    (near_ns, near_ip), (far_ns, far_ip) = p["near"], p["far"]
    server_ns, server_ip = p["server"]

    # Instances of one subnet (each a /32 routed through the VPC router) reach each other,
    # and the server sees the client's own address.
    wait_until(lambda: seen_ip(near_ns, server_ip, PORT) == near_ip, timeout=30,
               what="the server answers a client of its own subnet directly")
    assert seen_ip(far_ns, server_ip, PORT) == far_ip

    # Instance targets (default on): the target sees each client's address — from the
    # target's own subnet and from another subnet.
    assert seen_ip(near_ns, node, 80) == near_ip
    assert seen_ip(far_ns, node, 80) == far_ip
    # The port is the proxy's, not the server's: the connection really went through the NLB.
    assert ask(near_ns, node, 80).split()[1] != str(PORT)

    # ip targets (default off): the NLB node's address.
    assert seen_ip(near_ns, node, 81) == node
    assert seen_ip(far_ns, node, 81) == node

    # Each the other way round.
    set_preserve(p["elb"], p["tg_inst"], False)
    set_preserve(p["elb"], p["tg_ip"], True)
    wait_until(lambda: seen_ip(near_ns, node, 80) == node, timeout=30,
               what="instance group without preservation: node address")
    assert seen_ip(far_ns, node, 80) == node
    wait_until(lambda: seen_ip(far_ns, node, 81) == far_ip, timeout=30,
               what="ip group with preservation: client address")
    assert seen_ip(near_ns, node, 81) == near_ip

    # Many connections in a row keep working (each gets its own ephemeral port).
    for _ in range(10):
        assert seen_ip(near_ns, node, 81) == near_ip

    # Hairpin: a target that is itself the client cannot connect through the NLB with
    # preservation on (as AWS documents): the target drops a SYN from its own address, the
    # proxy's connection times out (10 s), the client is reset. Without preservation it works.
    hairpin = ask(server_ns, node, 81, timeout=30)
    assert hairpin.startswith("ERR ConnectionResetError"), hairpin
    assert seen_ip(server_ns, node, 80) == node


def test_endpoint_traffic_comes_from_the_node_even_when_the_group_preserves_client_ip(
        daemon, data_dir, servers):
    prefix = prefix_of(data_dir)
    p = provider_setup(daemon, prefix, servers)
    node, (near_ns, near_ip) = p["node"], p["near"]
    # Both groups preserve client IP for direct clients.
    set_preserve(p["elb"], p["tg_ip"], True)
    wait_until(lambda: seen_ip(near_ns, node, 81) == near_ip, timeout=30,
               what="direct client seen with its own address")

    pec2, cec2 = p["ec2"], daemon.ec2(CONSUMER)
    svc = pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[p["lb"]], AcceptanceRequired=False)["ServiceConfiguration"]
    pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
    # The consumer uses the same CIDR, and its client the same address as a provider client.
    cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    csub = cec2.create_subnet(VpcId=cvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    client, _ = launch(cec2, csub)
    wait_until(lambda: running(cec2, client), timeout=30, what="consumer client running")
    ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                  ServiceName=svc["ServiceName"],
                                  SubnetIds=[csub])["VpcEndpoint"]

    def ep_state():
        return cec2.describe_vpc_endpoints(
            VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]["State"]

    wait_until(lambda: ep_state() == "available", timeout=30, what="endpoint available")
    eni_ip = cec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]["PrivateIpAddress"]
    client_ns = f"{prefix}-{client}"
    for port in (80, 81):
        assert seen_ip(client_ns, eni_ip, port) == node, port
    # Direct clients still keep theirs.
    assert seen_ip(near_ns, node, 80) == near_ip
