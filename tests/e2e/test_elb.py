"""ELBv2 for Network Load Balancers through boto3: load balancers and their node ENIs, target
groups, targets and their health, listeners, attributes, tags, waiters, visibility between
accounts, and AWS's validation errors."""

import json
import os
import re
import subprocess
import sys

import botocore.exceptions

from conftest import CONSUMER, OTHER, PROVIDER, expect_error, wait_until

REGION = "us-east-1"
LB_ARN_RE = re.compile(
    r"^arn:aws:elasticloadbalancing:us-east-1:(\d{12}):loadbalancer/net/([A-Za-z0-9-]+)/([0-9a-f]{16})$")
TG_ARN_RE = re.compile(
    r"^arn:aws:elasticloadbalancing:us-east-1:\d{12}:targetgroup/([A-Za-z0-9-]+)/[0-9a-f]{16}$")
LISTENER_ARN_RE = re.compile(
    r"^arn:aws:elasticloadbalancing:us-east-1:\d{12}:listener/net/([A-Za-z0-9-]+)/([0-9a-f]{16})/[0-9a-f]{16}$")
FAST = {"Delay": 1, "MaxAttempts": 10}


class Net:
    """A VPC with a subnet in each of two zones, for one account."""

    def __init__(self, daemon, account=PROVIDER, cidr="10.0.0.0/16"):
        self.ec2 = daemon.ec2(account)
        self.elb = daemon.elbv2(account)
        # Server-side validation is what these tests are about: skip botocore's own checks.
        self.raw = daemon.elbv2(account, parameter_validation=False)
        self.vpc = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        base = cidr.split(".")
        prefix = f"{base[0]}.{base[1]}"
        self.subnet_a = self.subnet(f"{prefix}.1.0/24", "us-east-1a")
        self.subnet_b = self.subnet(f"{prefix}.2.0/24", "us-east-1b")

    def subnet(self, cidr, zone):
        return self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr,
                                      AvailabilityZone=zone)["Subnet"]["SubnetId"]

    def lb(self, name="nlb", subnets=None, **kw):
        kw.setdefault("Type", "network")
        kw.setdefault("Scheme", "internal")
        if "SubnetMappings" not in kw:
            kw["Subnets"] = subnets or [self.subnet_a, self.subnet_b]
        return self.elb.create_load_balancer(Name=name, **kw)["LoadBalancers"][0]

    def tg(self, name="tg", **kw):
        kw.setdefault("Protocol", "TCP")
        kw.setdefault("Port", 80)
        kw.setdefault("VpcId", self.vpc)
        kw.setdefault("TargetType", "ip")
        return self.elb.create_target_group(Name=name, **kw)["TargetGroups"][0]

    def listener(self, lb_arn, tg_arn, port=80, **kw):
        kw.setdefault("Protocol", "TCP")
        return self.elb.create_listener(
            LoadBalancerArn=lb_arn, Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}], **kw)["Listeners"][0]

    def instance(self, subnet=None):
        r = self.ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1, SubnetId=subnet or self.subnet_a)
        return r["Instances"][0]["InstanceId"]

    def node_enis(self):
        enis = self.ec2.describe_network_interfaces()["NetworkInterfaces"]
        return [e for e in enis if e.get("Description", "").startswith("ELB net/")]


def attrs(resp):
    return {a["Key"]: a["Value"] for a in resp["Attributes"]}


# --- load balancers ---

