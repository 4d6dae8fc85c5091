"""Who is calling: SigV4 against an accounts file, and dev mode (no accounts file).

Every refusal is checked twice: through boto3 (code and HTTP status as a client sees them) and as
raw XML, in the envelope of the service the request was for."""

import datetime
import subprocess

import pytest

import rawhttp
from conftest import CONSUMER, PROVIDER, Daemon, expect_error, privlink_bin

PROVIDER_KEY = "AKIAPROVIDER00000001"
PROVIDER_KEY2 = "AKIAPROVIDER00000002"
CONSUMER_KEY = "AKIACONSUMER00000001"
SECRETS = {
    PROVIDER_KEY: "provider-secret-1",
    PROVIDER_KEY2: "provider-secret-2",
    CONSUMER_KEY: "consumer-secret",
}

ACCOUNTS_TOML = f"""
# Two keys for the provider, one for the consumer.
[[account]]
id = "{PROVIDER}"
access_key_id = "{PROVIDER_KEY}"
secret_access_key = "{SECRETS[PROVIDER_KEY]}"
run_instances = true

[[account]]
id = "{PROVIDER}"
access_key_id = "{PROVIDER_KEY2}"
secret_access_key = "{SECRETS[PROVIDER_KEY2]}"
run_instances = true

[[account]]
id = "{CONSUMER}"
access_key_id = "{CONSUMER_KEY}"
secret_access_key = "{SECRETS[CONSUMER_KEY]}"
run_instances = false
"""

SKEW_TOO_FAR = datetime.timedelta(minutes=16)
SKEW_TOLERATED = datetime.timedelta(minutes=10)

EC2_CALL = {"Action": "DescribeVpcs", "Version": rawhttp.EC2_VERSION}
# No ELBv2 action is needed to reach authentication: it runs before the action is looked up.
ELB_CALL = {"Action": "DescribeLoadBalancers", "Version": rawhttp.ELB_VERSION}


@pytest.fixture
def auth_daemon(data_dir):
    path = data_dir / "accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    d = Daemon(data_dir, accounts_file=path).start()
    try:
        yield d
    finally:
        d.kill()


def ec2_for(daemon, key, secret=None, **kw):
    return daemon.ec2(key, secret=secret if secret is not None else SECRETS[key], **kw)


def elb_for(daemon, key, secret=None, **kw):
    return daemon.elbv2(key, secret=secret if secret is not None else SECRETS[key], **kw)


def serve(*args, timeout=20):
    """Runs `privlink serve ARGS` expecting it to refuse to start; returns (exit code, stderr)."""
    try:
        p = subprocess.run([privlink_bin(), "serve", *args], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"privlink serve {args} kept running: {e.stdout!r}") from e
    return p.returncode, p.stderr + p.stdout


# --- accounts file ----------------------------------------------------------------------------

def test_listed_keys_act_as_their_account(auth_daemon):
    provider = ec2_for(auth_daemon, PROVIDER_KEY)
    provider2 = ec2_for(auth_daemon, PROVIDER_KEY2)
    consumer = ec2_for(auth_daemon, CONSUMER_KEY)
    pv = provider.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    cv = consumer.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    assert pv["OwnerId"] == PROVIDER
    assert cv["OwnerId"] == CONSUMER
    # Both provider keys are the same account; the consumer is another.
    assert [v["VpcId"] for v in provider2.describe_vpcs()["Vpcs"]] == [pv["VpcId"]]
    assert [v["VpcId"] for v in consumer.describe_vpcs()["Vpcs"]] == [cv["VpcId"]]
    provider2.delete_vpc(VpcId=pv["VpcId"])
    assert provider.describe_vpcs()["Vpcs"] == []


def test_listed_key_reaches_elbv2(auth_daemon):
    # Past authentication, an unknown action is the first error: proof the signature passed.
    r = rawhttp.signed(auth_daemon.url, {"Action": "NoSuchAction", "Version": rawhttp.ELB_VERSION},
                       service="elasticloadbalancing", access_key=CONSUMER_KEY,
                       secret=SECRETS[CONSUMER_KEY])
    rawhttp.expect_elb_error(r, "InvalidAction", 400)


