"""EC2 networking through boto3: VPCs, availability zones, subnets, security groups and their
rules, network interfaces, and instance records (Run/Describe/TerminateInstances)."""

import base64
import ipaddress

import botocore.handlers
import pytest

from conftest import CONSUMER, OTHER, PROVIDER, REGION, Daemon, expect_error

MALFORMED_VPC = "vpc-xyz"
UNKNOWN_VPC = "vpc-0123456789abcdef0"
UNKNOWN_SUBNET = "subnet-0123456789abcdef0"
UNKNOWN_SG = "sg-0123456789abcdef0"
UNKNOWN_ENI = "eni-0123456789abcdef0"
UNKNOWN_INSTANCE = "i-0123456789abcdef0"
AMI = "ami-0123456789abcdef0"


# --- helpers -------------------------------------------------------------------------------

def vpc(ec2, cidr="10.0.0.0/16", **kw):
    return ec2.create_vpc(CidrBlock=cidr, **kw)["Vpc"]["VpcId"]


def subnet(ec2, vpc_id, cidr="10.0.1.0/24", **kw):
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, **kw)["Subnet"]


def group(ec2, vpc_id, name="web", **kw):
    return ec2.create_security_group(GroupName=name, Description=f"{name} group",
                                     VpcId=vpc_id, **kw)["GroupId"]


def default_group(ec2, vpc_id):
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                 {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(groups) == 1
    return groups[0]


def run(ec2, subnet_id, count=1, **kw):
    return ec2.run_instances(ImageId=AMI, MinCount=kw.pop("MinCount", count),
                             MaxCount=kw.pop("MaxCount", count), SubnetId=subnet_id, **kw)


def instances(ec2, **kw):
    return [i for r in ec2.describe_instances(**kw)["Reservations"] for i in r["Instances"]]


def tcp(port, cidr="0.0.0.0/0", **extra):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": cidr, **extra}]}


def unchecked(daemon, account=PROVIDER):
    """A client that sends what it is given, so the server's own validation answers."""
    return daemon.ec2(account, parameter_validation=False)


def all_pages(call, key, **kw):
    """Every item of a paginated describe, checking each page's size."""
    items, token = [], None
    while True:
        args = dict(kw)
        if token:
            args["NextToken"] = token
        page = call(**args)
        assert len(page[key]) <= kw["MaxResults"]
        items += page[key]
        token = page.get("NextToken")
        if not token:
            return items


# --- VPCs ----------------------------------------------------------------------------------

def test_vpc_lifecycle_and_default_group(daemon):
    ec2 = daemon.ec2(PROVIDER)
    created = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "p"}]}])["Vpc"]
    vpc_id = created["VpcId"]
    assert vpc_id.startswith("vpc-") and len(vpc_id) == 21
    assert created["State"] == "available"
    assert created["CidrBlockAssociationSet"][0]["CidrBlock"] == "10.0.0.0/16"
    assert created["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    assert created["IsDefault"] is False and created["InstanceTenancy"] == "default"
    assert created["Tags"] == [{"Key": "Name", "Value": "p"}]
    # Every VPC comes with its default group: all from itself in, all out.
    default = default_group(ec2, vpc_id)
    assert default["Description"] == "default VPC security group"
    assert default["OwnerId"] == PROVIDER
    assert default["IpPermissions"] == [{
        "IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": [{"GroupId": default["GroupId"], "UserId": PROVIDER}]}]
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    ec2.delete_vpc(VpcId=vpc_id)
    assert ec2.describe_vpcs()["Vpcs"] == []
    # Its default group went with it.
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups,
                 GroupIds=[default["GroupId"]])


def test_vpc_filters_and_pagination(daemon):
    ec2 = daemon.ec2(PROVIDER)
    ids = [vpc(ec2, f"10.{i}.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "env", "Value": "a" if i < 2 else "b"}]}])
        for i in range(6)]

    def names(**kw):
        return sorted(v["VpcId"] for v in ec2.describe_vpcs(**kw)["Vpcs"])

    assert names(Filters=[{"Name": "vpc-id", "Values": [ids[0]]}]) == [ids[0]]
    assert names(Filters=[{"Name": "cidr", "Values": ["10.3.0.0/16"]}]) == [ids[3]]
    assert names(Filters=[{"Name": "cidr-block-association.cidr-block",
                           "Values": ["10.4.*"]}]) == [ids[4]]
    assert names(Filters=[{"Name": "tag:env", "Values": ["a"]}]) == sorted(ids[:2])
    assert names(Filters=[{"Name": "tag-value", "Values": ["b"]}]) == sorted(ids[2:])
    assert names(Filters=[{"Name": "tag-key", "Values": ["nope"]}]) == []
    assert names(Filters=[{"Name": "state", "Values": ["available"]},
                          {"Name": "owner-id", "Values": [PROVIDER]},
                          {"Name": "is-default", "Values": ["false"]}]) == sorted(ids)
    assert names(Filters=[{"Name": "is-default", "Values": ["true"]}]) == []
    expect_error("InvalidParameterValue", ec2.describe_vpcs,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    got = all_pages(ec2.describe_vpcs, "Vpcs", MaxResults=5)
    assert sorted(v["VpcId"] for v in got) == sorted(ids)
    assert len(ec2.describe_vpcs(MaxResults=5)["Vpcs"]) == 5
    expect_error("InvalidParameterValue", unchecked(daemon).describe_vpcs, MaxResults=4)
    expect_error("InvalidPaginationToken", ec2.describe_vpcs, MaxResults=5, NextToken="zz")


def test_vpc_errors_visibility_and_dry_run(daemon):
    ec2 = daemon.ec2(PROVIDER)
    other = daemon.ec2(CONSUMER)
    vpc_id = vpc(ec2)
    expect_error("InvalidVpcID.Malformed", ec2.describe_vpcs, VpcIds=[MALFORMED_VPC])
    resp = expect_error("InvalidVpcID.NotFound", ec2.describe_vpcs,
                        VpcIds=[vpc_id, UNKNOWN_VPC, "vpc-0123456789abcdef1"])
    msg = resp["Error"]["Message"]
    assert UNKNOWN_VPC in msg and "vpc-0123456789abcdef1" in msg and vpc_id not in msg
    expect_error("InvalidVpcID.NotFound", ec2.delete_vpc, VpcId=UNKNOWN_VPC)
    expect_error("InvalidVpcID.Malformed", ec2.delete_vpc, VpcId=MALFORMED_VPC)
    # Another account sees nothing and can touch nothing.
    assert other.describe_vpcs()["Vpcs"] == []
    expect_error("InvalidVpcID.NotFound", other.describe_vpcs, VpcIds=[vpc_id], status=400)
    expect_error("InvalidVpcID.NotFound", other.delete_vpc, VpcId=vpc_id)
    expect_error("InvalidVpcID.NotFound", other.modify_vpc_attribute, VpcId=vpc_id,
                 EnableDnsHostnames={"Value": True})
    # DryRun checks everything and changes nothing.
    expect_error("DryRunOperation", ec2.create_vpc, CidrBlock="10.9.0.0/16", DryRun=True,
                 status=412)
    expect_error("DryRunOperation", ec2.delete_vpc, VpcId=vpc_id, DryRun=True, status=412)
    expect_error("DryRunOperation", ec2.describe_vpcs, DryRun=True, status=412)
    expect_error("InvalidVpcID.NotFound", ec2.delete_vpc, VpcId=UNKNOWN_VPC, DryRun=True)
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [vpc_id]
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="10.0.0.0/33")
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="10.0.0.1/16")
    expect_error("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/8")
    expect_error("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/29")