def test_nlb_lifecycle_with_node_enis(daemon):
    n = Net(daemon)
    lb = n.lb("my-nlb", Tags=[{"Key": "team", "Value": "a"}])
    m = LB_ARN_RE.match(lb["LoadBalancerArn"])
    assert m, lb["LoadBalancerArn"]
    assert m.group(1) == PROVIDER and m.group(2) == "my-nlb"
    lb_id = m.group(3)
    assert lb["DNSName"] == f"my-nlb-{lb_id}.elb.{REGION}.amazonaws.com"
    assert lb["CanonicalHostedZoneId"] == "Z26RNL4JYFTOTI"
    assert lb["State"] == {"Code": "provisioning"}
    assert lb["Type"] == "network"
    assert lb["Scheme"] == "internal"
    assert lb["VpcId"] == n.vpc
    assert lb["IpAddressType"] == "ipv4"
    assert "SecurityGroups" not in lb
    zones = {z["ZoneName"]: z for z in lb["AvailabilityZones"]}
    assert set(zones) == {"us-east-1a", "us-east-1b"}
    assert zones["us-east-1a"]["SubnetId"] == n.subnet_a
    ip_a = zones["us-east-1a"]["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
    ip_b = zones["us-east-1b"]["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
    assert ip_a.startswith("10.0.1.") and ip_b.startswith("10.0.2.")

    # One requester-managed node ENI per subnet, holding the node's address.
    enis = n.node_enis()
    assert sorted(e["PrivateIpAddress"] for e in enis) == sorted([ip_a, ip_b])
    for e in enis:
        assert e["InterfaceType"] == "network_load_balancer"
        assert e["RequesterManaged"] is True
        assert e["Description"] == f"ELB net/my-nlb/{lb_id}"

    n.elb.get_waiter("load_balancer_available").wait(
        LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig=FAST)
    got = n.elb.describe_load_balancers(Names=["my-nlb"])["LoadBalancers"]
    assert [g["LoadBalancerArn"] for g in got] == [lb["LoadBalancerArn"]]
    assert got[0]["State"]["Code"] == "active"
    assert got[0]["CreatedTime"] == lb["CreatedTime"]
    got = n.elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])
    assert got["LoadBalancers"][0]["DNSName"] == lb["DNSName"]
    tags = n.elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"]
    assert tags == [{"ResourceArn": lb["LoadBalancerArn"], "Tags": [{"Key": "team", "Value": "a"}]}]

    n.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    n.elb.get_waiter("load_balancers_deleted").wait(
        LoadBalancerArns=[lb["LoadBalancerArn"]], WaiterConfig=FAST)
    assert n.node_enis() == []
    assert n.elb.describe_load_balancers()["LoadBalancers"] == []
    # Deleting what is gone succeeds, as on AWS.
    n.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_internet_facing_default_scheme_and_waiter_exists(daemon):
    n = Net(daemon)
    lb = n.elb.create_load_balancer(Name="pub", Type="network",
                                    Subnets=[n.subnet_a])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing"
    assert lb["AvailabilityZones"][0]["LoadBalancerAddresses"] == []
    n.elb.get_waiter("load_balancer_exists").wait(Names=["pub"], WaiterConfig=FAST)
    attrs_ = attrs(n.elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"]))
    assert attrs_["ipv6.deny_all_igw_traffic"] == "false"


def test_describe_load_balancers_errors_and_pages(daemon):
    n = Net(daemon)
    arns = [n.lb(f"lb{i}", subnets=[n.subnet_a])["LoadBalancerArn"] for i in range(5)]
    e = expect_error("LoadBalancerNotFound", n.elb.describe_load_balancers,
                     Names=["lb0", "nope"], status=400)
    assert "nope" in e["Error"]["Message"]
    missing = arns[0][:-16] + "0123456789abcdef"
    expect_error("LoadBalancerNotFound", n.elb.describe_load_balancers, LoadBalancerArns=[missing])
    e = expect_error("ValidationError", n.elb.describe_load_balancers, LoadBalancerArns=["arn:nope"])
    assert "is not a valid load balancer ARN" in e["Error"]["Message"]
    expect_error("ValidationError", n.elb.describe_load_balancers,
                 LoadBalancerArns=[arns[0]], Names=["lb0"])
    seen, marker = [], None
    while True:
        kw = {"PageSize": 2}
        if marker:
            kw["Marker"] = marker
        page = n.elb.describe_load_balancers(**kw)
        assert len(page["LoadBalancers"]) <= 2
        seen += [lb["LoadBalancerArn"] for lb in page["LoadBalancers"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == arns
    pages = n.elb.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 3})
    assert [lb["LoadBalancerName"] for p in pages for lb in p["LoadBalancers"]] == [
        f"lb{i}" for i in range(5)]
    for size in (0, 401):
        expect_error("ValidationError", n.raw.describe_load_balancers, PageSize=size)
    expect_error("ValidationError", n.elb.describe_load_balancers, Marker="not-a-marker")


def test_create_load_balancer_validation(daemon):
    n = Net(daemon)
    other_vpc = Net(daemon, cidr="10.9.0.0/16")
    for bad in ["-x", "x-", "a_b", "internal-x", "a" * 33]:
        expect_error("ValidationError", n.raw.create_load_balancer, Name=bad, Type="network",
                     Subnets=[n.subnet_a])
    # privlink serves Network Load Balancers: the default type (application) is refused.
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Subnets=[n.subnet_a])
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Type="gateway", Subnets=[n.subnet_a])
    expect_error("ValidationError", n.raw.create_load_balancer, Name="x", Type="classic",
                 Subnets=[n.subnet_a])
    expect_error("ValidationError", n.raw.create_load_balancer, Name="x", Type="network",
                 Scheme="public", Subnets=[n.subnet_a])
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Type="network", IpAddressType="dualstack", Subnets=[n.subnet_a])
    same_zone = n.subnet("10.0.3.0/24", "us-east-1a")
    e = expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                     Type="network", Subnets=[n.subnet_a, same_zone])
    assert "same Availability Zone" in e["Error"]["Message"]
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Type="network", Subnets=[n.subnet_a, other_vpc.subnet_b])
    expect_error("SubnetNotFound", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=["subnet-0123456789abcdef0"])
    stranger = Net(daemon, account=CONSUMER)
    expect_error("SubnetNotFound", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[stranger.subnet_a])
    expect_error("ValidationError", n.raw.create_load_balancer, Name="x", Type="network")
    expect_error("ValidationError", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[n.subnet_a], SubnetMappings=[{"SubnetId": n.subnet_b}])
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Type="network", Scheme="internet-facing",
                 SubnetMappings=[{"SubnetId": n.subnet_a, "PrivateIPv4Address": "10.0.1.50"}])
    expect_error("AllocationIdNotFound", n.elb.create_load_balancer, Name="x", Type="network",
                 SubnetMappings=[{"SubnetId": n.subnet_a, "AllocationId": "eipalloc-12345678"}])
    expect_error("InvalidConfigurationRequest", n.elb.create_load_balancer, Name="x",
                 Type="network", Scheme="internal",
                 SubnetMappings=[{"SubnetId": n.subnet_a, "PrivateIPv4Address": "10.0.2.50"}])
    foreign_sg = other_vpc.ec2.create_security_group(
        GroupName="w", Description="w", VpcId=other_vpc.vpc)["GroupId"]
    expect_error("InvalidSecurityGroup", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[n.subnet_a], SecurityGroups=[foreign_sg])
    expect_error("InvalidSecurityGroup", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[n.subnet_a], SecurityGroups=["sg-0123456789abcdef0"])
    expect_error("DuplicateTagKeys", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[n.subnet_a], Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])
    expect_error("TooManyTags", n.elb.create_load_balancer, Name="x", Type="network",
                 Subnets=[n.subnet_a], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    # No failed request left a load balancer or an address behind.
    assert n.elb.describe_load_balancers()["LoadBalancers"] == []
    assert n.node_enis() == []


def test_same_name_is_idempotent_or_duplicate(daemon):
    n = Net(daemon)
    lb = n.lb("twice")
    again = n.lb("twice", subnets=[n.subnet_b, n.subnet_a])
    assert again["LoadBalancerArn"] == lb["LoadBalancerArn"]
    expect_error("DuplicateLoadBalancerName", n.lb, "twice", subnets=[n.subnet_a])
    expect_error("DuplicateLoadBalancerName", n.lb, "twice", Scheme="internet-facing")
    assert len(n.node_enis()) == 2
    # Names are per account.
    other = Net(daemon, account=CONSUMER)
    assert other.lb("twice")["LoadBalancerArn"] != lb["LoadBalancerArn"]


def test_subnet_mapping_with_private_address(daemon):
    n = Net(daemon)
    lb = n.lb("fixed", SubnetMappings=[{"SubnetId": n.subnet_a, "PrivateIPv4Address": "10.0.1.200"}])
    assert lb["AvailabilityZones"][0]["LoadBalancerAddresses"] == [
        {"PrivateIPv4Address": "10.0.1.200"}]
    assert [e["PrivateIpAddress"] for e in n.node_enis()] == ["10.0.1.200"]
    e = expect_error("InvalidConfigurationRequest", n.lb, "fixed2",
                     SubnetMappings=[{"SubnetId": n.subnet_a, "PrivateIPv4Address": "10.0.1.200"}])
    assert "10.0.1.200" in e["Error"]["Message"]


def test_load_balancer_attributes_and_deletion_protection(daemon):
    n = Net(daemon)
    arn = n.lb()["LoadBalancerArn"]
    got = attrs(n.elb.describe_load_balancer_attributes(LoadBalancerArn=arn))
    assert got == {
        "access_logs.s3.enabled": "false",
        "access_logs.s3.bucket": "",
        "access_logs.s3.prefix": "",
        "deletion_protection.enabled": "false",
        "ipv6.deny_all_igw_traffic": "true",
        "load_balancing.cross_zone.enabled": "false",
        "dns_record.client_routing_policy": "any_availability_zone",
        "zonal_shift.config.enabled": "false",
        "secondary_ips.auto_assigned.per_subnet": "0",
    }
    out = n.elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "load_balancing.cross_zone.enabled", "Value": "true"},
        {"Key": "dns_record.client_routing_policy", "Value": "availability_zone_affinity"},
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    assert attrs(out)["load_balancing.cross_zone.enabled"] == "true"
    assert len(out["Attributes"]) == 9
    got = attrs(n.elb.describe_load_balancer_attributes(LoadBalancerArn=arn))
    assert got["dns_record.client_routing_policy"] == "availability_zone_affinity"
    expect_error("OperationNotPermitted", n.elb.delete_load_balancer, LoadBalancerArn=arn)
    for key, value, code in [
        ("no.such.key", "1", "ValidationError"),
        ("idle_timeout.timeout_seconds", "60", "InvalidConfigurationRequest"),
        ("deletion_protection.enabled", "maybe", "ValidationError"),
        ("secondary_ips.auto_assigned.per_subnet", "8", "ValidationError"),
        ("access_logs.s3.enabled", "true", "InvalidConfigurationRequest"),
    ]:
        expect_error(code, n.elb.modify_load_balancer_attributes, LoadBalancerArn=arn,
                     Attributes=[{"Key": key, "Value": value}])
    # All or nothing: a bad attribute in the request leaves the good one unapplied.
    expect_error("ValidationError", n.elb.modify_load_balancer_attributes, LoadBalancerArn=arn,
                 Attributes=[{"Key": "zonal_shift.config.enabled", "Value": "true"},
                             {"Key": "nope", "Value": "x"}])
    assert attrs(n.elb.describe_load_balancer_attributes(
        LoadBalancerArn=arn))["zonal_shift.config.enabled"] == "false"
    n.elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    n.elb.delete_load_balancer(LoadBalancerArn=arn)
    expect_error("LoadBalancerNotFound", n.elb.describe_load_balancer_attributes,
                 LoadBalancerArn=arn)