def test_unknown_access_key(auth_daemon):
    ec2 = ec2_for(auth_daemon, "AKIANOTLISTED0000000", secret="whatever")
    expect_error("AuthFailure", ec2.describe_vpcs, status=401)
    expect_error("AuthFailure", ec2.create_vpc, CidrBlock="10.0.0.0/16", status=401)
    elb = elb_for(auth_daemon, "AKIANOTLISTED0000000", secret="whatever")
    expect_error("InvalidClientTokenId", elb.describe_load_balancers, status=403)

    r = rawhttp.signed(auth_daemon.url, EC2_CALL, "ec2", "AKIANOTLISTED0000000", "x")
    rawhttp.expect_ec2_error(r, "AuthFailure", 401)
    r = rawhttp.signed(auth_daemon.url, ELB_CALL, "elasticloadbalancing", "AKIANOTLISTED0000000", "x")
    rawhttp.expect_elb_error(r, "InvalidClientTokenId", 403)
    # An account id is not a key when an accounts file is in force.
    expect_error("AuthFailure", auth_daemon.ec2(PROVIDER).describe_vpcs, status=401)


def test_wrong_secret(auth_daemon):
    ec2 = ec2_for(auth_daemon, PROVIDER_KEY, secret="not-the-secret")
    expect_error("SignatureDoesNotMatch", ec2.describe_vpcs, status=403)
    # Another listed key's secret is still the wrong secret.
    ec2 = ec2_for(auth_daemon, PROVIDER_KEY, secret=SECRETS[CONSUMER_KEY])
    expect_error("SignatureDoesNotMatch", ec2.create_vpc, CidrBlock="10.0.0.0/16", status=403)
    elb = elb_for(auth_daemon, PROVIDER_KEY, secret="not-the-secret")
    expect_error("SignatureDoesNotMatch", elb.describe_load_balancers, status=403)

    r = rawhttp.signed(auth_daemon.url, EC2_CALL, "ec2", PROVIDER_KEY, "bad")
    rawhttp.expect_ec2_error(r, "SignatureDoesNotMatch", 403)
    r = rawhttp.signed(auth_daemon.url, ELB_CALL, "elasticloadbalancing", PROVIDER_KEY, "bad")
    rawhttp.expect_elb_error(r, "SignatureDoesNotMatch", 403)
    assert ec2_for(auth_daemon, PROVIDER_KEY).describe_vpcs()["Vpcs"] == []


