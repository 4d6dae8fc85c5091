"""The first slice: a VPC through boto3, its attributes, and its removal."""

from conftest import PROVIDER, CONSUMER, expect_error


def test_vpc_lifecycle(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16",
                         TagSpecifications=[{"ResourceType": "vpc",
                                             "Tags": [{"Key": "Name", "Value": "p"}]}])["Vpc"]
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert vpc["OwnerId"] == PROVIDER
    assert {"Key": "Name", "Value": "p"} in vpc["Tags"]
    got = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert [v["VpcId"] for v in got] == [vpc["VpcId"]]
    attr = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is False
    ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
    attr = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is True
    # another account does not see it
    other = daemon.ec2(CONSUMER)
    assert other.describe_vpcs()["Vpcs"] == []
    expect_error("InvalidVpcID.NotFound", other.describe_vpcs, VpcIds=[vpc["VpcId"]], status=400)
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert ec2.describe_vpcs()["Vpcs"] == []


def test_bad_cidr_and_dry_run(daemon):
    ec2 = daemon.ec2(PROVIDER)
    expect_error("InvalidParameterValue", ec2.create_vpc, CidrBlock="10.0.0.0/33")
    expect_error("InvalidVpc.Range", ec2.create_vpc, CidrBlock="10.0.0.0/8")
    expect_error("DryRunOperation", ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True,
                 status=412)
    assert ec2.describe_vpcs()["Vpcs"] == []
