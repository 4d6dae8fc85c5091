"""Accounts may be denied RunInstances (`run_instances = false` in the accounts file): starting a
workload is a privilege, since it runs a process on the host."""

import pytest

from conftest import expect_error
from test_auth import CONSUMER_KEY, PROVIDER_KEY, auth_daemon, ec2_for  # noqa: F401 (fixture)



def launch(ec2, **extra):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    return subnet, dict(ImageId="ami-0123456789abcdef0", InstanceType="t3.micro", MinCount=1,
                        MaxCount=1, SubnetId=subnet, UserData="#!/bin/sh\nsleep 600\n", **extra)


def test_account_without_run_instances_is_unauthorized(auth_daemon):
    # The same request succeeds for an account that may run instances...
    provider = ec2_for(auth_daemon, PROVIDER_KEY)
    _, args = launch(provider)
    started = provider.run_instances(**args)["Instances"]
    assert len(started) == 1 and started[0]["InstanceId"].startswith("i-")

    # ...and is refused for one that may not, which is left with no instance.
    consumer = ec2_for(auth_daemon, CONSUMER_KEY)
    _, args = launch(consumer)
    expect_error("UnauthorizedOperation", consumer.run_instances, status=403, **args)
    expect_error("UnauthorizedOperation", consumer.run_instances, status=403, DryRun=True,
                 **args)
    reservations = consumer.describe_instances()["Reservations"]
    assert [i for r in reservations for i in r["Instances"]] == []