def test_vpc_attributes(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)

    def attr(name, key):
        return ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=name)[key]["Value"]

    assert attr("enableDnsSupport", "EnableDnsSupport") is True
    assert attr("enableDnsHostnames", "EnableDnsHostnames") is False
    assert attr("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics") is False
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert attr("enableDnsHostnames", "EnableDnsHostnames") is True
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableNetworkAddressUsageMetrics={"Value": True})
    assert attr("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics") is True
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": False})
    assert attr("enableDnsSupport", "EnableDnsSupport") is False
    # Hostnames need DNS support.
    expect_error("InvalidParameterValue", ec2.modify_vpc_attribute, VpcId=vpc_id,
                 EnableDnsHostnames={"Value": True})
    expect_error("InvalidParameterCombination", ec2.modify_vpc_attribute, VpcId=vpc_id,
                 EnableDnsHostnames={"Value": True}, EnableDnsSupport={"Value": True})
    expect_error("MissingParameter", ec2.modify_vpc_attribute, VpcId=vpc_id)
    expect_error("InvalidParameterValue", ec2.describe_vpc_attribute, VpcId=vpc_id,
                 Attribute="bogus")
    # DescribeVpcAttribute is a read: DryRun answers DryRunOperation.
    expect_error("DryRunOperation", ec2.describe_vpc_attribute, VpcId=vpc_id,
                 Attribute="enableDnsSupport", DryRun=True)


def test_delete_vpc_dependencies(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id)["SubnetId"]
    expect_error("DependencyViolation", ec2.delete_vpc, VpcId=vpc_id)
    ec2.delete_subnet(SubnetId=sub)
    sg = group(ec2, vpc_id)
    expect_error("DependencyViolation", ec2.delete_vpc, VpcId=vpc_id)
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_vpc(VpcId=vpc_id)
    expect_error("InvalidVpcID.NotFound", ec2.describe_vpcs, VpcIds=[vpc_id])


# --- availability zones --------------------------------------------------------------------

def test_availability_zones(daemon):
    ec2 = daemon.ec2(PROVIDER)
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert [z["ZoneId"] for z in zones] == ["use1-az1", "use1-az2", "use1-az3"]
    for z in zones:
        assert z["State"] == "available"
        assert z["RegionName"] == REGION
        assert z["ZoneType"] == "availability-zone"
        assert z["OptInStatus"] == "opt-in-not-required"
        assert z["GroupName"] == REGION and z["NetworkBorderGroup"] == REGION
        assert z["Messages"] == []

    def names(**kw):
        return [z["ZoneName"] for z in ec2.describe_availability_zones(**kw)["AvailabilityZones"]]

    assert names(ZoneNames=["us-east-1b"]) == ["us-east-1b"]
    assert names(ZoneIds=["use1-az3"]) == ["us-east-1c"]
    assert names(ZoneNames=["us-east-1a"], ZoneIds=["use1-az3"]) == ["us-east-1a", "us-east-1c"]
    assert names(Filters=[{"Name": "zone-name", "Values": ["*b"]}]) == ["us-east-1b"]
    assert names(Filters=[{"Name": "zone-id", "Values": ["use1-az1", "use1-az2"]}]) == \
        ["us-east-1a", "us-east-1b"]
    assert names(Filters=[{"Name": "state", "Values": ["available"]},
                          {"Name": "region-name", "Values": [REGION]}]) == \
        ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert names(Filters=[{"Name": "zone-type", "Values": ["local-zone"]}]) == []
    assert names(AllAvailabilityZones=True) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    expect_error("InvalidParameterValue", ec2.describe_availability_zones,
                 ZoneNames=["us-east-1z"])
    expect_error("InvalidParameterValue", ec2.describe_availability_zones, ZoneIds=["use1-az9"])
    expect_error("InvalidParameterValue", ec2.describe_availability_zones,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    expect_error("DryRunOperation", ec2.describe_availability_zones, DryRun=True)


def test_other_region_names(data_dir):
    d = Daemon(data_dir, region="eu-west-1").start()
    try:
        ec2 = d.ec2(PROVIDER)
        zones = ec2.describe_availability_zones()["AvailabilityZones"]
        assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [
            ("eu-west-1a", "euw1-az1"), ("eu-west-1b", "euw1-az2"), ("eu-west-1c", "euw1-az3")]
        vpc_id = vpc(ec2)
        sub = subnet(ec2, vpc_id, AvailabilityZoneId="euw1-az2")
        assert sub["AvailabilityZone"] == "eu-west-1b"
        assert sub["SubnetArn"].startswith("arn:aws:ec2:eu-west-1:")
        inst = run(ec2, sub["SubnetId"])["Instances"][0]
        assert inst["PrivateDnsName"] == "ip-10-0-1-4.eu-west-1.compute.internal"
    finally:
        d.kill()


# --- subnets -------------------------------------------------------------------------------

def test_subnet_lifecycle(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "a"}]}])["Subnet"]
    assert sub["SubnetId"].startswith("subnet-") and len(sub["SubnetId"]) == 24
    assert sub["VpcId"] == vpc_id and sub["CidrBlock"] == "10.0.1.0/24"
    assert sub["State"] == "available" and sub["OwnerId"] == PROVIDER
    # No zone given: the region's first.
    assert sub["AvailabilityZone"] == "us-east-1a" and sub["AvailabilityZoneId"] == "use1-az1"
    assert sub["AvailableIpAddressCount"] == 251
    assert sub["SubnetArn"] == f"arn:aws:ec2:{REGION}:{PROVIDER}:subnet/{sub['SubnetId']}"
    assert sub["DefaultForAz"] is False and sub["MapPublicIpOnLaunch"] is False
    assert sub["Ipv6CidrBlockAssociationSet"] == []
    assert sub["Tags"] == [{"Key": "Name", "Value": "a"}]
    b = subnet(ec2, vpc_id, "10.0.2.0/28", AvailabilityZone="us-east-1b")
    assert b["AvailabilityZone"] == "us-east-1b" and b["AvailabilityZoneId"] == "use1-az2"
    assert b["AvailableIpAddressCount"] == 11
    c = subnet(ec2, vpc_id, "10.0.128.0/17", AvailabilityZoneId="use1-az3")
    assert c["AvailabilityZone"] == "us-east-1c"
    got = ec2.describe_subnets(SubnetIds=[sub["SubnetId"]])["Subnets"]
    assert got == [sub]
    ec2.delete_subnet(SubnetId=b["SubnetId"])
    assert sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]) == \
        sorted([sub["SubnetId"], c["SubnetId"]])
    expect_error("InvalidSubnetID.NotFound", ec2.delete_subnet, SubnetId=b["SubnetId"])


def test_subnet_validation(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    subnet(ec2, vpc_id, "10.0.4.0/22")
    # Outside the VPC, too small, too large.
    for cidr in ["10.1.0.0/24", "10.0.8.0/29", "10.0.0.0/15", "9.255.255.0/24"]:
        expect_error("InvalidSubnet.Range", ec2.create_subnet, VpcId=vpc_id, CidrBlock=cidr)
    # Overlapping another subnet: inside it, containing it, or the same.
    for cidr in ["10.0.5.0/24", "10.0.0.0/20", "10.0.4.0/22"]:
        resp = expect_error("InvalidSubnet.Conflict", ec2.create_subnet, VpcId=vpc_id,
                            CidrBlock=cidr)
        assert resp["Error"]["Message"] == f"The CIDR '{cidr}' conflicts with another subnet"
    expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id,
                 CidrBlock="10.0.9.1/24")
    expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id, CidrBlock="nope")
    expect_error("MissingParameter", ec2.create_subnet, VpcId=vpc_id)
    resp = expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id,
                        CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1z")
    assert resp["Error"]["Message"] == (
        "Value (us-east-1z) for parameter availabilityZone is invalid. Subnets can currently "
        "only be created in the following availability zones: us-east-1a, us-east-1b, "
        "us-east-1c.")
    expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id,
                 CidrBlock="10.0.9.0/24", AvailabilityZoneId="use1-az7")
    expect_error("InvalidParameterCombination", ec2.create_subnet, VpcId=vpc_id,
                 CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1a",
                 AvailabilityZoneId="use1-az1")
    expect_error("InvalidVpcID.NotFound", ec2.create_subnet, VpcId=UNKNOWN_VPC,
                 CidrBlock="10.0.9.0/24")
    expect_error("InvalidVpcID.Malformed", ec2.create_subnet, VpcId=MALFORMED_VPC,
                 CidrBlock="10.0.9.0/24")
    expect_error("InvalidParameterValue", ec2.create_subnet, VpcId=vpc_id,
                 CidrBlock="10.0.9.0/24",
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])
    expect_error("DryRunOperation", ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.9.0/24",
                 DryRun=True)
    # Another account cannot use the VPC.
    expect_error("InvalidVpcID.NotFound", daemon.ec2(CONSUMER).create_subnet, VpcId=vpc_id,
                 CidrBlock="10.0.9.0/24")
    # Nothing above created anything.
    assert [s["CidrBlock"] for s in ec2.describe_subnets()["Subnets"]] == ["10.0.4.0/22"]
    # The same block is fine in another VPC.
    subnet(ec2, vpc(ec2), "10.0.4.0/22")


