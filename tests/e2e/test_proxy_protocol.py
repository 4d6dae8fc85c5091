"""PROXY protocol v2 (`proxy_protocol_v2.enabled`) as a real target receives it, checked
byte by byte against the spec (haproxy's proxy-protocol.txt, section 2.2) and AWS's
PrivateLink TLV: through an interface endpoint, from a client using the NLB directly, and
on health checks.

Needs root (network namespaces); without it the test fails, it never skips. Every process
runs inside the test daemon's own namespaces (`ip netns exec`); nothing connects from the
host's namespace to a VPC address. Servers are killed at the end, also on failure.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER, REGION, network_daemon, require_root, wait_until
from test_network import prefix_of
from test_traffic import instance as launch, running, servers  # noqa: F401

AMI = "ami-12345678"
PORT = 8080
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

# Records the first bytes of every connection (until the peer closes or 4 KiB) as one JSON
# line {"peer": [ip, port], "data": hex} in the file argv[1], then answers "ok".
SERVER = r"""
import json, socket, sys, threading
out, lock = sys.argv[1], threading.Lock()
def handle(c, peer):
    data = b""
    c.settimeout(5)
    try:
        while len(data) < 4096:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    with lock, open(out, "a") as f:
        f.write(json.dumps({"peer": list(peer[:2]), "data": data.hex()}) + "\n")
    try:
        c.sendall(b"ok\n")
        c.close()
    except OSError:
        pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(64)
while True:
    c, peer = s.accept()
    threading.Thread(target=handle, args=(c, peer), daemon=True).start()
"""

# Connects, prints its own local port, sends the bytes argv[3] (hex), half-closes and prints the answer
# (or "ERR <error>").
CLIENT = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    port = s.getsockname()[1]
    s.sendall(bytes.fromhex(sys.argv[3]))
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    print(port, data.decode().strip() or "EOF")
except Exception as e:
    print("ERR", type(e).__name__, e)
"""


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the PROXY protocol tests")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


def send(ns, host, port, payload):
    """(client's local port, answer) or None when the connection failed."""
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT,
                          host, str(port), payload.hex()],
                         capture_output=True, text=True, timeout=60).stdout.strip()
    if out.startswith("ERR") or not out:
        return None
    port, answer = out.split(maxsplit=1)
    return int(port), answer


def records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def record_ending_with(path, payload):
    """The one recorded connection whose bytes end with `payload`."""
    found = [r for r in records(path) if bytes.fromhex(r["data"]).endswith(payload)]
    assert len(found) <= 1, found
    return found[0] if found else None


def parse_v2(data):
    """Checks the fixed part of a PROXY v2 header for TCP over IPv4 and splits it:
    (src ip, src port, dst ip, dst port, [(tlv type, value)], rest of the stream)."""
    assert data[:12] == SIGNATURE, data[:16]
    assert data[12] == 0x21, "version 2, command PROXY"
    assert data[13] == 0x11, "AF_INET, STREAM"
    length = int.from_bytes(data[14:16], "big")
    end = 16 + length
    assert len(data) >= end, "the length field covers exactly the addresses and TLVs"
    assert length >= 12
    a = data[16:28]
    src, dst = socket.inet_ntoa(a[0:4]), socket.inet_ntoa(a[4:8])
    sport, dport = int.from_bytes(a[8:10], "big"), int.from_bytes(a[10:12], "big")
    tlvs, i = [], 28
    while i < end:
        assert i + 3 <= end, "a TLV header fits in the length"
        kind, n = data[i], int.from_bytes(data[i + 1:i + 3], "big")
        assert i + 3 + n <= end, "a TLV value fits in the length"
        tlvs.append((kind, data[i + 3:i + 3 + n]))
        i += 3 + n
    assert i == end
    return src, sport, dst, dport, tlvs, data[end:]


