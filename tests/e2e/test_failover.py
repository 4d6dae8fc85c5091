"""Target health from the data plane's checks, and failover through an interface endpoint.

Two provider instances serve HTTP behind an NLB whose target group checks every 5 seconds
(thresholds 2); a consumer instance reaches them through an endpoint. DescribeTargetHealth
follows the checks (initial, healthy, unhealthy, draining), and traffic follows the health:
a dead target gets no new connection once it is marked unhealthy, all-unhealthy fails open,
a deregistered target gets no new connection.

Needs root (network namespaces); without it the test fails, it never skips. Every process
runs inside the test daemon's own namespaces (`ip netns exec`); each server is killed and
reaped at the end, also on failure.
"""

import subprocess
import sys
import time

import pytest

from conftest import CONSUMER, PROVIDER, REGION, wait_until
from test_network import prefix_of
from test_traffic import (SERVER, allow_tcp, daemon, default_group, get, instance,  # noqa: F401
                          needs_root, netns_exec, running)

INTERVAL = 5
THRESHOLD = 2
# Time to flip a verdict: THRESHOLD checks, the first up to an interval away, plus slack for a
# loaded machine.
FLIP = INTERVAL * (THRESHOLD + 1) + 10


@pytest.fixture
def servers():
    """`start(ns, name)` / `stop(name)`; every process started is killed and reaped at the end."""
    started = []
    running_ = {}

    class Servers:
        def start(self, ns, name):
            p = subprocess.Popen(netns_exec(ns, sys.executable, "-c", SERVER, name),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(p)
            running_[name] = p

        def stop(self, name):
            p = running_.pop(name)
            p.kill()
            p.wait(timeout=10)

    yield Servers()
    for p in started:
        p.kill()
        p.wait(timeout=10)


def health(elb, tg_arn):
    """{target id: (state, reason)}."""
    out = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
            for d in out}