def test_subnet_filters_pagination_and_visibility(daemon):
    ec2 = daemon.ec2(PROVIDER)
    other = daemon.ec2(CONSUMER)
    v1, v2 = vpc(ec2), vpc(ec2, "172.16.0.0/16")
    s = [subnet(ec2, v1, f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{'abc'[i % 3]}",
                TagSpecifications=[{"ResourceType": "subnet",
                                    "Tags": [{"Key": "tier", "Value": f"t{i % 2}"}]}])
         for i in range(5)]
    s.append(subnet(ec2, v2, "172.16.0.0/28"))
    ids = [x["SubnetId"] for x in s]

    def names(*filters):
        return sorted(x["SubnetId"] for x in ec2.describe_subnets(
            Filters=[{"Name": n, "Values": v} for n, v in filters])["Subnets"])

    assert names(("vpc-id", [v2])) == [ids[5]]
    assert names(("subnet-id", [ids[1], ids[2]])) == sorted(ids[1:3])
    assert names(("availability-zone", ["us-east-1b"])) == sorted([ids[1], ids[4]])
    assert names(("availability-zone-id", ["use1-az3"])) == [ids[2]]
    assert names(("cidr-block", ["10.0.3.0/24"])) == [ids[3]]
    assert names(("cidr", ["172.16.*"])) == [ids[5]]
    assert names(("state", ["available"]), ("owner-id", [PROVIDER])) == sorted(ids)
    assert names(("tag:tier", ["t1"])) == sorted([ids[1], ids[3]])
    assert names(("tag-key", ["tier"]), ("vpc-id", [v1])) == sorted(ids[:5])
    assert names(("available-ip-address-count", ["11"])) == [ids[5]]
    assert names(("default-for-az", ["true"])) == []
    assert names(("subnet-arn", [f"*{ids[0]}"])) == [ids[0]]
    expect_error("InvalidParameterValue", ec2.describe_subnets,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    got = all_pages(ec2.describe_subnets, "Subnets", MaxResults=5)
    assert sorted(x["SubnetId"] for x in got) == sorted(ids)
    expect_error("InvalidParameterValue", unchecked(daemon).describe_subnets,
                 MaxResults=1001)
    expect_error("InvalidSubnetID.Malformed", ec2.describe_subnets, SubnetIds=["subnet-q"])
    expect_error("InvalidSubnetID.NotFound", ec2.describe_subnets, SubnetIds=[UNKNOWN_SUBNET])
    expect_error("DryRunOperation", ec2.describe_subnets, DryRun=True)
    expect_error("DryRunOperation", ec2.delete_subnet, SubnetId=ids[0], DryRun=True)
    assert len(ec2.describe_subnets()["Subnets"]) == 6
    # Another account: nothing visible, nothing deletable.
    assert other.describe_subnets()["Subnets"] == []
    expect_error("InvalidSubnetID.NotFound", other.describe_subnets, SubnetIds=[ids[0]])
    expect_error("InvalidSubnetID.NotFound", other.delete_subnet, SubnetId=ids[0])


def test_delete_subnet_dependencies(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id)["SubnetId"]
    iid = run(ec2, sub)["Instances"][0]["InstanceId"]
    resp = expect_error("DependencyViolation", ec2.delete_subnet, SubnetId=sub)
    assert resp["Error"]["Message"] == \
        f"The subnet '{sub}' has dependencies and cannot be deleted."
    ec2.terminate_instances(InstanceIds=[iid])
    # Terminated instances no longer hold their subnet.
    ec2.delete_subnet(SubnetId=sub)
    assert instances(ec2, InstanceIds=[iid])[0]["State"]["Name"] == "terminated"


# --- security groups -----------------------------------------------------------------------

def test_security_group_lifecycle(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    resp = ec2.create_security_group(
        GroupName="web", Description="web servers", VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group",
                            "Tags": [{"Key": "Name", "Value": "w"}]}])
    gid = resp["GroupId"]
    assert gid.startswith("sg-") and len(gid) == 20
    assert resp["SecurityGroupArn"] == f"arn:aws:ec2:{REGION}:{PROVIDER}:security-group/{gid}"
    assert resp["Tags"] == [{"Key": "Name", "Value": "w"}]
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert g["GroupName"] == "web" and g["Description"] == "web servers"
    assert g["VpcId"] == vpc_id and g["OwnerId"] == PROVIDER
    assert g["SecurityGroupArn"] == resp["SecurityGroupArn"]
    assert g["IpPermissions"] == []
    # AWS's egress rule of every new group.
    assert g["IpPermissionsEgress"] == [{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
        "PrefixListIds": [], "UserIdGroupPairs": []}]
    assert g["Tags"] == [{"Key": "Name", "Value": "w"}]
    # The same name in another VPC is another group.
    group(ec2, vpc(ec2, "10.1.0.0/16"), "web")
    expect_error("DryRunOperation", ec2.delete_security_group, GroupId=gid, DryRun=True)
    deleted = ec2.delete_security_group(GroupId=gid)
    assert deleted["Return"] is True and deleted["GroupId"] == gid
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups, GroupIds=[gid])
    expect_error("InvalidGroup.NotFound", ec2.delete_security_group, GroupId=gid)


