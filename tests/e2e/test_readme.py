"""The README's walkthrough is a script: run it, as written, against a fresh daemon with its
network and the real AWS CLI, and check what it did — traffic through the endpoint included.

Needs root (the instances' network, `privlink exec`); without it the test fails, it never
skips."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import (CONSUMER, PROVIDER, ROOT, network_daemon, privlink_bin, require_root,
                      wait_until)
from test_network import prefix_of


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the README walkthrough")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


def walkthrough_script():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README walkthrough has no sh block"
    return match.group(1)


def test_the_readme_application_is_the_demos():
    script = walkthrough_script()
    match = re.search(r"cat > demo-app.py <<'EOF'\n(.*?)^EOF$", script, re.S | re.M)
    assert match, "the walkthrough writes no demo-app.py"
    assert match.group(1) == (ROOT / "crates/privlink/src/demo/app.py").read_text()


def test_readme_walkthrough_runs(daemon, data_dir, tmp_path):
    script = walkthrough_script()
    assert "privlink serve &" in script
    # The test's daemon replaces the one the README starts, on its own port and data dir.
    script = script.replace("privlink serve &\n", "")
    script = script.replace("http://127.0.0.1:4566", daemon.url)
    exec_cmd = f"{shlex.quote(os.path.abspath(privlink_bin()))} exec --data-dir {shlex.quote(str(data_dir))}"
    assert "privlink exec " in script
    script = script.replace("privlink exec ", exec_cmd + " ")
    prelude = "set -euo pipefail\n"
    if shutil.which("aws") is None:
        prelude += f'aws() {{ "{sys.executable}" -m awscli "$@"; }}\n'
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws config leaks in
    out = subprocess.run(["bash", "-c", prelude + script], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, f"walkthrough failed:\n{out.stdout}\n{out.stderr}"
    assert '"pendingAcceptance"' in out.stdout
    assert "vpc_endpoint" in out.stdout
    assert "com.amazonaws.vpce.us-east-1.vpce-svc-" in out.stdout

    # Traffic: sixteen answers through the endpoint, from both backends (each connection picks
    # one at random: 16 make missing one a 1-in-32768 chance), each with the PROXY v2 header
    # naming the consumer's instance, the endpoint's address and the endpoint.
    answers = re.findall(r"^host=(\S+) address=(\S+):8080 source=(\S+):\d+ "
                         r"destination=(\S+):80 vpce=(vpce-[0-9a-f]{17})$", out.stdout, re.M)
    assert len(answers) == 16, out.stdout
    assert len({a[1] for a in answers}) == 2, f"not both backends: {answers}"
    assert len({(a[2], a[3], a[4]) for a in answers}) == 1, answers
    # The consumer VPC's interfaces, as describe-network-interfaces listed them.
    interfaces = dict(re.findall(r'\[\s*"(interface|vpc_endpoint)",\s*"([\d.]+)"\s*\]',
                                 out.stdout))
    assert set(interfaces) == {"interface", "vpc_endpoint"}, out.stdout
    # The endpoint, as describe-vpc-endpoint-connections showed it to the provider.
    endpoints = set(re.findall(r'"VpcEndpointId": "(vpce-[0-9a-f]{17})"', out.stdout))
    assert len(endpoints) == 1, endpoints
    assert answers[0][2:] == (interfaces["interface"], interfaces["vpc_endpoint"],
                              endpoints.pop()), answers[0]

    # What the walkthrough left: nothing but terminated instances.
    for account in (PROVIDER, CONSUMER):
        ec2, elb = daemon.ec2(account), daemon.elbv2(account)
        assert ec2.describe_vpcs()["Vpcs"] == []
        assert ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
        assert ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []
        assert elb.describe_load_balancers()["LoadBalancers"] == []
        assert elb.describe_target_groups()["TargetGroups"] == []
    prefix = prefix_of(data_dir)

    def namespaces():
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout.split()
        return [n for n in listed if n.startswith(prefix + "-")]

    wait_until(lambda: namespaces() == [], timeout=60, interval=0.2,
               what="the walkthrough's namespaces to be deleted")