def test_security_groups(daemon):
    n = Net(daemon)
    sg1 = n.ec2.create_security_group(GroupName="a", Description="a", VpcId=n.vpc)["GroupId"]
    sg2 = n.ec2.create_security_group(GroupName="b", Description="b", VpcId=n.vpc)["GroupId"]
    lb = n.lb("withsg", SecurityGroups=[sg1])
    assert lb["SecurityGroups"] == [sg1]
    assert lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on"
    assert all(g["GroupId"] == sg1 for e in n.node_enis() for g in e["Groups"])
    out = n.elb.set_security_groups(
        LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[sg1, sg2],
        EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="off")
    assert out["SecurityGroupIds"] == [sg1, sg2]
    assert out["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    got = n.elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]
    assert got["SecurityGroups"] == [sg1, sg2]
    assert got["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    expect_error("InvalidConfigurationRequest", n.raw.set_security_groups,
                 LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[])
    plain = n.lb("nosg")
    expect_error("InvalidConfigurationRequest", n.elb.set_security_groups,
                 LoadBalancerArn=plain["LoadBalancerArn"], SecurityGroups=[sg1])
    expect_error("InvalidSecurityGroup", n.elb.set_security_groups,
                 LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=["sg-0123456789abcdef0"])


# --- target groups ---

def test_target_group_defaults_and_lifecycle(daemon):
    n = Net(daemon)
    tg = n.tg("web", TargetType="instance", Tags=[{"Key": "k", "Value": "v"}])
    assert TG_ARN_RE.match(tg["TargetGroupArn"]).group(1) == "web"
    assert tg["TargetGroupName"] == "web"
    assert tg["Protocol"] == "TCP" and tg["Port"] == 80 and tg["VpcId"] == n.vpc
    assert tg["HealthCheckProtocol"] == "TCP"
    assert tg["HealthCheckPort"] == "traffic-port"
    assert tg["HealthCheckEnabled"] is True
    assert tg["HealthCheckIntervalSeconds"] == 30
    assert tg["HealthCheckTimeoutSeconds"] == 10
    assert tg["HealthyThresholdCount"] == 5
    assert tg["UnhealthyThresholdCount"] == 2
    assert "HealthCheckPath" not in tg and "Matcher" not in tg
    assert tg["LoadBalancerArns"] == []
    assert tg["TargetType"] == "instance" and tg["IpAddressType"] == "ipv4"

    http = n.tg("http", HealthCheckProtocol="HTTP")
    assert http["HealthCheckTimeoutSeconds"] == 6
    assert http["HealthCheckPath"] == "/"
    assert http["Matcher"] == {"HttpCode": "200-399"}

    # The same name with the same settings is the same group; other settings are refused.
    assert n.tg("web", TargetType="instance")["TargetGroupArn"] == tg["TargetGroupArn"]
    expect_error("DuplicateTargetGroupName", n.tg, "web", TargetType="instance", Port=81)

    got = n.elb.describe_target_groups(Names=["web"])["TargetGroups"]
    assert [g["TargetGroupArn"] for g in got] == [tg["TargetGroupArn"]]
    got = n.elb.describe_target_groups(TargetGroupArns=[http["TargetGroupArn"]])["TargetGroups"]
    assert got[0]["TargetGroupName"] == "http"
    assert len(n.elb.describe_target_groups()["TargetGroups"]) == 2
    expect_error("TargetGroupNotFound", n.elb.describe_target_groups, Names=["nope"])
    expect_error("ValidationError", n.elb.describe_target_groups, TargetGroupArns=["arn:x"])
    expect_error("ValidationError", n.elb.describe_target_groups, Names=["web"],
                 TargetGroupArns=[tg["TargetGroupArn"]])

    mod = n.elb.modify_target_group(
        TargetGroupArn=tg["TargetGroupArn"], HealthCheckProtocol="HTTP",
        HealthCheckPath="/health", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=3, Matcher={"HttpCode": "200,204"},
        HealthCheckPort="8080")["TargetGroups"][0]
    assert mod["HealthCheckPath"] == "/health"
    assert mod["Matcher"] == {"HttpCode": "200,204"}
    assert (mod["HealthCheckIntervalSeconds"], mod["HealthCheckTimeoutSeconds"]) == (10, 5)
    assert mod["HealthyThresholdCount"] == 3 and mod["UnhealthyThresholdCount"] == 2
    assert mod["HealthCheckPort"] == "8080"
    expect_error("ValidationError", n.elb.modify_target_group,
                 TargetGroupArn=tg["TargetGroupArn"], HealthCheckTimeoutSeconds=10)
    back = n.elb.modify_target_group(TargetGroupArn=tg["TargetGroupArn"],
                                     HealthCheckProtocol="TCP")["TargetGroups"][0]
    assert "HealthCheckPath" not in back and "Matcher" not in back
    expect_error("InvalidConfigurationRequest", n.elb.modify_target_group,
                 TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/x")

    n.elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    expect_error("TargetGroupNotFound", n.elb.describe_target_groups,
                 TargetGroupArns=[tg["TargetGroupArn"]])
    # Deleting what is gone succeeds; a malformed ARN does not.
    n.elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    expect_error("ValidationError", n.elb.delete_target_group, TargetGroupArn="arn:nope")


def test_create_target_group_validation(daemon):
    n = Net(daemon)
    raw = n.raw

    def bad(code, **kw):
        args = {"Name": "x", "Protocol": "TCP", "Port": 80, "VpcId": n.vpc, "TargetType": "ip"}
        args.update(kw)
        args = {k: v for k, v in args.items() if v is not None}
        return expect_error(code, raw.create_target_group, **args)

    for name in ["-x", "x-", "a.b", "a" * 33]:
        bad("ValidationError", Name=name)
    bad("ValidationError", Protocol=None)
    bad("ValidationError", Protocol="SCTP")
    bad("InvalidConfigurationRequest", Protocol="HTTP")
    bad("ValidationError", Port=None)
    bad("ValidationError", Port=0)
    bad("ValidationError", Port=65536)
    bad("ValidationError", VpcId=None)
    bad("ValidationError", VpcId="vpc-0123456789abcdef0")
    bad("InvalidConfigurationRequest", TargetType="lambda")
    bad("InvalidConfigurationRequest", TargetType="alb")
    bad("InvalidConfigurationRequest", IpAddressType="ipv6")
    bad("ValidationError", HealthCheckIntervalSeconds=4)
    bad("ValidationError", HealthCheckIntervalSeconds=301)
    bad("ValidationError", HealthCheckTimeoutSeconds=1)
    bad("ValidationError", HealthyThresholdCount=11)
    bad("ValidationError", UnhealthyThresholdCount=1)
    e = bad("ValidationError", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=10)
    assert "smaller than the interval" in e["Error"]["Message"]
    bad("InvalidConfigurationRequest", HealthCheckPath="/health")
    bad("InvalidConfigurationRequest", Matcher={"HttpCode": "200"})
    bad("ValidationError", HealthCheckProtocol="HTTP", HealthCheckPath="health")
    bad("ValidationError", HealthCheckProtocol="HTTP", Matcher={"HttpCode": "600"})
    bad("InvalidConfigurationRequest", HealthCheckProtocol="UDP")
    bad("ValidationError", HealthCheckPort="0")
    bad("ValidationError", HealthCheckPort="http")
    bad("InvalidConfigurationRequest", HealthCheckEnabled=False)
    other = Net(daemon, account=CONSUMER)
    bad("ValidationError", VpcId=other.vpc)
    assert n.elb.describe_target_groups()["TargetGroups"] == []


def test_target_group_attributes(daemon):
    n = Net(daemon)
    inst = n.tg("inst", TargetType="instance")["TargetGroupArn"]
    ip = n.tg("ip", TargetType="ip")["TargetGroupArn"]
    udp = n.tg("udp", Protocol="UDP", TargetType="ip")["TargetGroupArn"]
    got = attrs(n.elb.describe_target_group_attributes(TargetGroupArn=inst))
    assert got == {
        "proxy_protocol_v2.enabled": "false",
        "preserve_client_ip.enabled": "true",
        "stickiness.enabled": "false",
        "deregistration_delay.timeout_seconds": "300",
        "stickiness.type": "source_ip",
        "deregistration_delay.connection_termination.enabled": "false",
        "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
        "target_health_state.unhealthy.connection_termination.enabled": "true",
        "target_health_state.unhealthy.draining_interval_seconds": "0",
        "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
    }
    assert attrs(n.elb.describe_target_group_attributes(
        TargetGroupArn=ip))["preserve_client_ip.enabled"] == "false"
    u = attrs(n.elb.describe_target_group_attributes(TargetGroupArn=udp))
    assert u["deregistration_delay.connection_termination.enabled"] == "true"
    out = attrs(n.elb.modify_target_group_attributes(TargetGroupArn=ip, Attributes=[
        {"Key": "proxy_protocol_v2.enabled", "Value": "true"},
        {"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
        {"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]))
    assert out["proxy_protocol_v2.enabled"] == "true"
    assert out["deregistration_delay.timeout_seconds"] == "30"
    assert attrs(n.elb.describe_target_group_attributes(
        TargetGroupArn=ip))["load_balancing.cross_zone.enabled"] == "true"
    for key, value, code in [
        ("deregistration_delay.timeout_seconds", "3601", "ValidationError"),
        ("deregistration_delay.timeout_seconds", "-1", "ValidationError"),
        ("stickiness.type", "lb_cookie", "InvalidConfigurationRequest"),
        ("slow_start.duration_seconds", "30", "InvalidConfigurationRequest"),
        ("no.such.key", "x", "ValidationError"),
        ("proxy_protocol_v2.enabled", "yes", "ValidationError"),
        ("target_health_state.unhealthy.draining_interval_seconds", "5",
         "InvalidConfigurationRequest"),
    ]:
        expect_error(code, n.elb.modify_target_group_attributes, TargetGroupArn=ip,
                     Attributes=[{"Key": key, "Value": value}])
    expect_error("InvalidConfigurationRequest", n.elb.modify_target_group_attributes,
                 TargetGroupArn=udp,
                 Attributes=[{"Key": "preserve_client_ip.enabled", "Value": "false"}])
    expect_error("TargetGroupNotFound", n.elb.describe_target_group_attributes,
                 TargetGroupArn=ip[:-16] + "0123456789abcdef")


# --- listeners ---

def test_listener_lifecycle(daemon):
    n = Net(daemon)
    lb = n.lb()
    lb_arn = lb["LoadBalancerArn"]
    tg = n.tg("tg")["TargetGroupArn"]
    listener = n.listener(lb_arn, tg, port=443, Tags=[{"Key": "l", "Value": "1"}])
    m = LISTENER_ARN_RE.match(listener["ListenerArn"])
    assert m and m.group(1) == "nlb" and lb_arn.endswith(m.group(2))
    assert listener["LoadBalancerArn"] == lb_arn
    assert (listener["Port"], listener["Protocol"]) == (443, "TCP")
    action = listener["DefaultActions"][0]
    assert action["Type"] == "forward" and action["TargetGroupArn"] == tg
    assert action["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": tg, "Weight": 1}]

    # The same listener again is the same listener; a different one on the port is refused.
    assert n.listener(lb_arn, tg, port=443)["ListenerArn"] == listener["ListenerArn"]
    tg2 = n.tg("tg2")["TargetGroupArn"]
    expect_error("DuplicateListener", n.listener, lb_arn, tg2, port=443)
    second = n.listener(lb_arn, tg2, port=8443)

    got = n.elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert [l["Port"] for l in got] == [443, 8443]
    got = n.elb.describe_listeners(ListenerArns=[second["ListenerArn"]])["Listeners"]
    assert [l["ListenerArn"] for l in got] == [second["ListenerArn"]]
    page = n.elb.describe_listeners(LoadBalancerArn=lb_arn, PageSize=1)
    assert len(page["Listeners"]) == 1 and page["NextMarker"]
    rest = n.elb.describe_listeners(LoadBalancerArn=lb_arn, Marker=page["NextMarker"])
    assert [l["Port"] for l in rest["Listeners"]] == [8443] and "NextMarker" not in rest
    expect_error("ValidationError", n.elb.describe_listeners)
    expect_error("ValidationError", n.elb.describe_listeners, LoadBalancerArn=lb_arn,
                 ListenerArns=[second["ListenerArn"]])

    # Target groups show the load balancers that route to them.
    tgs = n.elb.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
    assert sorted(g["TargetGroupArn"] for g in tgs) == sorted([tg, tg2])
    assert all(g["LoadBalancerArns"] == [lb_arn] for g in tgs)
    expect_error("ResourceInUse", n.elb.delete_target_group, TargetGroupArn=tg)

    mod = n.elb.modify_listener(ListenerArn=second["ListenerArn"], Port=9443,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    mod = mod["Listeners"][0]
    assert mod["Port"] == 9443 and mod["DefaultActions"][0]["TargetGroupArn"] == tg
    expect_error("DuplicateListener", n.elb.modify_listener, ListenerArn=second["ListenerArn"],
                 Port=443)
    expect_error("UnsupportedProtocol", n.elb.modify_listener, ListenerArn=second["ListenerArn"],
                 Protocol="UDP")

    # Listener attributes: the TCP idle timeout.
    got = attrs(n.elb.describe_listener_attributes(ListenerArn=listener["ListenerArn"]))
    assert got == {"tcp.idle_timeout.seconds": "350"}
    out = n.elb.modify_listener_attributes(ListenerArn=listener["ListenerArn"], Attributes=[
        {"Key": "tcp.idle_timeout.seconds", "Value": "600"}])
    assert attrs(out) == {"tcp.idle_timeout.seconds": "600"}
    for value in ["59", "6001", "x"]:
        expect_error("ValidationError", n.elb.modify_listener_attributes,
                     ListenerArn=listener["ListenerArn"],
                     Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": value}])
    expect_error("ValidationError", n.elb.modify_listener_attributes,
                 ListenerArn=listener["ListenerArn"], Attributes=[{"Key": "nope", "Value": "1"}])

    n.elb.delete_listener(ListenerArn=second["ListenerArn"])
    expect_error("ListenerNotFound", n.elb.describe_listeners,
                 ListenerArns=[second["ListenerArn"]])
    expect_error("ListenerNotFound", n.elb.delete_listener, ListenerArn=second["ListenerArn"])
    assert n.elb.describe_target_groups(
        TargetGroupArns=[tg2])["TargetGroups"][0]["LoadBalancerArns"] == []

    # Deleting the load balancer deletes its listeners and frees its target groups.
    n.elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    expect_error("ListenerNotFound", n.elb.describe_listeners,
                 ListenerArns=[listener["ListenerArn"]])
    expect_error("LoadBalancerNotFound", n.elb.describe_listeners, LoadBalancerArn=lb_arn)
    n.elb.delete_target_group(TargetGroupArn=tg)


def test_create_listener_validation(daemon):
    n = Net(daemon)
    lb = n.lb()["LoadBalancerArn"]
    lb2 = n.lb("other")["LoadBalancerArn"]
    tg = n.tg("tg")["TargetGroupArn"]
    udp = n.tg("udp", Protocol="UDP")["TargetGroupArn"]
    far = Net(daemon, cidr="10.5.0.0/16")
    far_tg = n.tg("far", VpcId=far.vpc)["TargetGroupArn"]
    fwd = [{"Type": "forward", "TargetGroupArn": tg}]
    expect_error("UnsupportedProtocol", n.elb.create_listener, LoadBalancerArn=lb,
                 Protocol="UDP", Port=53, DefaultActions=fwd)
    expect_error("UnsupportedProtocol", n.elb.create_listener, LoadBalancerArn=lb,
                 Protocol="TLS", Port=443, DefaultActions=fwd)
    expect_error("ValidationError", n.raw.create_listener, LoadBalancerArn=lb,
                 Protocol="SMTP", Port=25, DefaultActions=fwd)
    expect_error("ValidationError", n.raw.create_listener, LoadBalancerArn=lb,
                 Protocol="TCP", Port=0, DefaultActions=fwd)
    expect_error("ValidationError", n.raw.create_listener, LoadBalancerArn=lb,
                 Protocol="TCP", DefaultActions=fwd)
    expect_error("IncompatibleProtocols", n.listener, lb, udp)
    expect_error("InvalidConfigurationRequest", n.listener, lb, far_tg)
    expect_error("TargetGroupNotFound", n.listener, lb, tg[:-16] + "0123456789abcdef")
    expect_error("ValidationError", n.listener, lb, "arn:aws:nope")
    expect_error("LoadBalancerNotFound", n.listener, lb[:-16] + "0123456789abcdef", tg)
    expect_error("InvalidLoadBalancerAction", n.elb.create_listener, LoadBalancerArn=lb,
                 Protocol="TCP", Port=80,
                 DefaultActions=[{"Type": "fixed-response",
                                  "FixedResponseConfig": {"StatusCode": "200"}}])
    expect_error("InvalidLoadBalancerAction", n.elb.create_listener, LoadBalancerArn=lb,
                 Protocol="TCP", Port=80, DefaultActions=[{
                     "Type": "forward", "ForwardConfig": {"TargetGroups": [
                         {"TargetGroupArn": tg}, {"TargetGroupArn": udp}]}}])
    expect_error("InvalidConfigurationRequest", n.elb.create_listener, LoadBalancerArn=lb,
                 Protocol="TCP", Port=80, DefaultActions=fwd, SslPolicy="ELBSecurityPolicy-2016-08")
    # A forward given as a ForwardConfig works too.
    via_config = n.elb.create_listener(
        LoadBalancerArn=lb, Protocol="TCP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg, "Weight": 1}]}}])["Listeners"][0]
    assert via_config["DefaultActions"][0]["TargetGroupArn"] == tg
    # A target group serves one load balancer only.
    expect_error("TargetGroupAssociationLimit", n.listener, lb2, tg)
    assert n.elb.describe_listeners(LoadBalancerArn=lb2)["Listeners"] == []


# --- targets ---

def test_instance_targets_and_health(daemon):
    n = Net(daemon)
    i_a = n.instance(n.subnet_a)
    i_b = n.instance(n.subnet_b)
    tg = n.tg("inst", TargetType="instance", Port=8080)["TargetGroupArn"]
    n.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i_a}, {"Id": i_b, "Port": 9090}])
    # Registering the same target again changes nothing.
    n.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i_a}])

    def health(**kw):
        rows = n.elb.describe_target_health(TargetGroupArn=tg, **kw)["TargetHealthDescriptions"]
        return {(r["Target"]["Id"], r["Target"]["Port"]): r for r in rows}

    h = health()
    assert set(h) == {(i_a, 8080), (i_b, 9090)}
    for r in h.values():
        assert r["TargetHealth"] == {
            "State": "unused", "Reason": "Target.NotInUse",
            "Description": "Target group is not configured to receive traffic from the load balancer"}
    assert h[(i_b, 9090)]["HealthCheckPort"] == "9090"

    # Once a listener forwards to it, targets in the load balancer's zones start registering.
    lb = n.lb(subnets=[n.subnet_a])["LoadBalancerArn"]
    n.listener(lb, tg)
    h = health()
    assert h[(i_a, 8080)]["TargetHealth"]["State"] == "initial"
    assert h[(i_a, 8080)]["TargetHealth"]["Reason"] == "Elb.RegistrationInProgress"
    assert h[(i_a, 8080)]["HealthCheckPort"] == "8080"
    assert h[(i_b, 9090)]["TargetHealth"]["State"] == "unused"
    assert h[(i_b, 9090)]["TargetHealth"]["Reason"] == "Target.NotInUse"

    # Asking about one target, or one never registered.
    only = health(Targets=[{"Id": i_a}])
    assert list(only) == [(i_a, 8080)]
    expect_error("InvalidTarget", n.elb.describe_target_health, TargetGroupArn=tg,
                 Targets=[{"Id": "i-0123456789abcdef0"}])
    never = health(Targets=[{"Id": i_a, "Port": 1234}])
    assert never[(i_a, 1234)]["TargetHealth"]["State"] == "unused"
    assert never[(i_a, 1234)]["TargetHealth"]["Reason"] == "Target.NotRegistered"

    # Deregistered targets drain for the deregistration delay.
    n.elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i_a}])
    h = health()
    assert h[(i_a, 8080)]["TargetHealth"]["State"] == "draining"
    assert h[(i_a, 8080)]["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
    n.elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    wait_until(lambda: (i_a, 8080) not in health(), timeout=10, what="draining to end")
    n.elb.get_waiter("target_deregistered").wait(
        TargetGroupArn=tg, Targets=[{"Id": i_a}], WaiterConfig=FAST)
    # Deregistering a target that is not registered is a no-op, as on AWS; an id that is not
    # an instance is refused.
    n.elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i_a}])
    expect_error("ValidationError", n.elb.deregister_targets, TargetGroupArn=tg,
                 Targets=[{"Id": "10.0.1.5"}])

    # Re-registering brings it back; a terminated instance shows as such.
    n.elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i_a}])
    n.ec2.terminate_instances(InstanceIds=[i_a])
    h = health()
    assert h[(i_a, 8080)]["TargetHealth"]["Reason"] == "Target.InvalidState"