def test_create_security_group_errors(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    group(ec2, vpc_id, "web")
    resp = expect_error("InvalidGroup.Duplicate", ec2.create_security_group, GroupName="web",
                        Description="again", VpcId=vpc_id)
    assert resp["Error"]["Message"] == \
        f"The security group 'web' already exists for VPC '{vpc_id}'"
    expect_error("InvalidGroup.Reserved", ec2.create_security_group, GroupName="default",
                 Description="d", VpcId=vpc_id)
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName="sg-web",
                 Description="d", VpcId=vpc_id)
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName="x" * 256,
                 Description="d", VpcId=vpc_id)
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName="ok",
                 Description="caf\u00e9", VpcId=vpc_id)
    expect_error("InvalidParameterValue", ec2.create_security_group, GroupName="a|b",
                 Description="d", VpcId=vpc_id)
    expect_error("MissingParameter", ec2.create_security_group, GroupName="",
                 Description="d", VpcId=vpc_id)
    expect_error("MissingParameter", ec2.create_security_group, GroupName="n",
                 Description="", VpcId=vpc_id)
    resp = expect_error("VPCIdNotSpecified", ec2.create_security_group, GroupName="n",
                        Description="d")
    assert resp["Error"]["Message"] == "No default VPC for this user"
    expect_error("InvalidVpcID.NotFound", ec2.create_security_group, GroupName="n",
                 Description="d", VpcId=UNKNOWN_VPC)
    expect_error("InvalidVpcID.NotFound", daemon.ec2(CONSUMER).create_security_group,
                 GroupName="n", Description="d", VpcId=vpc_id)
    expect_error("DryRunOperation", ec2.create_security_group, GroupName="n",
                 Description="d", VpcId=vpc_id, DryRun=True)
    names = sorted(g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"])
    assert names == ["default", "web"]


def test_describe_security_groups(daemon):
    ec2 = daemon.ec2(PROVIDER)
    other = daemon.ec2(CONSUMER)
    v1, v2 = vpc(ec2), vpc(ec2, "10.1.0.0/16")
    web = group(ec2, v1, "web", TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "role", "Value": "front"}]}])
    db = group(ec2, v1, "db")
    app = group(ec2, v2, "app")
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": web}]}])
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[tcp(443, "10.0.0.0/8")])
    d1, d2 = default_group(ec2, v1)["GroupId"], default_group(ec2, v2)["GroupId"]
    extra = group(ec2, v2, "extra")

    def names(*filters):
        return sorted(g["GroupId"] for g in ec2.describe_security_groups(
            Filters=[{"Name": n, "Values": v} for n, v in filters])["SecurityGroups"])

    assert names() == sorted([web, db, app, d1, d2, extra])
    assert names(("vpc-id", [v2])) == sorted([app, d2, extra])
    assert names(("group-name", ["web", "app"])) == sorted([web, app])
    assert names(("group-id", [db])) == [db]
    assert names(("description", ["db group"])) == [db]
    assert names(("owner-id", [PROVIDER]), ("group-name", ["default"])) == sorted([d1, d2])
    assert names(("tag:role", ["front"])) == [web]
    assert names(("ip-permission.from-port", ["5432"])) == [db]
    assert names(("ip-permission.group-id", [web])) == [db]
    assert names(("ip-permission.group-name", ["web"])) == [db]
    assert names(("ip-permission.cidr", ["10.0.0.0/8"])) == [web]
    assert names(("ip-permission.protocol", ["tcp"])) == sorted([web, db])
    assert names(("ip-permission.user-id", [PROVIDER]), ("vpc-id", [v1])) == sorted([db, d1])
    assert names(("egress.ip-permission.cidr", ["0.0.0.0/0"])) == \
        sorted([web, db, app, d1, d2, extra])
    assert names(("egress.ip-permission.protocol", ["tcp"])) == []
    expect_error("InvalidParameterValue", ec2.describe_security_groups,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    got = all_pages(ec2.describe_security_groups, "SecurityGroups", MaxResults=5)
    assert sorted(g["GroupId"] for g in got) == sorted([web, db, app, d1, d2, extra])
    got = ec2.describe_security_groups(MaxResults=5)
    assert len(got["SecurityGroups"]) == 5 and got["NextToken"]
    got = all_pages(ec2.describe_security_groups, "SecurityGroups", MaxResults=5,
                    Filters=[{"Name": "vpc-id", "Values": [v1]}])
    assert sorted(g["GroupId"] for g in got) == sorted([web, db, d1])
    # Without a default VPC, groups cannot be named: AWS's answer in that case.
    resp = expect_error("InvalidParameterValue", ec2.describe_security_groups,
                        GroupNames=["web"])
    assert "You may not reference Amazon VPC security groups by name" in \
        resp["Error"]["Message"]
    expect_error("InvalidGroupId.Malformed", ec2.describe_security_groups, GroupIds=["sg-x"])
    expect_error("InvalidGroup.NotFound", ec2.describe_security_groups,
                 GroupIds=[web, UNKNOWN_SG])
    expect_error("DryRunOperation", ec2.describe_security_groups, DryRun=True)
    # Another account sees none of them.
    assert other.describe_security_groups()["SecurityGroups"] == []
    expect_error("InvalidGroup.NotFound", other.describe_security_groups, GroupIds=[web])


def test_authorize_ingress(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    gid = group(ec2, vpc_id)
    peer = group(ec2, vpc_id, "peer")
    resp = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 80, "ToPort": 80,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"},
                      {"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "UDP", "FromPort": 53, "ToPort": 53,
         "UserIdGroupPairs": [{"GroupId": peer, "Description": "dns"}]},
        {"IpProtocol": "1", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
        {"IpProtocol": "-1", "FromPort": 0, "ToPort": 65535,
         "IpRanges": [{"CidrIp": "192.168.0.0/16"}]},
        {"IpProtocol": "50", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
    ])
    assert resp["Return"] is True
    rules = resp["SecurityGroupRules"]
    assert len(rules) == 6
    assert all(r["SecurityGroupRuleId"].startswith("sgr-") for r in rules)
    assert all(r["GroupId"] == gid and r["GroupOwnerId"] == PROVIDER for r in rules)
    assert all(r["IsEgress"] is False for r in rules)
    assert [r["IpProtocol"] for r in rules] == ["tcp", "tcp", "udp", "icmp", "-1", "50"]
    assert rules[0]["CidrIpv4"] == "0.0.0.0/0" and rules[0]["Description"] == "http"
    assert rules[2]["ReferencedGroupInfo"] == {"GroupId": peer, "UserId": PROVIDER}
    assert (rules[3]["FromPort"], rules[3]["ToPort"]) == (8, -1)
    # All protocols cover all ports: the ports sent are dropped.
    assert (rules[4]["FromPort"], rules[4]["ToPort"]) == (-1, -1)
    assert rules[5]["CidrIpv6"] == "2001:db8::/32"
    assert rules[0]["SecurityGroupRuleArn"] == \
        f"arn:aws:ec2:{REGION}:{PROVIDER}:security-group-rule/{rules[0]['SecurityGroupRuleId']}"
    perms = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"]
    assert perms == [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "http"}, {"CidrIp": "10.0.0.0/8"}],
         "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "UserIdGroupPairs": [{"Description": "dns", "GroupId": peer, "UserId": PROVIDER}],
         "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "10.1.0.0/16"}], "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "-1", "UserIdGroupPairs": [], "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
         "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "50", "UserIdGroupPairs": [], "IpRanges": [],
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}], "PrefixListIds": []},
    ]
    # The legacy flat form.
    flat = ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=22,
                                                ToPort=22, CidrIp="10.9.0.0/16")
    assert flat["SecurityGroupRules"][0]["FromPort"] == 22
    # Tags for the new rules.
    tagged = ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[tcp(8080)],
        TagSpecifications=[{"ResourceType": "security-group-rule",
                            "Tags": [{"Key": "k", "Value": "v"}]}])
    assert tagged["SecurityGroupRules"][0]["Tags"] == [{"Key": "k", "Value": "v"}]
    count = len(ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"])
    assert count == 7


def test_authorize_errors_change_nothing(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    gid = group(ec2, vpc_id)
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22)])

    def fails(code, **kw):
        return expect_error(code, ec2.authorize_security_group_ingress, GroupId=gid, **kw)

    # The same rule again (the description does not make it another).
    resp = fails("InvalidPermission.Duplicate", IpPermissions=[tcp(22, Description="x")])
    assert resp["Error"]["Message"] == \
        'the specified rule "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW" already exists'
    fails("InvalidPermission.Duplicate", IpPermissions=[tcp(23), tcp(23)])
    # A good rule alongside a bad one is not added either.
    fails("InvalidPermission.Duplicate", IpPermissions=[tcp(24), tcp(22)])
    fails("InvalidParameterValue", IpPermissions=[tcp(25), {"IpProtocol": "tcp", "FromPort": 1,
                                                           "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"IpProtocol": "tcp", "FromPort": 0,
                                                  "ToPort": 70000,
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"IpProtocol": "tcp", "FromPort": 90,
                                                  "ToPort": 80,
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"IpProtocol": "icmp", "FromPort": -1,
                                                  "ToPort": 3,
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"IpProtocol": "bogus", "FromPort": 1,
                                                  "ToPort": 1,
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"IpProtocol": "300",
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[{"FromPort": 1, "ToPort": 1,
                                                  "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}])
    fails("InvalidParameterValue", IpPermissions=[tcp(26, "1.2.3.4/8")])
    fails("InvalidParameterValue", IpPermissions=[tcp(26, "not-a-cidr")])
    fails("MissingParameter", IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1}])
    fails("MissingParameter")
    fails("InvalidParameterCombination", IpPermissions=[tcp(27)], CidrIp="1.0.0.0/8")
    fails("InvalidPrefixListId.NotFound", IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
         "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}]}])
    # Referenced groups: unknown, another VPC's, by name, another account's.
    fails("InvalidGroup.NotFound", IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": UNKNOWN_SG}]}])
    elsewhere = group(ec2, vpc(ec2, "10.1.0.0/16"), "elsewhere")
    resp = fails("InvalidGroup.NotFound", IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": elsewhere}]}])
    assert resp["Error"]["Message"] == \
        "You have specified two resources that belong to different networks."
    fails("InvalidParameterValue", IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupName": "web"}]}])
    other = daemon.ec2(CONSUMER)
    theirs = group(other, vpc(other), "theirs")
    fails("InvalidGroup.NotFound", IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": theirs}]}])
    fails("DryRunOperation", IpPermissions=[tcp(28)], DryRun=True)
    perms = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"]
    assert [p["FromPort"] for p in perms] == [22]
    # The group itself: unknown, malformed, another account's, by name (no default VPC).
    expect_error("InvalidGroup.NotFound", ec2.authorize_security_group_ingress,
                 GroupId=UNKNOWN_SG, IpPermissions=[tcp(1)])
    expect_error("InvalidGroupId.Malformed", ec2.authorize_security_group_ingress,
                 GroupId="sg-zz", IpPermissions=[tcp(1)])
    expect_error("InvalidGroup.NotFound", other.authorize_security_group_ingress,
                 GroupId=gid, IpPermissions=[tcp(1)])
    expect_error("VPCIdNotSpecified", ec2.authorize_security_group_ingress,
                 GroupName="web", IpPermissions=[tcp(1)])


def test_egress_rules(daemon):
    ec2 = daemon.ec2(PROVIDER)
    gid = group(ec2, vpc(ec2))
    # Replace the allow-all egress rule with a narrower one.
    revoked = ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert revoked["Return"] is True
    assert revoked["RevokedSecurityGroupRules"][0]["IsEgress"] is True
    assert revoked["RevokedSecurityGroupRules"][0]["CidrIpv4"] == "0.0.0.0/0"
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert g["IpPermissionsEgress"] == []
    added = ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[tcp(443)])
    assert added["SecurityGroupRules"][0]["IsEgress"] is True
    g = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert [p["FromPort"] for p in g["IpPermissionsEgress"]] == [443]
    assert g["IpPermissions"] == []
    expect_error("InvalidPermission.Duplicate", ec2.authorize_security_group_egress,
                 GroupId=gid, IpPermissions=[tcp(443)])
    expect_error("InvalidPermission.NotFound", ec2.revoke_security_group_egress,
                 GroupId=gid, IpPermissions=[tcp(444)])
    expect_error("InvalidGroup.NotFound", ec2.authorize_security_group_egress,
                 GroupId=UNKNOWN_SG, IpPermissions=[tcp(443)])


def test_revoke_ingress(daemon):
    ec2 = daemon.ec2(PROVIDER)
    gid = group(ec2, vpc(ec2))
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        tcp(22), tcp(80), tcp(443), {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ids = [r["SecurityGroupRuleId"] for r in added["SecurityGroupRules"]]

    def ports():
        perms = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"]
        return [p.get("FromPort", "all") for p in perms]

    # One missing rule: nothing is revoked.
    resp = expect_error("InvalidPermission.NotFound", ec2.revoke_security_group_ingress,
                        GroupId=gid, IpPermissions=[tcp(22), tcp(23)])
    assert resp["Error"]["Message"] == "The specified rule does not exist in this security group."
    assert ports() == [22, 80, 443, "all"]
    expect_error("InvalidPermission.NotFound", ec2.revoke_security_group_ingress, GroupId=gid,
                 IpPermissions=[tcp(22, "10.0.0.0/8")])
    expect_error("DryRunOperation", ec2.revoke_security_group_ingress, GroupId=gid,
                 IpPermissions=[tcp(22)], DryRun=True)
    assert ports() == [22, 80, 443, "all"]
    # Protocol numbers match their names; all-protocol rules match whatever ports were sent.
    out = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ignored"}]},
        {"IpProtocol": "-1", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert [r["SecurityGroupRuleId"] for r in out["RevokedSecurityGroupRules"]] == \
        [ids[0], ids[3]]
    assert ports() == [80, 443]
    # The legacy flat form, and rule ids.
    ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=80, ToPort=80,
                                      CidrIp="0.0.0.0/0")
    out = ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=[ids[2]])
    assert out["RevokedSecurityGroupRules"][0]["FromPort"] == 443
    assert ports() == []
    expect_error("InvalidSecurityGroupRuleId.NotFound", ec2.revoke_security_group_ingress,
                 GroupId=gid, SecurityGroupRuleIds=[ids[2]])
    expect_error("InvalidSecurityGroupRuleId.Malformed", ec2.revoke_security_group_ingress,
                 GroupId=gid, SecurityGroupRuleIds=["sgr-x"])
    expect_error("MissingParameter", ec2.revoke_security_group_ingress, GroupId=gid)
    expect_error("InvalidGroup.NotFound", daemon.ec2(CONSUMER).revoke_security_group_ingress,
                 GroupId=gid, IpPermissions=[tcp(22)])


def test_delete_security_group_rules(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id)["SubnetId"]
    default = default_group(ec2, vpc_id)["GroupId"]
    resp = expect_error("CannotDelete", ec2.delete_security_group, GroupId=default)
    assert default in resp["Error"]["Message"]
    resp = expect_error("VPCIdNotSpecified", ec2.delete_security_group, GroupName="web")
    assert resp["Error"]["Message"] == ("No default VPC for this user. GroupName is only "
                                        "supported for EC2-Classic and default VPC.")
    expect_error("MissingParameter", ec2.delete_security_group)
    expect_error("InvalidGroupId.Malformed", ec2.delete_security_group, GroupId="sg-nope")
    # A rule of another group naming it holds it; a rule naming itself does not.
    a, b = group(ec2, vpc_id, "a"), group(ec2, vpc_id, "b")
    ec2.authorize_security_group_ingress(GroupId=b, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": a}]}])
    ec2.authorize_security_group_ingress(GroupId=a, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": a}]}])
    resp = expect_error("DependencyViolation", ec2.delete_security_group, GroupId=a)
    assert resp["Error"]["Message"] == f"resource {a} has a dependent object"
    ec2.delete_security_group(GroupId=b)
    # An instance's interface holds its groups until the instance is terminated.
    iid = run(ec2, sub, SecurityGroupIds=[a])["Instances"][0]["InstanceId"]
    expect_error("DependencyViolation", ec2.delete_security_group, GroupId=a)
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.delete_security_group(GroupId=a)
    other = daemon.ec2(CONSUMER)
    c = group(ec2, vpc_id, "c")
    expect_error("InvalidGroup.NotFound", other.delete_security_group, GroupId=c)
    assert sorted(g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]) == \
        ["c", "default"]


# --- instances and interfaces ---------------------------------------------------------------

def test_run_instances(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id, AvailabilityZone="us-east-1b")["SubnetId"]
    web = group(ec2, vpc_id)
    resp = ec2.run_instances(
        ImageId=AMI, InstanceType="t2.micro", MinCount=2, MaxCount=2, SubnetId=sub,
        SecurityGroupIds=[web], UserData="#!/bin/sh\necho hello\n",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "box"}]},
            {"ResourceType": "network-interface", "Tags": [{"Key": "nic", "Value": "1"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]}])
    assert resp["ReservationId"].startswith("r-") and resp["OwnerId"] == PROVIDER
    assert resp["Groups"] == []
    insts = resp["Instances"]
    assert len(insts) == 2
    assert [i["AmiLaunchIndex"] for i in insts] == [0, 1]
    assert [i["PrivateIpAddress"] for i in insts] == ["10.0.1.4", "10.0.1.5"]
    i = insts[0]
    assert i["InstanceId"].startswith("i-") and len(i["InstanceId"]) == 19
    assert i["ImageId"] == AMI and i["InstanceType"] == "t2.micro"
    assert i["State"] == {"Code": 0, "Name": "pending"}
    assert i["PrivateDnsName"] == "ip-10-0-1-4.ec2.internal"
    assert i["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert i["SubnetId"] == sub and i["VpcId"] == vpc_id
    assert i["SecurityGroups"] == [{"GroupId": web, "GroupName": "web"}]
    assert i["Tags"] == [{"Key": "Name", "Value": "box"}]
    assert i["LaunchTime"] is not None
    [nic] = i["NetworkInterfaces"]
    assert nic["NetworkInterfaceId"].startswith("eni-")
    assert nic["PrivateIpAddress"] == "10.0.1.4" and nic["SubnetId"] == sub
    assert nic["Attachment"]["DeviceIndex"] == 0 and nic["Attachment"]["Status"] == "attached"
    assert nic["Groups"] == [{"GroupId": web, "GroupName": "web"}]
    assert nic["InterfaceType"] == "interface" and nic["Status"] == "in-use"
    assert nic["MacAddress"].startswith("02:")
    # The instance's interface as DescribeNetworkInterfaces shows it.
    eni = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[nic["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["Attachment"]["InstanceId"] == i["InstanceId"]
    assert eni["Attachment"]["InstanceOwnerId"] == PROVIDER
    assert eni["RequesterManaged"] is False and eni["OwnerId"] == PROVIDER
    assert eni["AvailabilityZone"] == "us-east-1b"
    assert eni["TagSet"] == [{"Key": "nic", "Value": "1"}]
    # DescribeInstances shows the same records, in one reservation.
    [res] = ec2.describe_instances()["Reservations"]
    assert res["ReservationId"] == resp["ReservationId"]
    assert [x["InstanceId"] for x in res["Instances"]] == [x["InstanceId"] for x in insts]
    # Defaults: the subnet's VPC's default group, AWS's default type.
    plain = run(ec2, sub)["Instances"][0]
    assert plain["InstanceType"] == "m1.small"
    assert plain["SecurityGroups"] == [{"GroupId": default_group(ec2, vpc_id)["GroupId"],
                                        "GroupName": "default"}]
    # The primary interface may be given as NetworkInterfaces[0].
    nic_form = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "SubnetId": sub, "Groups": [web], "PrivateIpAddress": "10.0.1.200",
         "Description": "primary"}])["Instances"][0]
    assert nic_form["PrivateIpAddress"] == "10.0.1.200"
    assert nic_form["SecurityGroups"][0]["GroupId"] == web
    assert nic_form["NetworkInterfaces"][0]["Description"] == "primary"
    # A chosen address.
    chosen = run(ec2, sub, PrivateIpAddress="10.0.1.77")["Instances"][0]
    assert chosen["PrivateIpAddress"] == "10.0.1.77"
    assert len(instances(ec2)) == 5


def test_run_instances_errors(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id)["SubnetId"]
    elsewhere = group(ec2, vpc(ec2, "10.1.0.0/16"), "elsewhere")
    run(ec2, sub, PrivateIpAddress="10.0.1.10")

    lax = unchecked(daemon)

    def fails(code, status=None, client=ec2, **kw):
        args = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": sub}
        args.update(kw)
        args = {k: v for k, v in args.items() if v is not None}
        return expect_error(code, client.run_instances, status=status, **args)

    fails("MissingParameter", ImageId=None)
    fails("InvalidAMIID.Malformed", ImageId="image-1")
    fails("MissingParameter", MinCount=None, client=lax)
    fails("MissingParameter", MaxCount=None, client=lax)
    fails("InvalidParameterValue", MinCount=0)
    fails("InvalidParameterValue", MinCount=3, MaxCount=2)
    fails("InvalidParameterValue", InstanceType="Huge")
    resp = fails("VPCIdNotSpecified", SubnetId=None)
    assert resp["Error"]["Message"] == "No default VPC for this user"
    fails("InvalidParameterCombination", SecurityGroups=["web"])
    resp = fails("InvalidParameter", SecurityGroupIds=[elsewhere])
    assert "belong to different networks" in resp["Error"]["Message"]
    fails("InvalidGroup.NotFound", SecurityGroupIds=[UNKNOWN_SG])
    fails("InvalidSubnetID.NotFound", SubnetId=UNKNOWN_SUBNET)
    fails("InvalidSubnetID.Malformed", SubnetId="subnet-x")
    fails("InvalidParameterValue", PrivateIpAddress="10.9.0.4")
    fails("InvalidParameterValue", PrivateIpAddress="10.0.1.1")
    fails("InvalidParameterValue", PrivateIpAddress="10.0.1.255")
    fails("InvalidParameterValue", PrivateIpAddress="not-an-ip")
    fails("InvalidIPAddress.InUse", PrivateIpAddress="10.0.1.10")
    fails("InvalidParameterCombination", PrivateIpAddress="10.0.1.11", MaxCount=2)
    fails("InvalidParameterCombination", NetworkInterfaces=[{"DeviceIndex": 0,
                                                             "SubnetId": sub}])
    fails("InvalidParameterValue", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])
    fails("InvalidParameterValue", UserData="x" * 17000)
    fails("DryRunOperation", status=412, DryRun=True)
    # Another account's subnet does not exist for the caller.
    expect_error("InvalidSubnetID.NotFound", daemon.ec2(CONSUMER).run_instances, ImageId=AMI,
                 MinCount=1, MaxCount=1, SubnetId=sub)
    # UserData must be base64 (boto3 encodes it; send it raw to check the server).
    raw = daemon.ec2(PROVIDER)
    raw.meta.events.unregister("before-parameter-build.ec2.RunInstances",
                               botocore.handlers.base64_encode_user_data)
    resp = expect_error("InvalidUserData.Malformed", raw.run_instances, ImageId=AMI, MinCount=1,
                        MaxCount=1, SubnetId=sub, UserData="not base64!")
    assert resp["Error"]["Message"] == "Invalid BASE64 encoding of user data."
    ok = raw.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sub,
                           UserData=base64.b64encode(b"#!/bin/sh\n").decode())
    assert ok["Instances"][0]["State"]["Name"] == "pending"
    # Only the two successful launches exist.
    assert len(instances(ec2)) == 2


def test_run_instances_needs_permission(data_dir):
    accounts = data_dir / "accounts.toml"
    accounts.write_text(
        '[[account]]\nid = "111111111111"\naccess_key_id = "AKIARUNNER"\n'
        'secret_access_key = "s1"\nrun_instances = true\n\n'
        '[[account]]\nid = "222222222222"\naccess_key_id = "AKIAPLAIN"\n'
        'secret_access_key = "s2"\n')
    d = Daemon(data_dir, accounts_file=accounts).start()
    try:
        plain = d.client("ec2", "AKIAPLAIN", secret="s2")
        sub = subnet(plain, vpc(plain))["SubnetId"]
        expect_error("UnauthorizedOperation", plain.run_instances, ImageId=AMI, MinCount=1,
                     MaxCount=1, SubnetId=sub, status=403)
        expect_error("UnauthorizedOperation", plain.run_instances, ImageId=AMI, MinCount=1,
                     MaxCount=1, SubnetId=sub, DryRun=True, status=403)
        assert instances(plain) == []
        runner = d.client("ec2", "AKIARUNNER", secret="s1")
        rsub = subnet(runner, vpc(runner))["SubnetId"]
        expect_error("DryRunOperation", runner.run_instances, ImageId=AMI, MinCount=1,
                     MaxCount=1, SubnetId=rsub, DryRun=True, status=412)
        assert len(run(runner, rsub)["Instances"]) == 1
    finally:
        d.kill()


def test_run_instances_client_token(daemon):
    ec2 = daemon.ec2(PROVIDER)
    sub = subnet(ec2, vpc(ec2))["SubnetId"]
    first = run(ec2, sub, count=2, ClientToken="tok-1")
    again = run(ec2, sub, count=2, ClientToken="tok-1")
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == \
        [i["InstanceId"] for i in first["Instances"]]
    assert first["Instances"][0]["ClientToken"] == "tok-1"
    assert len(instances(ec2)) == 2
    expect_error("IdempotentParameterMismatch", run, ec2, sub, count=3, ClientToken="tok-1")
    assert len(instances(ec2, Filters=[{"Name": "client-token", "Values": ["tok-1"]}])) == 2
    # Tokens are per account.
    other = daemon.ec2(CONSUMER)
    osub = subnet(other, vpc(other))["SubnetId"]
    mine = run(other, osub, count=2, ClientToken="tok-1")
    assert mine["ReservationId"] != first["ReservationId"]
    # boto3 sends a fresh token when none is given: two launches.
    run(ec2, sub)
    run(ec2, sub)
    assert len(instances(ec2)) == 4


def test_address_allocation(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    small = subnet(ec2, vpc_id, "10.0.0.16/28")["SubnetId"]
    # MaxCount beyond the subnet's room launches as many as fit (11 of 16 addresses).
    resp = run(ec2, small, MinCount=1, MaxCount=20)
    ips = [i["PrivateIpAddress"] for i in resp["Instances"]]
    assert len(ips) == 11 and len(set(ips)) == 11
    net = ipaddress.ip_network("10.0.0.16/28")
    reserved = {str(net.network_address + k) for k in range(4)} | {str(net.broadcast_address)}
    assert not reserved & set(ips)
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert sorted(ips, key=ipaddress.ip_address) == [f"10.0.0.{k}" for k in range(20, 31)]
    assert ec2.describe_subnets(SubnetIds=[small])["Subnets"][0]["AvailableIpAddressCount"] == 0
    resp = expect_error("InsufficientFreeAddressesInSubnet", run, ec2, small)
    assert small in resp["Error"]["Message"]
    # Released addresses are reused; MinCount above what is free launches nothing.
    # (The subnet is the account's only one.)
    gone = [i for i in instances(ec2) if i["PrivateIpAddress"] in
            ("10.0.0.22", "10.0.0.27")]
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in gone])
    assert ec2.describe_subnets(SubnetIds=[small])["Subnets"][0]["AvailableIpAddressCount"] == 2
    expect_error("InsufficientFreeAddressesInSubnet", run, ec2, small, MinCount=3, MaxCount=3)
    again = run(ec2, small, MinCount=1, MaxCount=5)
    assert sorted(i["PrivateIpAddress"] for i in again["Instances"]) == ["10.0.0.22", "10.0.0.27"]
    live = [i["PrivateIpAddress"] for i in instances(ec2)
            if i["State"]["Name"] != "terminated"]
    assert len(live) == 11 and len(set(live)) == 11
    # Interfaces agree with instances: one address each, never twice.
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [small]}])["NetworkInterfaces"]
    assert sorted(e["PrivateIpAddress"] for e in enis) == sorted(live)