def test_health_checks_drive_describe_target_health_and_failover(daemon, data_dir, servers):
    prefix = prefix_of(data_dir)
    pec2, pelb = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER)
    cec2 = daemon.ec2(CONSUMER)

    pvpc = pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    psub = pec2.create_subnet(VpcId=pvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    # The targets admit the NLB's node address (in the VPC's CIDR) on the target port.
    allow_tcp(pec2, default_group(pec2, pvpc), 8080, "10.0.0.0/16")
    (b0, _), (b1, _) = backends = [instance(pec2, psub) for _ in range(2)]
    for iid, _ in backends:
        wait_until(lambda: running(pec2, iid), timeout=30, what=f"{iid} running")
    name = {b0: "backend0", b1: "backend1"}
    ns = {b0: f"{prefix}-{b0}", b1: f"{prefix}-{b1}"}
    for b in (b0, b1):
        servers.start(ns[b], name[b])

    lb_arn = pelb.create_load_balancer(Name="web", Type="network", Scheme="internal",
                                       Subnets=[psub])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_arn = pelb.create_target_group(
        Name="web", Protocol="TCP", Port=8080, VpcId=pvpc, TargetType="instance",
        HealthCheckIntervalSeconds=INTERVAL, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=THRESHOLD, UnhealthyThresholdCount=THRESHOLD,
    )["TargetGroups"][0]["TargetGroupArn"]
    pelb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": b0}, {"Id": b1}])
    # No listener yet: nothing is checked.
    assert health(pelb, tg_arn) == {b0: ("unused", "Target.NotInUse"),
                                    b1: ("unused", "Target.NotInUse")}
    pelb.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=80,
                         DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])

    # The first check passes at once, but one pass is not the threshold: initial, checking.
    wait_until(lambda: set(health(pelb, tg_arn).values())
               == {("initial", "Elb.InitialHealthChecking")},
               timeout=INTERVAL, what="initial health checking")
    pelb.get_waiter("target_in_service").wait(
        TargetGroupArn=tg_arn, Targets=[{"Id": b0}, {"Id": b1}],
        WaiterConfig={"Delay": 1, "MaxAttempts": FLIP})
    d = pelb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert {x["Target"]["Id"]: x["TargetHealth"] for x in d} == {
        b0: {"State": "healthy"}, b1: {"State": "healthy"}}, "healthy has no reason"
    assert {x["Target"]["Port"] for x in d} == {8080}

    svc = pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False)["ServiceConfiguration"]
    pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
    cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    csub = cec2.create_subnet(VpcId=cvpc, CidrBlock="10.0.1.0/24",
                              AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    client, _ = instance(cec2, csub)
    wait_until(lambda: running(cec2, client), timeout=30, what="client running")
    ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                  ServiceName=svc["ServiceName"],
                                  SubnetIds=[csub])["VpcEndpoint"]
    wait_until(lambda: cec2.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
               ["VpcEndpoints"][0]["State"] == "available", timeout=30,
               what="endpoint available")
    eni = cec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]
    url = f"http://{eni['PrivateIpAddress']}:80/"
    client_ns = f"{prefix}-{client}"

    def answerer():
        """The backend that answered one new connection ("ERR" when it failed)."""
        a = get(client_ns, url)
        return a.split()[1] if a.startswith("200 ") else "ERR"

    seen = set()
    wait_until(lambda: seen.add(answerer()) or {"backend0", "backend1"} <= seen,
               timeout=30, interval=0, what="both backends answer")
    assert "ERR" not in seen, "no failed connection while both are healthy"

    # One server dies: marked unhealthy within the thresholds' time, then no new connection
    # goes to it.
    servers.stop("backend1")
    wait_until(lambda: health(pelb, tg_arn)[b1][0] == "unhealthy", timeout=FLIP,
               what="backend1 unhealthy")
    assert health(pelb, tg_arn) == {b0: ("healthy", None),
                                    b1: ("unhealthy", "Target.FailedHealthChecks")}
    answers = [answerer() for _ in range(20)]
    assert answers == ["backend0"] * 20, answers

    # Both die: all unhealthy. A restarted server gets traffic before it is healthy again
    # (fail-open: with no healthy target, connections are attempted to all of them).
    servers.stop("backend0")
    wait_until(lambda: health(pelb, tg_arn)[b0][0] == "unhealthy", timeout=FLIP,
               what="backend0 unhealthy")
    assert answerer() == "ERR"
    servers.start(ns[b0], "backend0")
    deadline = time.monotonic() + FLIP
    while True:
        assert time.monotonic() < deadline, "the restarted server never answered"
        if answerer() == "backend0":
            break
    assert health(pelb, tg_arn)[b0][0] == "unhealthy", (
        "answered while still unhealthy: fail-open (the window is a whole check interval)")
    wait_until(lambda: health(pelb, tg_arn)[b0] == ("healthy", None), timeout=FLIP,
               what="backend0 healthy again")
    # A healthy target again: the unhealthy one gets nothing.
    answers = [answerer() for _ in range(10)]
    assert answers == ["backend0"] * 10, answers

    # Deregistration: draining, and no new connection to it even though it is healthy.
    servers.start(ns[b1], "backend1")
    wait_until(lambda: health(pelb, tg_arn)[b1] == ("healthy", None), timeout=FLIP,
               what="backend1 healthy again")
    seen = set()
    wait_until(lambda: seen.add(answerer()) or "backend1" in seen, timeout=30, interval=0,
               what="backend1 answers again")
    pelb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": b1}])
    assert health(pelb, tg_arn) == {
        b0: ("healthy", None), b1: ("draining", "Target.DeregistrationInProgress")}
    # The data plane drops it from selection on its next pass; wait for one answer from the
    # remaining target after the change, then every new connection must go there.
    wait_until(lambda: answerer() == "backend0", timeout=10, interval=0,
               what="backend0 answers after the deregistration")
    answers = [answerer() for _ in range(20)]
    assert answers == ["backend0"] * 20, answers
