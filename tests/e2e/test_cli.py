"""The unchanged AWS CLI (v1, from pip) against the daemon: credentials and region from the
environment, `--endpoint-url`, JSON and text output, and error exit codes and messages."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CONSUMER, PROVIDER


def aws_command():
    exe = shutil.which("aws")
    return [exe] if exe else [sys.executable, "-m", "awscli"]


@pytest.fixture
def aws(daemon, tmp_path):
    """Runs `aws ARGS --endpoint-url URL` as an account; returns the CompletedProcess."""

    def run(*args, account=PROVIDER, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": account,
            "AWS_SECRET_ACCESS_KEY": "dev-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            # No user configuration may leak in.
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        })
        p = subprocess.run([*aws_command(), *args, "--endpoint-url", daemon.url],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                           timeout=60)
        if check:
            assert p.returncode == 0, (args, p.returncode, p.stderr)
        return p

    def run_json(*args, **kw):
        p = run(*args, "--output", "json", **kw)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    run.json = run_json
    return run


def test_cli_vpc_workflow(aws):
    vpc = aws.json("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", "--tag-specifications",
                   "ResourceType=vpc,Tags=[{Key=Name,Value=from-cli}]")["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc_id.startswith("vpc-") and vpc["OwnerId"] == PROVIDER
    assert vpc["Tags"] == [{"Key": "Name", "Value": "from-cli"}]

    described = aws.json("ec2", "describe-vpcs")["Vpcs"]
    assert [(v["VpcId"], v["CidrBlock"], v["State"]) for v in described] == \
        [(vpc_id, "10.0.0.0/16", "available")]
    by_id = aws.json("ec2", "describe-vpcs", "--vpc-ids", vpc_id)["Vpcs"]
    assert [v["VpcId"] for v in by_id] == [vpc_id]
    by_tag = aws.json("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=from-cli")
    assert [v["VpcId"] for v in by_tag["Vpcs"]] == [vpc_id]
    none = aws.json("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=other")
    assert none["Vpcs"] == []
    # --query and text output.
    text = aws("ec2", "describe-vpcs", "--query", "Vpcs[].VpcId", "--output", "text").stdout
    assert text.split() == [vpc_id]

    attr = aws.json("ec2", "describe-vpc-attribute", "--vpc-id", vpc_id,
                    "--attribute", "enableDnsHostnames")
    assert attr["EnableDnsHostnames"] == {"Value": False}
    out = aws("ec2", "modify-vpc-attribute", "--vpc-id", vpc_id,
              "--enable-dns-hostnames", '{"Value": true}')
    assert out.stdout.strip() == ""  # the CLI prints nothing for a bare `return`
    attr = aws.json("ec2", "describe-vpc-attribute", "--vpc-id", vpc_id,
                    "--attribute", "enableDnsHostnames")
    assert attr["EnableDnsHostnames"] == {"Value": True}
    # The shorthand boolean form works too.
    aws("ec2", "modify-vpc-attribute", "--vpc-id", vpc_id, "--no-enable-dns-support")
    attr = aws.json("ec2", "describe-vpc-attribute", "--vpc-id", vpc_id,
                    "--attribute", "enableDnsSupport")
    assert attr["EnableDnsSupport"] == {"Value": False}

    aws("ec2", "create-tags", "--resources", vpc_id, "--tags", "Key=env,Value=test")
    tags = aws.json("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={vpc_id}")
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in tags["Tags"]) == \
        [("Name", "from-cli", "vpc"), ("env", "test", "vpc")]

    # Another account sees nothing.
    assert aws.json("ec2", "describe-vpcs", account=CONSUMER)["Vpcs"] == []

    aws("ec2", "delete-vpc", "--vpc-id", vpc_id)
    assert aws.json("ec2", "describe-vpcs")["Vpcs"] == []


def check_cli_error(p, code, operation):
    assert p.returncode not in (0, None), p
    assert f"An error occurred ({code}) when calling the {operation} operation" in p.stderr, \
        p.stderr
    return p.stderr


def test_cli_errors(aws):
    p = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/33", check=False)
    err = check_cli_error(p, "InvalidParameterValue", "CreateVpc")
    assert "10.0.0.0/33" in err
    assert p.stdout == ""
    p = aws("ec2", "create-vpc", "--cidr-block", "not-a-cidr", check=False)
    check_cli_error(p, "InvalidParameterValue", "CreateVpc")
    p = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/8", check=False)
    check_cli_error(p, "InvalidVpc.Range", "CreateVpc")
    p = aws("ec2", "delete-vpc", "--vpc-id", "vpc-0123456789abcdef0", check=False)
    err = check_cli_error(p, "InvalidVpcID.NotFound", "DeleteVpc")
    assert "vpc-0123456789abcdef0" in err
    p = aws("ec2", "delete-vpc", "--vpc-id", "vpc-xyz", check=False)
    check_cli_error(p, "InvalidVpcID.Malformed", "DeleteVpc")
    p = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16", "--dry-run", check=False)
    check_cli_error(p, "DryRunOperation", "CreateVpc")
    # None of that created anything.
    assert aws.json("ec2", "describe-vpcs")["Vpcs"] == []


def test_cli_against_an_accounts_file(data_dir, tmp_path):
    from conftest import Daemon

    path = data_dir / "accounts.toml"
    path.write_text(f'[[account]]\nid = "{CONSUMER}"\naccess_key_id = "AKIACLI"\n'
                    f'secret_access_key = "cli-secret"\n')
    d = Daemon(data_dir, accounts_file=path).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": str(tmp_path / "none"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                    "AWS_EC2_METADATA_DISABLED": "true"})

        def run(key, secret):
            return subprocess.run(
                [*aws_command(), "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16",
                 "--output", "json", "--endpoint-url", d.url],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                env=env | {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})

        ok = run("AKIACLI", "cli-secret")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["Vpc"]["OwnerId"] == CONSUMER
        bad = run("AKIACLI", "wrong")
        check_cli_error(bad, "SignatureDoesNotMatch", "CreateVpc")
        unknown = run("AKIAUNKNOWN", "x")
        check_cli_error(unknown, "AuthFailure", "CreateVpc")
    finally:
        d.kill()
