"""`privlink demo` against a real daemon with its network: the scenario runs, every command it
prints is one the AWS CLI accepts (checked with the CLI's own parser), both backends answer
through the endpoint with the PROXY v2 header naming the consumer and the endpoint, and nothing
is left afterwards — also when the demo fails half-way.

Needs root (network namespaces, entering the consumer's instance); without it the tests fail,
they never skip.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys

import botocore.awsrequest
import pytest
from awscli.clidriver import create_clidriver

from conftest import CONSUMER, PROVIDER, network_daemon, privlink_bin, require_root, wait_until
from test_network import prefix_of

DEMO_TIMEOUT = 600


@pytest.fixture(autouse=True)
def needs_root():
    require_root("privlink demo")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


def demo(daemon, data_dir, *extra):
    return subprocess.run([privlink_bin(), "demo", "--endpoint-url", daemon.url,
                           "--data-dir", str(data_dir), *extra],
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT)


def after(lines, command_prefix):
    """The result lines (`  → …`) printed after the first command starting with
    `command_prefix`."""
    for n, line in enumerate(lines):
        if line.startswith("$ " + command_prefix):
            results = []
            for following in lines[n + 1:]:
                if not following.startswith("  → "):
                    break
                results.append(following[4:])
            assert results, f"no result after {command_prefix!r}"
            return results
    raise AssertionError(f"no command {command_prefix!r} in the output")


def aws_cli_calls(commands, cwd, monkeypatch):
    """Runs each command through the AWS CLI's own parser, intercepting the API call before
    anything is sent: [(operation, form params)] of what the CLI would have sent."""
    calls = []

    def intercept(model, params, **_):
        calls.append((model.name, params["body"]))
        return botocore.awsrequest.AWSResponse("http://intercepted", 200, {}, None), {}

    monkeypatch.chdir(cwd)
    for n, command in enumerate(commands):
        argv = shlex.split(command)
        assert argv[0] == "aws", command
        driver = create_clidriver()
        driver.session.register("before-call", intercept)
        before = len(calls)
        rc = driver.main(argv[1:])
        assert rc == 0, f"the AWS CLI rejected: {command}"
        if argv[1] != "configure":
            assert len(calls) == before + 1, f"no API call from: {command}"
    return calls


def test_demo_runs_the_scenario_and_leaves_nothing(daemon, data_dir, tmp_path, monkeypatch):
    out = demo(daemon, data_dir)
    assert out.returncode == 0, f"privlink demo failed:\n{out.stdout}\n{out.stderr}"
    lines = out.stdout.splitlines()

    # Every step is printed as a command, with the real ids, against this daemon.
    commands = [line[2:] for line in lines if line.startswith("$ aws ")]
    for step in ["aws ec2 create-vpc ", "aws ec2 create-subnet ", "aws ec2 run-instances ",
                 "aws ec2 authorize-security-group-ingress ",
                 "aws elbv2 create-load-balancer ", "aws elbv2 create-target-group ",
                 "aws elbv2 modify-target-group-attributes ", "aws elbv2 register-targets ",
                 "aws elbv2 create-listener ",
                 "aws ec2 create-vpc-endpoint-service-configuration ",
                 "aws ec2 modify-vpc-endpoint-service-permissions ",
                 "aws ec2 create-vpc-endpoint ", "aws ec2 accept-vpc-endpoint-connections ",
                 "aws ec2 delete-vpc-endpoints ", "aws elbv2 delete-load-balancer ",
                 "aws ec2 delete-vpc "]:
        assert any(c.startswith(step) for c in commands), f"no {step!r} step"
    assert all(c.endswith(f"--endpoint-url {daemon.url}") for c in commands)
    assert "aws ec2 create-vpc-endpoint-service-configuration" in out.stdout

    # ... and each one is valid AWS CLI syntax: the CLI parses it into the API call it stands
    # for (profiles from the commands the demo prints for them; demo-app.py as the file).
    configure = [line[2:].strip() for line in lines if line.startswith("#   aws configure set")]
    assert len(configure) == 6, configure
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for var in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION", "AWS_REGION"]:
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "demo-app.py").write_text("print('app')\n")
    calls = aws_cli_calls(configure + commands, tmp_path, monkeypatch)
    by_op = {}
    for op, body in calls:
        by_op.setdefault(op, []).append(body)
    ingress = by_op["AuthorizeSecurityGroupIngress"][0]
    assert ingress["IpPermissions.1.FromPort"] == 8080, ingress
    assert ingress["IpPermissions.1.IpRanges.1.CidrIp"] == "10.0.0.0/16", ingress
    attrs = by_op["ModifyTargetGroupAttributes"][0]
    assert ("proxy_protocol_v2.enabled", "true") in [
        (attrs[f"Attributes.member.{n}.Key"], attrs[f"Attributes.member.{n}.Value"])
        for n in (1, 2)], attrs
    assert by_op["CreateVpcEndpointServiceConfiguration"][0]["AcceptanceRequired"] == "true"
    assert by_op["CreateVpcEndpoint"][0]["VpcEndpointType"] == "Interface"
    assert "UserData" in by_op["RunInstances"][0]

    # What was made, from the results printed after the commands.
    backends = dict(r.split()[:2] for r in after(lines, "aws ec2 run-instances --image-id "
                                                 "ami-12345678 --instance-type t3.micro "
                                                 "--count 2"))
    assert len(backends) == 2, backends
    client_id, client_ip = after(lines, "aws ec2 run-instances --image-id ami-12345678 "
                                 "--instance-type t3.micro --count 1")[0].split()[:2]
    endpoint_id = after(lines, "aws ec2 create-vpc-endpoint ")[0].split()[0]
    assert re.fullmatch(r"vpce-[0-9a-f]{17}", endpoint_id), endpoint_id
    endpoint_ip = after(lines, "aws ec2 describe-network-interfaces ")[0].split()[1]
    assert endpoint_ip.startswith("10.0.1."), endpoint_ip

    # Traffic: both backends answered; each PROXY v2 header named the consumer instance's
    # address, the endpoint's address and the endpoint created above.
    answers = re.findall(r"→ answered by (i-[0-9a-f]+) \((\S+):8080\); PROXY v2: source "
                         r"(\S+):(\d+), destination (\S+):80, endpoint (\S+)", out.stdout)
    assert len(answers) >= 8, out.stdout
    assert {a[0] for a in answers} == set(backends), answers
    for backend, address, source_ip, source_port, destination_ip, vpce in answers:
        assert backends[backend] == address
        assert source_ip == client_ip
        assert destination_ip == endpoint_ip
        assert vpce == endpoint_id
    assert any(line.startswith(f"$ privlink exec --data-dir {data_dir} {client_id} -- python3")
               for line in lines)

    assert_nothing_left(daemon, data_dir)


def assert_nothing_left(daemon, data_dir):
    for account in (PROVIDER, CONSUMER):
        ec2, elb = daemon.ec2(account), daemon.elbv2(account)
        assert ec2.describe_vpcs()["Vpcs"] == []
        assert ec2.describe_subnets()["Subnets"] == []
        assert ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
        assert ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []
        assert elb.describe_load_balancers()["LoadBalancers"] == []
        assert elb.describe_target_groups()["TargetGroups"] == []
        # Terminated instances stay listed for a while, as in EC2.
        states = {i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
                  for i in r["Instances"]}
        assert states <= {"terminated"}, states
    prefix = prefix_of(data_dir)

    def namespaces():
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout.split()
        return [n for n in listed if n.startswith(prefix + "-")]

    wait_until(lambda: namespaces() == [], timeout=60, interval=0.2,
               what="the demo's namespaces to be deleted")


def test_a_failing_demo_cleans_up_and_says_why(daemon, data_dir, tmp_path):
    # A data dir that is not the daemon's: the demo cannot enter the consumer's instance.
    wrong = tmp_path / "not-the-daemons"
    wrong.mkdir()
    out = subprocess.run([privlink_bin(), "demo", "--endpoint-url", daemon.url,
                          "--data-dir", str(wrong)],
                         capture_output=True, text=True, timeout=DEMO_TIMEOUT)
    assert out.returncode != 0, out.stdout
    assert "has no network namespace under data dir" in out.stderr, out.stderr
    assert "what it made was removed" in out.stderr, out.stderr
    assert "$ aws ec2 delete-vpc " in out.stdout
    assert_nothing_left(daemon, data_dir)


def test_no_daemon_is_a_clear_error(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run([privlink_bin(), "demo", "--endpoint-url", f"http://127.0.0.1:{port}",
                          "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"no privlink daemon answers at http://127.0.0.1:{port}" in out.stderr, out.stderr
    assert "$ aws" not in out.stdout


def test_keep_leaves_the_scenario_and_prints_commands_that_remove_it(daemon, data_dir, tmp_path):
    out = demo(daemon, data_dir, "--keep")
    assert out.returncode == 0, f"privlink demo --keep failed:\n{out.stdout}\n{out.stderr}"
    assert "$ aws ec2 delete-vpc " not in out.stdout.split("# --- Kept")[0]
    provider, consumer = daemon.ec2(PROVIDER), daemon.ec2(CONSUMER)
    assert [e["State"] for e in consumer.describe_vpc_endpoints()["VpcEndpoints"]] == ["available"]
    assert len(provider.describe_vpcs()["Vpcs"]) == 1
    assert len(daemon.elbv2(PROVIDER).describe_load_balancers()["LoadBalancers"]) == 1

    # The removal commands it printed, run with the real AWS CLI and the profiles it described.
    kept = out.stdout.split("# --- Kept", 1)[1].splitlines()
    removal = [line[2:] for line in kept if line.startswith("$ aws ")]
    configure = [line[2:].strip() for line in out.stdout.splitlines()
                 if line.startswith("#   aws configure set")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"))
    for command in configure + removal:
        argv = shlex.split(command)
        assert argv[0] == "aws"

        def run():
            return subprocess.run([sys.executable, "-m", "awscli", *argv[1:]],
                                  capture_output=True, text=True, env=env, timeout=60)

        def done():
            r = run()
            # Bulk deletions answer their failures as `Unsuccessful` items, with status 0.
            return r.returncode == 0 and not json.loads(r.stdout or "{}").get("Unsuccessful")

        # A deletion may wait for the one before it to finish (DependencyViolation).
        wait_until(done, timeout=60, interval=0.5, what=command)
    assert_nothing_left(daemon, data_dir)


def test_an_interrupted_demo_cleans_up(daemon, data_dir):
    proc = subprocess.Popen([privlink_bin(), "demo", "--endpoint-url", daemon.url,
                             "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            # Half-way: the provider's side exists, the consumer's is being made.
            if line.startswith("$ aws ec2 create-vpc ") and "--profile consumer" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest, err = proc.communicate(timeout=DEMO_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 1, f"{out}\n{err}"
    assert "interrupted" in err, err
    assert "what it made was removed" in err, err
    assert "# --- Traffic" not in out
    assert "$ aws elbv2 delete-load-balancer " in out
    assert_nothing_left(daemon, data_dir)
