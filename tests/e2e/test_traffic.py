"""Traffic through an interface endpoint: a client in a consumer instance reaches the
provider's instances behind an NLB, across two VPCs with the same CIDR.

Needs root (network namespaces); without it the test fails, it never skips. Every process
runs inside the test daemon's own namespaces (`ip netns exec`); nothing connects from the
host's namespace to a VPC address. The servers are killed at the end, also on failure.
"""

import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER, REGION, network_daemon, require_root, wait_until
from test_network import prefix_of

AMI = "ami-12345678"

# Answers every GET with "<name> <peer address>" (the peer is what the proxy connects from).
SERVER = r"""
import http.server, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} {self.client_address[0]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""

# One GET; prints "<status> <body>" or "ERR <error>".
CLIENT = r"""
import sys, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=3)
    print(r.status, r.read().decode())
except Exception as e:
    print("ERR", type(e).__name__, e)
"""


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the traffic tests")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


@pytest.fixture
def servers():
    """Processes started in instance namespaces; killed (and reaped) at the end."""
    procs = []
    yield procs
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def netns_exec(ns, *args, **kw):
    return ["ip", "netns", "exec", ns, *args]


def instance(ec2, subnet):
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                          SubnetId=subnet)["Instances"][0]
    return i["InstanceId"], i["PrivateIpAddress"]


def running(ec2, iid):
    r = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return r["State"]["Name"] == "running"


def default_group(ec2, vpc_id):
    """The VPC's `default` security group: every instance created without groups has it."""
    return ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"][0]["GroupId"]


def allow_tcp(ec2, group_id, port, cidr):
    """Admits TCP `port` from `cidr` into `group_id`. As on AWS, targets behind an NLB
    without security groups must admit the NLB's node addresses (here: the VPC's CIDR) on
    the traffic and health-check port; the default group admits only its own members."""
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "IpRanges": [{"CidrIp": cidr}]}])


def get(ns, url):
    out = subprocess.run(netns_exec(ns, sys.executable, "-c", CLIENT, url),
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def test_an_interface_endpoint_carries_traffic_to_the_nlb_targets(daemon, data_dir, servers):
    prefix = prefix_of(data_dir)
    pec2, pelb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    cec2 = daemon.ec2(CONSUMER)

    # Provider: a VPC, two instances serving HTTP on 8080, an NLB in front of them.
    pvpc = pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    psub = pec2.create_subnet(VpcId=pvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    allow_tcp(pec2, default_group(pec2, pvpc), 8080, "10.0.0.0/16")
    backends = [instance(pec2, psub) for _ in range(2)]
    for iid, _ in backends:
        wait_until(lambda: running(pec2, iid), timeout=30, what=f"{iid} running")
    for n, (iid, _) in enumerate(backends):
        servers.append(subprocess.Popen(
            netns_exec(f"{prefix}-{iid}", sys.executable, "-c", SERVER, f"backend{n}"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    lb = pelb.create_load_balancer(Name="web", Type="network", Scheme="internal",
                                   Subnets=[psub])["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    tg = pelb.create_target_group(Name="web", Protocol="TCP", Port=8080, VpcId=pvpc,
                                  TargetType="instance", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                  HealthyThresholdCount=2)["TargetGroups"][0]
    tg_arn = tg["TargetGroupArn"]
    pelb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": i} for i, _ in backends])
    pelb.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=80,
                         DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    node_ips = {ni["PrivateIpAddress"] for ni in pec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [pvpc]}])["NetworkInterfaces"]
        if ni.get("InterfaceType") == "network_load_balancer"}
    assert node_ips, "the NLB has a node address in the provider VPC"

    svc = pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False)["ServiceConfiguration"]
    pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])

    # Consumer: the same CIDR, a client instance, an endpoint.
    cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    csub = cec2.create_subnet(VpcId=cvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    client, _ = instance(cec2, csub)
    wait_until(lambda: running(cec2, client), timeout=30, what="client running")
    ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                  ServiceName=svc["ServiceName"],
                                  SubnetIds=[csub])["VpcEndpoint"]
    ep_id = ep["VpcEndpointId"]

    def ep_state():
        eps = cec2.describe_vpc_endpoints(VpcEndpointIds=[ep_id])["VpcEndpoints"]
        return eps[0]["State"] if eps else None

    wait_until(lambda: ep_state() == "available", timeout=30, what="endpoint available")
    eni = cec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]
    url = f"http://{eni['PrivateIpAddress']}:80/"
    client_ns = f"{prefix}-{client}"

    # Available means programmed: the first request already gets through (the servers may
    # still be starting, hence the wait).
    first = wait_until(lambda: (a := get(client_ns, url)).startswith("200 ") and a,
                       timeout=30, what="first answer through the endpoint")
    seen = set()
    peers = set()

    def both_answered():
        answer = get(client_ns, url)
        assert answer.startswith("200 "), answer
        _, name, peer = answer.split()
        seen.add(name)
        peers.add(peer)
        return seen == {"backend0", "backend1"}

    assert first.split()[2] in node_ips
    wait_until(both_answered, timeout=60, interval=0, what="both backends answer")
    assert peers <= node_ips, f"targets see the NLB node address, not {peers - node_ips}"

    # Deleting the endpoint closes its listener: connections fail.
    cec2.delete_vpc_endpoints(VpcEndpointIds=[ep_id])
    wait_until(lambda: get(client_ns, url).startswith("ERR"), timeout=30,
               what="endpoint gone: connection refused")