def test_describe_instances_filters_and_pagination(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    s1 = subnet(ec2, vpc_id)["SubnetId"]
    s2 = subnet(ec2, vpc_id, "10.0.2.0/24", AvailabilityZone="us-east-1c")["SubnetId"]
    web = group(ec2, vpc_id)
    r1 = run(ec2, s1, count=3, InstanceType="t3.small", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "a"}]}])
    r2 = run(ec2, s2, count=3, SecurityGroupIds=[web])
    a = [i["InstanceId"] for i in r1["Instances"]]
    b = [i["InstanceId"] for i in r2["Instances"]]
    ec2.terminate_instances(InstanceIds=[b[2]])

    def ids(*filters):
        return sorted(i["InstanceId"] for i in instances(
            ec2, Filters=[{"Name": n, "Values": v} for n, v in filters]))

    assert ids() == sorted(a + b)
    assert ids(("subnet-id", [s2])) == sorted(b[:2])
    assert ids(("vpc-id", [vpc_id])) == sorted(a + b[:2])
    assert ids(("instance-id", [a[1]])) == [a[1]]
    assert ids(("instance-state-name", ["terminated"])) == [b[2]]
    assert ids(("instance-state-name", ["pending"])) == sorted(a + b[:2])
    assert ids(("instance-state-code", ["48"])) == [b[2]]
    assert ids(("private-ip-address", ["10.0.1.5"])) == [a[1]]
    assert ids(("private-dns-name", ["ip-10-0-2-4.ec2.internal"])) == [b[0]]
    assert ids(("tag:role", ["a"])) == sorted(a)
    assert ids(("tag-key", ["role"]), ("instance-type", ["t3.small"])) == sorted(a)
    assert ids(("instance-type", ["m1.small"])) == sorted(b)
    assert ids(("availability-zone", ["us-east-1c"])) == sorted(b)
    assert ids(("instance.group-id", [web])) == sorted(b[:2])
    assert ids(("instance.group-name", ["default"])) == sorted(a)
    assert ids(("reservation-id", [r2["ReservationId"]])) == sorted(b)
    assert ids(("image-id", [AMI]), ("owner-id", [PROVIDER])) == sorted(a + b)
    eni = r1["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert ids(("network-interface.network-interface-id", [eni])) == [a[0]]
    expect_error("InvalidParameterValue", ec2.describe_instances,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    # Pages of instances, grouped in reservations.
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_instances(**kw)
        got = [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        assert 0 < len(got) <= 5
        seen += got
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(a + b)
    first = ec2.describe_instances(MaxResults=5)["Reservations"]
    assert [len(r["Instances"]) for r in first] == [3, 2]
    expect_error("InvalidParameterCombination", ec2.describe_instances, InstanceIds=[a[0]],
                 MaxResults=5)
    expect_error("InvalidParameterValue", unchecked(daemon).describe_instances, MaxResults=2)
    expect_error("InvalidInstanceID.Malformed", ec2.describe_instances, InstanceIds=["i-zz"])
    resp = expect_error("InvalidInstanceID.NotFound", ec2.describe_instances,
                        InstanceIds=[a[0], UNKNOWN_INSTANCE])
    assert resp["Error"]["Message"] == f"The instance ID '{UNKNOWN_INSTANCE}' does not exist"
    expect_error("DryRunOperation", ec2.describe_instances, DryRun=True)
    # Another account sees none of them.
    other = daemon.ec2(CONSUMER)
    assert other.describe_instances()["Reservations"] == []
    expect_error("InvalidInstanceID.NotFound", other.describe_instances, InstanceIds=[a[0]])


def test_terminate_instances(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc_id = vpc(ec2)
    sub = subnet(ec2, vpc_id)["SubnetId"]
    insts = run(ec2, sub, count=2)["Instances"]
    a, b = insts[0]["InstanceId"], insts[1]["InstanceId"]
    eni_a = insts[0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    # Unknown or malformed ids, or another account: nothing is terminated.
    resp = expect_error("InvalidInstanceID.NotFound", ec2.terminate_instances,
                        InstanceIds=[a, UNKNOWN_INSTANCE, "i-0123456789abcdef1"])
    assert resp["Error"]["Message"] == (
        f"The instance IDs '{UNKNOWN_INSTANCE}, i-0123456789abcdef1' do not exist")
    expect_error("InvalidInstanceID.Malformed", ec2.terminate_instances, InstanceIds=["i-x"])
    expect_error("InvalidInstanceID.NotFound", daemon.ec2(CONSUMER).terminate_instances,
                 InstanceIds=[a])
    expect_error("DryRunOperation", ec2.terminate_instances, InstanceIds=[a], DryRun=True)
    assert {i["State"]["Name"] for i in instances(ec2)} == {"pending"}
    out = ec2.terminate_instances(InstanceIds=[a])["TerminatingInstances"]
    assert out == [{"InstanceId": a, "CurrentState": {"Code": 48, "Name": "terminated"},
                    "PreviousState": {"Code": 0, "Name": "pending"}}]
    # Terminating again reports terminated → terminated.
    out = ec2.terminate_instances(InstanceIds=[a, b])["TerminatingInstances"]
    assert [(o["InstanceId"], o["PreviousState"]["Name"], o["CurrentState"]["Name"])
            for o in out] == [(a, "terminated", "terminated"), (b, "pending", "terminated")]
    # Terminated instances stay listed, without their interface and address.
    gone = instances(ec2, InstanceIds=[a])[0]
    assert gone["State"] == {"Code": 48, "Name": "terminated"}
    assert gone["NetworkInterfaces"] == [] and "PrivateIpAddress" not in gone
    assert gone["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert gone["StateTransitionReason"].startswith("User initiated (")
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2.describe_network_interfaces,
                 NetworkInterfaceIds=[eni_a])
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert ec2.describe_subnets()["Subnets"][0]["AvailableIpAddressCount"] == 251
    expect_error("MissingParameter", ec2.terminate_instances, InstanceIds=[])


def test_describe_network_interfaces(daemon):
    ec2 = daemon.ec2(PROVIDER)
    other = daemon.ec2(CONSUMER)
    vpc_id = vpc(ec2)
    s1 = subnet(ec2, vpc_id)["SubnetId"]
    s2 = subnet(ec2, vpc_id, "10.0.2.0/24", AvailabilityZone="us-east-1b")["SubnetId"]
    web = group(ec2, vpc_id)
    r1 = run(ec2, s1, count=4)["Instances"]
    r2 = run(ec2, s2, count=2, SecurityGroupIds=[web])["Instances"]
    eni = {i["InstanceId"]: i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in r1 + r2}
    all_enis = sorted(eni.values())
    e = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni[r2[0]["InstanceId"]]])["NetworkInterfaces"][0]
    assert e["SubnetId"] == s2 and e["VpcId"] == vpc_id
    assert e["AvailabilityZone"] == "us-east-1b"
    assert e["PrivateIpAddress"] == "10.0.2.4"
    assert e["PrivateDnsName"] == "ip-10-0-2-4.ec2.internal"
    assert e["PrivateIpAddresses"] == [{"Primary": True, "PrivateIpAddress": "10.0.2.4",
                                        "PrivateDnsName": "ip-10-0-2-4.ec2.internal"}]
    assert e["Groups"] == [{"GroupId": web, "GroupName": "web"}]
    assert e["InterfaceType"] == "interface" and e["Status"] == "in-use"
    assert e["RequesterManaged"] is False and "RequesterId" not in e
    assert e["SourceDestCheck"] is True and e["Description"] == ""
    assert e["Attachment"]["AttachmentId"].startswith("eni-attach-")
    assert e["Attachment"]["InstanceId"] == r2[0]["InstanceId"]

    def ids(*filters):
        return sorted(x["NetworkInterfaceId"] for x in ec2.describe_network_interfaces(
            Filters=[{"Name": n, "Values": v} for n, v in filters])["NetworkInterfaces"])

    assert ids() == all_enis
    assert ids(("subnet-id", [s2])) == sorted(eni[i["InstanceId"]] for i in r2)
    assert ids(("vpc-id", [vpc_id]), ("owner-id", [PROVIDER])) == all_enis
    assert ids(("availability-zone", ["us-east-1a"])) == sorted(eni[i["InstanceId"]] for i in r1)
    assert ids(("private-ip-address", ["10.0.1.5"])) == [eni[r1[1]["InstanceId"]]]
    assert ids(("addresses.private-ip-address", ["10.0.1.6"])) == [eni[r1[2]["InstanceId"]]]
    assert ids(("attachment.instance-id", [r1[3]["InstanceId"]])) == [eni[r1[3]["InstanceId"]]]
    assert ids(("attachment.status", ["attached"])) == all_enis
    assert ids(("group-id", [web])) == sorted(eni[i["InstanceId"]] for i in r2)
    assert ids(("group-name", ["default"])) == sorted(eni[i["InstanceId"]] for i in r1)
    assert ids(("interface-type", ["interface"]), ("status", ["in-use"])) == all_enis
    assert ids(("requester-managed", ["true"])) == []
    assert ids(("interface-type", ["vpc_endpoint"])) == []
    assert ids(("requester-id", ["*"])) == []
    assert ids(("description", [""])) == all_enis
    assert ids(("network-interface-id", [all_enis[0]])) == [all_enis[0]]
    assert ids(("mac-address", [e["MacAddress"]])) == [e["NetworkInterfaceId"]]
    assert ids(("tag-key", ["x"])) == []
    expect_error("InvalidParameterValue", ec2.describe_network_interfaces,
                 Filters=[{"Name": "bogus", "Values": ["x"]}])
    got = all_pages(ec2.describe_network_interfaces, "NetworkInterfaces", MaxResults=5)
    assert sorted(x["NetworkInterfaceId"] for x in got) == all_enis
    expect_error("InvalidParameterCombination", ec2.describe_network_interfaces,
                 NetworkInterfaceIds=[all_enis[0]], MaxResults=5)
    expect_error("InvalidParameterValue", unchecked(daemon).describe_network_interfaces,
                 MaxResults=4)
    expect_error("InvalidNetworkInterfaceID.Malformed", ec2.describe_network_interfaces,
                 NetworkInterfaceIds=["eni-zz"])
    resp = expect_error("InvalidNetworkInterfaceID.NotFound", ec2.describe_network_interfaces,
                        NetworkInterfaceIds=[UNKNOWN_ENI])
    assert resp["Error"]["Message"] == f"The networkInterface ID '{UNKNOWN_ENI}' does not exist"
    expect_error("DryRunOperation", ec2.describe_network_interfaces, DryRun=True)
    # Another account sees none of them.
    assert other.describe_network_interfaces()["NetworkInterfaces"] == []
    expect_error("InvalidNetworkInterfaceID.NotFound", other.describe_network_interfaces,
                 NetworkInterfaceIds=[all_enis[0]])


def test_instance_limit(daemon):
    ec2 = daemon.ec2(PROVIDER)
    sub = subnet(ec2, vpc(ec2), "10.0.0.0/22")["SubnetId"]
    launched = run(ec2, sub, MinCount=1, MaxCount=300)["Instances"]
    # The account's limit caps what one request launches.
    assert len(launched) == 256
    expect_error("InstanceLimitExceeded", run, ec2, sub)
    ec2.terminate_instances(InstanceIds=[launched[0]["InstanceId"]])
    assert len(run(ec2, sub, MinCount=1, MaxCount=5)["Instances"]) == 1


@pytest.mark.parametrize("account", [OTHER])
def test_fresh_account_sees_empty_lists(daemon, account):
    ec2 = daemon.ec2(account)
    assert ec2.describe_vpcs()["Vpcs"] == []
    assert ec2.describe_subnets()["Subnets"] == []
    assert ec2.describe_security_groups()["SecurityGroups"] == []
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert ec2.describe_instances()["Reservations"] == []