def test_target_validation(daemon):
    n = Net(daemon)
    other_vpc = Net(daemon, cidr="10.7.0.0/16")
    stranger = Net(daemon, account=CONSUMER)
    inst = n.tg("inst", TargetType="instance")["TargetGroupArn"]
    ip = n.tg("ip", TargetType="ip")["TargetGroupArn"]
    dead = n.instance()
    n.ec2.terminate_instances(InstanceIds=[dead])
    far = other_vpc.instance()
    theirs = stranger.instance()
    e = expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=inst,
                     Targets=[{"Id": dead}])
    assert "running state" in e["Error"]["Message"] and dead in e["Error"]["Message"]
    e = expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=inst,
                     Targets=[{"Id": far}])
    assert "VPC" in e["Error"]["Message"]
    expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=inst,
                 Targets=[{"Id": theirs}])
    expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=inst,
                 Targets=[{"Id": "10.0.1.5"}])
    expect_error("ValidationError", n.raw.register_targets, TargetGroupArn=inst,
                 Targets=[{"Id": n.instance(), "Port": 70000}])
    expect_error("ValidationError", n.elb.register_targets, TargetGroupArn=inst,
                 Targets=[{"Id": n.instance(), "AvailabilityZone": "us-east-1a"}])
    # ip targets: addresses of the VPC's subnets, or private ranges outside with zone `all`.
    n.elb.register_targets(TargetGroupArn=ip, Targets=[
        {"Id": "10.0.1.10", "Port": 8080},
        {"Id": "10.0.2.10"},
        {"Id": "192.168.1.1", "AvailabilityZone": "all"}])
    for bad in [{"Id": "8.8.8.8", "AvailabilityZone": "all"},
                {"Id": "192.168.1.2"},
                {"Id": "10.0.1.11", "AvailabilityZone": "us-east-1b"},
                {"Id": "i-0123456789abcdef0"}]:
        expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=ip, Targets=[bad])
    rows = n.elb.describe_target_health(TargetGroupArn=ip)["TargetHealthDescriptions"]
    got = {(r["Target"]["Id"], r["Target"]["Port"], r["Target"].get("AvailabilityZone"))
           for r in rows}
    assert got == {("10.0.1.10", 8080, "us-east-1a"), ("10.0.2.10", 80, "us-east-1b"),
                   ("192.168.1.1", 80, "all")}
    # A failed registration registers none of its targets.
    expect_error("InvalidTarget", n.elb.register_targets, TargetGroupArn=ip,
                 Targets=[{"Id": "10.0.1.20"}, {"Id": "8.8.8.8"}])
    assert len(n.elb.describe_target_health(TargetGroupArn=ip)["TargetHealthDescriptions"]) == 3
    expect_error("TargetGroupNotFound", n.elb.register_targets,
                 TargetGroupArn=ip[:-16] + "0123456789abcdef", Targets=[{"Id": "10.0.1.10"}])


