"""The README's walkthrough is a script: run it, as written, against a fresh daemon with the
real AWS CLI, and check what it did."""

import os
import re
import shutil
import subprocess
import sys

from conftest import CONSUMER, PROVIDER, ROOT, wait_until


def walkthrough_script():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README walkthrough has no sh block"
    return match.group(1)


def test_readme_walkthrough_runs(daemon, tmp_path):
    script = walkthrough_script()
    assert "privlink serve &" in script
    # The test's daemon replaces the one the README starts, on its own port.
    script = script.replace("privlink serve &\n", "")
    script = script.replace("http://127.0.0.1:4566", daemon.url)
    prelude = "set -euo pipefail\n"
    if shutil.which("aws") is None:
        prelude += f'aws() {{ "{sys.executable}" -m awscli "$@"; }}\n'
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws config leaks in
    out = subprocess.run(["bash", "-c", prelude + script], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, f"walkthrough failed:\n{out.stdout}\n{out.stderr}"
    assert '"pendingAcceptance"' in out.stdout
    assert "vpc_endpoint" in out.stdout
    assert "com.amazonaws.vpce.us-east-1.vpce-svc-" in out.stdout

    # What the walkthrough left: the consumer's endpoint and the provider's service are gone.
    consumer, provider = daemon.ec2(CONSUMER), daemon.ec2(PROVIDER)
    wait_until(lambda: consumer.describe_vpc_endpoints()["VpcEndpoints"] == [],
               what="the endpoint to be deleted")
    wait_until(lambda: provider.describe_vpc_endpoint_service_configurations()
               ["ServiceConfigurations"] == [], what="the service to be deleted")
    # Both VPCs remain, with the same CIDR in two accounts.
    assert [v["CidrBlock"] for v in provider.describe_vpcs()["Vpcs"]] == ["10.0.0.0/16"]
    assert [v["CidrBlock"] for v in consumer.describe_vpcs()["Vpcs"]] == ["10.0.0.0/16"]