def test_targets_get_a_proxy_v2_header_through_the_endpoint_directly_and_on_health_checks(
        daemon, data_dir, servers, tmp_path):
    prefix = prefix_of(data_dir)
    pec2, pelb, cec2 = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER), daemon.ec2(CONSUMER)
    record_file = str(tmp_path / "connections.jsonl")

    # Provider: a server recording what it receives, a client of its own, an NLB whose
    # target group enables PROXY v2 and checks health every 5 s.
    pvpc = pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = pec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [pvpc]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    pec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
        "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    psub = pec2.create_subnet(VpcId=pvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    server, _ = launch(pec2, psub)
    direct, direct_ip = launch(pec2, psub)
    for iid in (server, direct):
        wait_until(lambda: running(pec2, iid), timeout=30, what=f"{iid} running")
    servers.append(subprocess.Popen(
        ["ip", "netns", "exec", f"{prefix}-{server}", sys.executable, "-c", SERVER, record_file],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    lb_arn = pelb.create_load_balancer(Name="pp", Type="network", Scheme="internal",
                                       Subnets=[psub])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_arn = pelb.create_target_group(
        Name="pp", Protocol="TCP", Port=PORT, VpcId=pvpc, TargetType="instance",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    pelb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
        {"Key": "proxy_protocol_v2.enabled", "Value": "true"}])
    pelb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": server}])
    pelb.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=80,
                         DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    node_ip = [ni["PrivateIpAddress"] for ni in pec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [pvpc]}])["NetworkInterfaces"]
        if ni.get("InterfaceType") == "network_load_balancer"][0]
    svc = pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False)["ServiceConfiguration"]
    pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])

    # Consumer: a client instance and an endpoint.
    cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    csub = cec2.create_subnet(VpcId=cvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    consumer, consumer_ip = launch(cec2, csub)
    wait_until(lambda: running(cec2, consumer), timeout=30, what="consumer running")
    ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                  ServiceName=svc["ServiceName"],
                                  SubnetIds=[csub])["VpcEndpoint"]
    ep_id = ep["VpcEndpointId"]
    wait_until(lambda: cec2.describe_vpc_endpoints(VpcEndpointIds=[ep_id])
               ["VpcEndpoints"][0]["State"] == "available", timeout=30,
               what="endpoint available")
    eni_ip = cec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]["PrivateIpAddress"]

    # Through the endpoint.
    payload = b"hello through the endpoint \x00\r\n\xff"
    sent = wait_until(lambda: send(f"{prefix}-{consumer}", eni_ip, 80, payload),
                      timeout=30, what="a connection through the endpoint")
    client_port, answer = sent
    assert answer == "ok"
    rec = wait_until(lambda: record_ending_with(record_file, payload),
                     timeout=10, what="the server recorded the connection")
    assert rec["peer"][0] == node_ip, "PrivateLink traffic comes from the NLB node"
    data = bytes.fromhex(rec["data"])
    src, sport, dst, dport, tlvs, rest = parse_v2(data)
    assert (src, sport) == (consumer_ip, client_port), "source: the consumer instance"
    assert (dst, dport) == (eni_ip, 80), "destination: the endpoint's address and port"
    assert tlvs == [(0xEA, b"\x01" + ep_id.encode())], "AWS TLV: subtype 0x01, endpoint id"
    assert ep_id.startswith("vpce-")
    assert int.from_bytes(data[14:16], "big") == 12 + 3 + 1 + len(ep_id)
    assert rest == payload, "the client's bytes follow, unchanged"

    # A client in the provider VPC using the NLB directly: its own address, no TLV.
    payload2 = b"hello directly"
    client_port2, answer2 = wait_until(
        lambda: send(f"{prefix}-{direct}", node_ip, 80, payload2),
        timeout=30, what="a direct connection to the NLB")
    assert answer2 == "ok"
    rec2 = wait_until(lambda: record_ending_with(record_file, payload2), timeout=10,
                      what="the server recorded the direct connection")
    assert rec2["peer"][0] == direct_ip, "instance targets preserve the client's address"
    data2 = bytes.fromhex(rec2["data"])
    src, sport, dst, dport, tlvs, rest = parse_v2(data2)
    assert (src, sport) == (direct_ip, client_port2)
    assert (dst, dport) == (node_ip, 80)
    assert tlvs == [] and int.from_bytes(data2[14:16], "big") == 12
    assert rest == payload2

    # Health checks: a LOCAL header (no addresses), from the node, and nothing else.
    local = SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00])

    def health_check_seen():
        return [r for r in records(record_file)
                if r["peer"][0] == node_ip and bytes.fromhex(r["data"]) == local]

    wait_until(health_check_seen, timeout=30, what="a health check with a LOCAL header")
    wait_until(lambda: pelb.describe_target_health(TargetGroupArn=tg_arn)
               ["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy",
               timeout=60, what="the target healthy")
    for r in records(record_file):
        assert bytes.fromhex(r["data"]).startswith(SIGNATURE), r