def test_tampered_body_does_not_match(auth_daemon):
    body = rawhttp.form({"Action": "CreateVpc", "Version": rawhttp.EC2_VERSION,
                         "CidrBlock": "10.0.0.0/16"})
    headers = rawhttp.signed_headers(auth_daemon.url, body, "ec2", PROVIDER_KEY,
                                     SECRETS[PROVIDER_KEY])
    r = rawhttp.send(auth_daemon.url, body.replace(b"10.0.0.0", b"10.9.0.0"), headers)
    rawhttp.expect_ec2_error(r, "SignatureDoesNotMatch", 403)
    # The untampered request with the same headers is accepted.
    r = rawhttp.send(auth_daemon.url, body, headers)
    assert r.status == 200, r
    vpcs = ec2_for(auth_daemon, PROVIDER_KEY).describe_vpcs()["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["10.0.0.0/16"]


@pytest.mark.parametrize("skew", [SKEW_TOO_FAR, -SKEW_TOO_FAR], ids=["future", "past"])
def test_request_expired(auth_daemon, skew):
    url = auth_daemon.url
    r = rawhttp.signed(url, EC2_CALL, "ec2", PROVIDER_KEY, SECRETS[PROVIDER_KEY], skew=skew)
    rawhttp.expect_ec2_error(r, "RequestExpired", 400)
    r = rawhttp.signed(url, ELB_CALL, "elasticloadbalancing", PROVIDER_KEY,
                       SECRETS[PROVIDER_KEY], skew=skew)
    rawhttp.expect_elb_error(r, "RequestExpired", 400)
    # A create with an expired signature changes nothing.
    r = rawhttp.signed(url, {"Action": "CreateVpc", "Version": rawhttp.EC2_VERSION,
                             "CidrBlock": "10.0.0.0/16"},
                       "ec2", PROVIDER_KEY, SECRETS[PROVIDER_KEY], skew=skew)
    rawhttp.expect_ec2_error(r, "RequestExpired", 400)
    assert ec2_for(auth_daemon, PROVIDER_KEY).describe_vpcs()["Vpcs"] == []


@pytest.mark.parametrize("skew", [SKEW_TOLERATED, -SKEW_TOLERATED], ids=["future", "past"])
def test_clock_skew_within_15_minutes_is_accepted(auth_daemon, skew):
    r = rawhttp.signed(auth_daemon.url, EC2_CALL, "ec2", PROVIDER_KEY, SECRETS[PROVIDER_KEY],
                       skew=skew)
    assert r.status == 200, r
    assert r.xml().tag == f"{{{rawhttp.EC2_NS}}}DescribeVpcsResponse"


def test_unsigned_request(auth_daemon):
    r = rawhttp.unsigned(auth_daemon.url, EC2_CALL)
    code, message, _ = rawhttp.ec2_error(r)
    assert code == "MissingAuthenticationToken", r
    assert r.status in (401, 403), r
    r = rawhttp.unsigned(auth_daemon.url, ELB_CALL)
    rawhttp.expect_elb_error(r, "MissingAuthenticationToken", 403)
    r = rawhttp.unsigned(auth_daemon.url, {"Action": "CreateVpc", "Version": rawhttp.EC2_VERSION,
                                           "CidrBlock": "10.0.0.0/16"})
    assert rawhttp.ec2_error(r)[0] == "MissingAuthenticationToken"
    assert ec2_for(auth_daemon, PROVIDER_KEY).describe_vpcs()["Vpcs"] == []


def check_wrong_region(daemon, ec2, elb, signing):
    e = expect_error("SignatureDoesNotMatch", ec2.describe_vpcs, status=403)
    assert "eu-west-1" in e["Error"]["Message"]
    e = expect_error("SignatureDoesNotMatch", ec2.create_vpc, CidrBlock="10.0.0.0/16", status=403)
    assert "eu-west-1" in e["Error"]["Message"]
    e = expect_error("SignatureDoesNotMatch", elb.describe_load_balancers, status=403)
    assert "eu-west-1" in e["Error"]["Message"]

    key, secret = signing
    r = rawhttp.signed(daemon.url, EC2_CALL, "ec2", key, secret, region="eu-west-1")
    _, message, _ = rawhttp.expect_ec2_error(r, "SignatureDoesNotMatch", 403)
    assert "eu-west-1" in message
    r = rawhttp.signed(daemon.url, ELB_CALL, "elasticloadbalancing", key, secret,
                       region="eu-west-1")
    _, message, _ = rawhttp.expect_elb_error(r, "SignatureDoesNotMatch", 403)
    assert "eu-west-1" in message


def test_other_region_is_refused(auth_daemon):
    ec2 = ec2_for(auth_daemon, PROVIDER_KEY, region="eu-west-1")
    elb = elb_for(auth_daemon, PROVIDER_KEY, region="eu-west-1")
    check_wrong_region(auth_daemon, ec2, elb, (PROVIDER_KEY, SECRETS[PROVIDER_KEY]))
    assert ec2_for(auth_daemon, PROVIDER_KEY).describe_vpcs()["Vpcs"] == []


def test_error_request_ids_are_unique(auth_daemon):
    ids = set()
    for _ in range(5):
        r = rawhttp.signed(auth_daemon.url, EC2_CALL, "ec2", PROVIDER_KEY, "bad")
        ids.add(rawhttp.ec2_error(r)[2])
    assert len(ids) == 5


# --- dev mode ---------------------------------------------------------------------------------

def test_dev_mode_access_key_is_the_account(daemon):
    vpc = daemon.ec2(CONSUMER, secret="anything").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    assert vpc["OwnerId"] == CONSUMER
    # Secrets are not checked in dev mode: another secret is the same account.
    seen = daemon.ec2(CONSUMER, secret="something-else").describe_vpcs()["Vpcs"]
    assert [v["VpcId"] for v in seen] == [vpc["VpcId"]]
    assert daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"] == []


@pytest.mark.parametrize("key", ["AKIAIOSFODNN7EXAMPLE", "12345678901", "1234567890123",
                                 "12345678901a"])
def test_dev_mode_other_keys_are_the_default_account(daemon, key):
    vpc = daemon.ec2(key).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    assert vpc["OwnerId"] == "000000000000"
    seen = daemon.ec2("000000000000").describe_vpcs()["Vpcs"]
    assert [v["VpcId"] for v in seen] == [vpc["VpcId"]]


def test_dev_mode_unsigned_requests_are_the_default_account(daemon):
    r = rawhttp.unsigned(daemon.url, {"Action": "CreateVpc", "Version": rawhttp.EC2_VERSION,
                                      "CidrBlock": "10.0.0.0/16"})
    assert r.status == 200, r
    owner = r.xml().find(f"{{{rawhttp.EC2_NS}}}vpc/{{{rawhttp.EC2_NS}}}ownerId").text
    assert owner == "000000000000"


def test_dev_mode_other_region_is_refused(daemon):
    ec2 = daemon.ec2(PROVIDER, region="eu-west-1")
    elb = daemon.elbv2(PROVIDER, region="eu-west-1")
    check_wrong_region(daemon, ec2, elb, (PROVIDER, "dev-secret"))
    assert daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"] == []


def test_dev_mode_refuses_a_non_loopback_listen_address(data_dir):
    # The daemon must refuse before binding: no traffic is ever sent to this address.
    code, out = serve("--listen", "0.0.0.0:0", "--data-dir", str(data_dir))
    assert code != 0
    assert "loopback" in out and "0.0.0.0" in out, out
    assert "listening on" not in out


# --- accounts file errors ---------------------------------------------------------------------

GOOD = f'[[account]]\nid = "{PROVIDER}"\naccess_key_id = "AK1"\nsecret_access_key = "s"\n'

BAD_ACCOUNTS = {
    "not-toml": ("[[account]\nid = ", None),
    "short-id": ('[[account]]\nid = "12345"\naccess_key_id = "AK1"\nsecret_access_key = "s"\n',
                 "12345"),
    "letters-in-id": ('[[account]]\nid = "11111111111x"\naccess_key_id = "AK1"\n'
                      'secret_access_key = "s"\n', "11111111111x"),
    "duplicate-key": (GOOD + GOOD.replace(PROVIDER, CONSUMER), "AK1"),
    "no-accounts": ("# nothing here\n", None),
    "missing-secret": (f'[[account]]\nid = "{PROVIDER}"\naccess_key_id = "AK1"\n',
                       "secret_access_key"),
    "bad-run-instances": (GOOD + "run_instances = \"yes\"\n", "run_instances"),
}


@pytest.mark.parametrize("name", sorted(BAD_ACCOUNTS))
def test_malformed_accounts_file_stops_the_daemon(data_dir, name):
    text, detail = BAD_ACCOUNTS[name]
    path = data_dir / "accounts.toml"
    path.write_text(text)
    code, out = serve("--listen", "127.0.0.1:0", "--data-dir", str(data_dir / "d"),
                      "--accounts", str(path))
    assert code != 0, out
    assert "listening on" not in out
    assert str(path) in out, out
    if detail:
        assert detail in out, out


def test_missing_accounts_file_stops_the_daemon(data_dir):
    path = data_dir / "nope.toml"
    code, out = serve("--listen", "127.0.0.1:0", "--data-dir", str(data_dir / "d"),
                      "--accounts", str(path))
    assert code != 0
    assert str(path) in out and "listening on" not in out, out


def test_a_good_accounts_file_starts(data_dir):
    path = data_dir / "accounts.toml"
    path.write_text(GOOD)
    d = Daemon(data_dir, accounts_file=path).start()
    try:
        vpc = d.ec2("AK1", secret="s").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
        assert vpc["OwnerId"] == PROVIDER
    finally:
        d.kill()
