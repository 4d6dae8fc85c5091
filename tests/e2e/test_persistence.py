"""State survives the daemon: kill -9 or SIGTERM, start again on the same data dir, and every
account sees exactly what it saw before. A request answered with success is durable."""

import signal

import pytest

from conftest import CONSUMER, OTHER, PROVIDER, expect_error

ACCOUNTS = (PROVIDER, CONSUMER, OTHER)


def snapshot(daemon):
    """What each account can describe: VPCs (all fields), their attributes, and tags."""
    out = {}
    for account in ACCOUNTS:
        c = daemon.ec2(account)
        vpcs = sorted(c.describe_vpcs()["Vpcs"], key=lambda v: v["VpcId"])
        for v in vpcs:
            v["Tags"] = sorted(v.get("Tags", []), key=lambda t: t["Key"])
            v["attributes"] = {
                name: c.describe_vpc_attribute(VpcId=v["VpcId"], Attribute=name)[
                    name[0].upper() + name[1:]]["Value"]
                for name in ("enableDnsSupport", "enableDnsHostnames")
            }
        tags = sorted((t["ResourceId"], t["ResourceType"], t["Key"], t["Value"])
                      for t in c.describe_tags()["Tags"])
        out[account] = {"vpcs": vpcs, "tags": tags}
    return out


def populate(daemon):
    p = daemon.ec2(PROVIDER)
    ids = []
    for i, cidr in enumerate(["10.0.0.0/16", "10.1.0.0/16", "192.168.0.0/24", "172.16.0.0/20"]):
        vpc = p.create_vpc(CidrBlock=cidr, TagSpecifications=[{
            "ResourceType": "vpc",
            "Tags": [{"Key": "Name", "Value": f"vpc-{i}"}, {"Key": "idx", "Value": str(i)}]}],
        )["Vpc"]["VpcId"]
        ids.append(vpc)
    p.modify_vpc_attribute(VpcId=ids[0], EnableDnsHostnames={"Value": True})
    p.modify_vpc_attribute(VpcId=ids[1], EnableDnsSupport={"Value": False})
    p.create_tags(Resources=ids[:2], Tags=[{"Key": "env", "Value": "prod"},
                                           {"Key": "empty", "Value": ""}])
    p.delete_tags(Resources=[ids[2]], Tags=[{"Key": "idx"}])
    p.delete_vpc(VpcId=ids[3])
    c = daemon.ec2(CONSUMER)
    # Same CIDR as the provider's: accounts are independent.
    cv = c.create_vpc(CidrBlock="10.0.0.0/16", InstanceTenancy="dedicated")["Vpc"]["VpcId"]
    c.create_tags(Resources=[cv], Tags=[{"Key": "owner", "Value": "consumer"}])
    return ids[:3] + [cv]


def check_consistent(before, after):
    assert after == before
    # The population really is there (a snapshot of nothing would also compare equal).
    assert len(after[PROVIDER]["vpcs"]) == 3 and len(after[CONSUMER]["vpcs"]) == 1
    assert after[OTHER] == {"vpcs": [], "tags": []}
    by_name = {next(t["Value"] for t in v["Tags"] if t["Key"] == "Name"): v
               for v in after[PROVIDER]["vpcs"]}
    assert by_name["vpc-0"]["attributes"] == {"enableDnsSupport": True,
                                              "enableDnsHostnames": True}
    assert by_name["vpc-1"]["attributes"] == {"enableDnsSupport": False,
                                              "enableDnsHostnames": False}
    assert {"Key": "env", "Value": "prod"} in by_name["vpc-0"]["Tags"]
    assert [t["Key"] for t in by_name["vpc-2"]["Tags"]] == ["Name"]
    assert after[CONSUMER]["vpcs"][0]["InstanceTenancy"] == "dedicated"


def test_state_survives_kill_9(daemon):
    ids = populate(daemon)
    before = snapshot(daemon)
    old_pid = daemon.proc.pid
    daemon.restart(signal.SIGKILL)
    assert daemon.proc.pid != old_pid
    check_consistent(before, snapshot(daemon))
    # Work goes on after the restart, and new ids do not collide with old ones.
    p = daemon.ec2(PROVIDER)
    new = p.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    assert new not in ids
    p.delete_vpc(VpcId=new)
    p.delete_vpc(VpcId=ids[0])
    expect_error("InvalidVpcID.NotFound", p.describe_vpcs, VpcIds=[ids[0]])


def test_state_survives_sigterm(daemon):
    populate(daemon)
    before = snapshot(daemon)
    proc = daemon.proc
    proc.send_signal(signal.SIGTERM)
    # A graceful stop is a clean exit.
    assert proc.wait(timeout=10) == 0, daemon.log()
    proc.stdout.close()
    daemon.proc = None
    daemon.start()
    check_consistent(before, snapshot(daemon))


def test_repeated_restarts(daemon):
    populate(daemon)
    before = snapshot(daemon)
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        daemon.restart(sig)
        check_consistent(before, snapshot(daemon))


@pytest.mark.parametrize("round_", range(5))
def test_acknowledged_writes_survive_an_immediate_kill_9(daemon, round_):
    p = daemon.ec2(PROVIDER)
    vpc = p.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "round", "Value": str(round_)}]}])["Vpc"]["VpcId"]
    daemon.restart(signal.SIGKILL)
    p = daemon.ec2(PROVIDER)
    got = p.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert got[0]["Tags"] == [{"Key": "round", "Value": str(round_)}]

    p.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    daemon.restart(signal.SIGKILL)
    p = daemon.ec2(PROVIDER)
    got = p.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")
    assert got["EnableDnsHostnames"]["Value"] is True

    p.create_tags(Resources=[vpc], Tags=[{"Key": "later", "Value": "yes"}])
    daemon.restart(signal.SIGKILL)
    p = daemon.ec2(PROVIDER)
    tags = p.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc]}])["Tags"]
    assert sorted(t["Key"] for t in tags) == ["later", "round"]

    p.delete_vpc(VpcId=vpc)
    daemon.restart(signal.SIGKILL)
    p = daemon.ec2(PROVIDER)
    expect_error("InvalidVpcID.NotFound", p.describe_vpcs, VpcIds=[vpc])
    assert p.describe_tags()["Tags"] == []


def test_failed_and_dry_run_requests_leave_nothing_after_restart(daemon):
    p = daemon.ec2(PROVIDER)
    expect_error("DryRunOperation", p.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True)
    expect_error("InvalidVpc.Range", p.create_vpc, CidrBlock="10.0.0.0/8")
    daemon.restart(signal.SIGKILL)
    assert snapshot(daemon) == {a: {"vpcs": [], "tags": []} for a in ACCOUNTS}