# --- tags ---

def test_tags_on_all_resource_kinds(daemon):
    n = Net(daemon)
    lb = n.lb()["LoadBalancerArn"]
    tg = n.tg()["TargetGroupArn"]
    listener = n.listener(lb, tg)["ListenerArn"]
    arns = [lb, tg, listener]
    n.elb.add_tags(ResourceArns=arns, Tags=[{"Key": "env", "Value": "dev"},
                                            {"Key": "team", "Value": "x"}])
    n.elb.add_tags(ResourceArns=[tg], Tags=[{"Key": "env", "Value": "prod"}])
    got = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
           for d in n.elb.describe_tags(ResourceArns=arns)["TagDescriptions"]}
    assert got == {lb: {"env": "dev", "team": "x"}, tg: {"env": "prod", "team": "x"},
                   listener: {"env": "dev", "team": "x"}}
    n.elb.remove_tags(ResourceArns=[lb, listener], TagKeys=["env", "missing"])
    got = n.elb.describe_tags(ResourceArns=[lb])["TagDescriptions"][0]["Tags"]
    assert got == [{"Key": "team", "Value": "x"}]

    expect_error("TooManyTags", n.elb.add_tags, ResourceArns=[tg],
                 Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    expect_error("DuplicateTagKeys", n.elb.add_tags, ResourceArns=[tg],
                 Tags=[{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
    expect_error("ValidationError", n.elb.add_tags, ResourceArns=[tg],
                 Tags=[{"Key": "aws:reserved", "Value": "1"}])
    expect_error("ValidationError", n.elb.describe_tags, ResourceArns=["arn:nope"])
    expect_error("ValidationError", n.raw.describe_tags, ResourceArns=[lb] * 21)
    expect_error("LoadBalancerNotFound", n.elb.add_tags,
                 ResourceArns=[lb[:-16] + "0123456789abcdef"], Tags=[{"Key": "a", "Value": "b"}])
    # All or nothing: one unknown resource and nothing is tagged.
    expect_error("TargetGroupNotFound", n.elb.add_tags,
                 ResourceArns=[lb, tg[:-16] + "0123456789abcdef"],
                 Tags=[{"Key": "new", "Value": "1"}])
    assert "new" not in {t["Key"] for t in
                         n.elb.describe_tags(ResourceArns=[lb])["TagDescriptions"][0]["Tags"]}


# --- visibility ---

def test_other_accounts_see_nothing(daemon):
    n = Net(daemon)
    lb = n.lb()["LoadBalancerArn"]
    tg = n.tg()["TargetGroupArn"]
    listener = n.listener(lb, tg)["ListenerArn"]
    other = Net(daemon, account=OTHER, cidr="10.0.0.0/16")
    elb = other.elb
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []
    expect_error("LoadBalancerNotFound", elb.describe_load_balancers, LoadBalancerArns=[lb])
    expect_error("LoadBalancerNotFound", elb.describe_load_balancer_attributes, LoadBalancerArn=lb)
    expect_error("LoadBalancerNotFound", elb.modify_load_balancer_attributes, LoadBalancerArn=lb,
                 Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}])
    expect_error("LoadBalancerNotFound", elb.describe_listeners, LoadBalancerArn=lb)
    expect_error("TargetGroupNotFound", elb.describe_target_groups, TargetGroupArns=[tg])
    expect_error("TargetGroupNotFound", elb.describe_target_health, TargetGroupArn=tg)
    expect_error("TargetGroupNotFound", elb.register_targets, TargetGroupArn=tg,
                 Targets=[{"Id": "10.0.1.9"}])
    expect_error("ListenerNotFound", elb.describe_listeners, ListenerArns=[listener])
    expect_error("ListenerNotFound", elb.delete_listener, ListenerArn=listener)
    expect_error("LoadBalancerNotFound", elb.describe_tags, ResourceArns=[lb])
    expect_error("ListenerNotFound", elb.add_tags, ResourceArns=[listener],
                 Tags=[{"Key": "a", "Value": "b"}])
    # Its own load balancer cannot use the provider's target group.
    own_lb = other.lb("mine")["LoadBalancerArn"]
    expect_error("TargetGroupNotFound", other.listener, own_lb, tg)
    # Deleting another account's load balancer or group changes nothing.
    elb.delete_load_balancer(LoadBalancerArn=lb)
    elb.delete_target_group(TargetGroupArn=tg)
    assert len(n.elb.describe_load_balancers()["LoadBalancers"]) == 1
    assert len(n.elb.describe_target_groups()["TargetGroups"]) == 1


def test_load_balancer_used_by_endpoint_service_cannot_be_deleted(daemon):
    n = Net(daemon)
    lb = n.lb()["LoadBalancerArn"]
    svc = n.ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb], AcceptanceRequired=False)["ServiceConfiguration"]
    expect_error("ResourceInUse", n.elb.delete_load_balancer, LoadBalancerArn=lb)
    n.ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])

    def gone():
        try:
            n.elb.delete_load_balancer(LoadBalancerArn=lb)
            return True
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceInUse"
            return False

    wait_until(gone, timeout=10, what="the service to release the load balancer")
    assert n.elb.describe_load_balancers()["LoadBalancers"] == []


def test_aws_cli(daemon):
    n = Net(daemon)
    n.lb("cli")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=PROVIDER, AWS_SECRET_ACCESS_KEY="x",
               AWS_DEFAULT_REGION=REGION)
    # The CLI comes with the test requirements; run it as a module so PATH does not matter.
    out = subprocess.run([sys.executable, "-m", "awscli", "elbv2", "describe-load-balancers", "--names", "cli",
                          "--endpoint-url", daemon.url, "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["LoadBalancers"][0]["LoadBalancerName"] == "cli"
