"""The PrivateLink workflow with the unchanged AWS CLI (v1): a provider exposes its NLB as an
endpoint service, a consumer in another account discovers it, creates an interface endpoint,
the provider accepts, and the endpoint becomes available."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER, wait_until


def aws_command():
    exe = shutil.which("aws")
    return [exe] if exe else [sys.executable, "-m", "awscli"]


@pytest.fixture
def aws(daemon, tmp_path):
    """`aws ARGS --endpoint-url URL --output json` as an account; returns the parsed output."""

    def run(*args, account=PROVIDER, expect_code=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": account,
            "AWS_SECRET_ACCESS_KEY": "dev-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        })
        p = subprocess.run([*aws_command(), *args, "--endpoint-url", daemon.url,
                            "--output", "json"],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                           timeout=60)
        if expect_code:
            assert p.returncode != 0, (args, p.stdout)
            assert f"({expect_code})" in p.stderr, p.stderr
            return None
        assert p.returncode == 0, (args, p.returncode, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    return run


def test_cli_privatelink_workflow(aws):
    # The provider's network and its load balancer.
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr,
                   "--availability-zone", zone)["Subnet"]["SubnetId"]
               for cidr, zone in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))]
    nlb = aws("elbv2", "create-load-balancer", "--name", "cli-nlb", "--type", "network",
              "--scheme", "internal", "--subnets", *subnets)["LoadBalancers"][0]["LoadBalancerArn"]

    svc = aws("ec2", "create-vpc-endpoint-service-configuration",
              "--network-load-balancer-arns", nlb, "--acceptance-required",
              "--tag-specifications",
              "ResourceType=vpc-endpoint-service,Tags=[{Key=Name,Value=cli-service}]",
              )["ServiceConfiguration"]
    sid, name = svc["ServiceId"], svc["ServiceName"]
    assert svc["ServiceState"] == "Available" and svc["AcceptanceRequired"] is True
    assert svc["Tags"] == [{"Key": "Name", "Value": "cli-service"}]
    aws("ec2", "describe-vpc-endpoint-services", "--service-names", name, account=CONSUMER,
        expect_code="InvalidServiceName")
    perms = aws("ec2", "modify-vpc-endpoint-service-permissions", "--service-id", sid,
                "--add-allowed-principals", f"arn:aws:iam::{CONSUMER}:root")
    assert perms["ReturnValue"] is True

    # The consumer discovers the service and connects from its own (overlapping) network.
    found = aws("ec2", "describe-vpc-endpoint-services", "--service-names", name,
                account=CONSUMER)
    assert found["ServiceNames"] == [name]
    assert found["ServiceDetails"][0]["Owner"] == PROVIDER
    cvpc = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", account=CONSUMER)["Vpc"]["VpcId"]
    csub = aws("ec2", "create-subnet", "--vpc-id", cvpc, "--cidr-block", "10.0.1.0/24",
               "--availability-zone", "us-east-1a", account=CONSUMER)["Subnet"]["SubnetId"]
    ep = aws("ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", cvpc,
             "--service-name", name, "--subnet-ids", csub, "--no-private-dns-enabled",
             account=CONSUMER)["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    assert ep["State"] == "pendingAcceptance"
    assert len(ep["NetworkInterfaceIds"]) == 1

    conns = aws("ec2", "describe-vpc-endpoint-connections", "--filters",
                f"Name=service-id,Values={sid}")["VpcEndpointConnections"]
    assert [(c["VpcEndpointId"], c["VpcEndpointState"], c["VpcEndpointOwner"]) for c in conns] \
        == [(eid, "pendingAcceptance", CONSUMER)]
    accepted = aws("ec2", "accept-vpc-endpoint-connections", "--service-id", sid,
                   "--vpc-endpoint-ids", eid)
    assert accepted.get("Unsuccessful", []) == []

    def state():
        eps = aws("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", eid,
                  account=CONSUMER)["VpcEndpoints"]
        return eps[0]["State"]

    wait_until(lambda: state() == "available", timeout=30, interval=0.2,
               what="endpoint available through the CLI")
