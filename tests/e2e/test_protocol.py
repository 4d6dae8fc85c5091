"""The Query protocol itself, below the actions: envelopes, protocol errors, parameter decoding,
GET and POST, and a seeded fuzz run. Raw HTTP (dev mode, so requests may be unsigned) plus boto3
where a client can express the request."""

import random
import string
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

import rawhttp
from conftest import PROVIDER, expect_error
from rawhttp import EC2_NS, EC2_VERSION, ELB_VERSION

MISSING_VPC = "vpc-0123456789abcdef0"


def ec2(**params):
    return {"Action": params.pop("Action"), "Version": EC2_VERSION, **params}


def snapshot(daemon, account=PROVIDER):
    """Everything the account can see now (VPCs with tags and attributes, and all tags)."""
    client = daemon.ec2(account)
    vpcs = sorted(client.describe_vpcs()["Vpcs"], key=lambda v: v["VpcId"])
    for v in vpcs:
        v["Tags"] = sorted(v.get("Tags", []), key=lambda t: t["Key"])
        for attr in ("enableDnsSupport", "enableDnsHostnames"):
            got = client.describe_vpc_attribute(VpcId=v["VpcId"], Attribute=attr)
            v[attr] = got[attr[0].upper() + attr[1:]]["Value"]
    tags = sorted((t["ResourceId"], t["Key"], t["Value"]) for t in client.describe_tags()["Tags"])
    return vpcs, tags


@pytest.fixture
def vpc(daemon):
    return daemon.ec2(PROVIDER).create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "k", "Value": "v"}]}],
    )["Vpc"]["VpcId"]


# --- actions and versions ---------------------------------------------------------------------

def test_unknown_action_in_each_envelope(daemon):
    r = rawhttp.unsigned(daemon.url, {"Action": "LaunchRockets", "Version": EC2_VERSION})
    _, message, _ = rawhttp.expect_ec2_error(r, "InvalidAction")
    assert "LaunchRockets" in message
    r = rawhttp.unsigned(daemon.url, {"Action": "LaunchRockets", "Version": ELB_VERSION})
    _, message, _ = rawhttp.expect_elb_error(r, "InvalidAction")
    assert "LaunchRockets" in message
    # Signed for a service, the signing scope picks the envelope.
    r = rawhttp.signed(daemon.url, {"Action": "LaunchRockets", "Version": ELB_VERSION},
                       service="elasticloadbalancing")
    rawhttp.expect_elb_error(r, "InvalidAction")
    # An EC2 action name is not an ELBv2 action.
    r = rawhttp.unsigned(daemon.url, {"Action": "DescribeVpcs", "Version": ELB_VERSION})
    rawhttp.expect_elb_error(r, "InvalidAction")


def test_missing_action(daemon):
    r = rawhttp.unsigned(daemon.url, {"Version": EC2_VERSION, "CidrBlock": "10.0.0.0/16"})
    rawhttp.expect_ec2_error(r, "MissingAction")
    r = rawhttp.unsigned(daemon.url, {"Version": ELB_VERSION})
    rawhttp.expect_elb_error(r, "MissingAction")
    # An empty Action is no action either.
    r = rawhttp.unsigned(daemon.url, b"Action=&Version=" + EC2_VERSION.encode())
    assert rawhttp.ec2_error(r)[0] in ("MissingAction", "InvalidAction"), r


def test_wrong_version(daemon):
    r = rawhttp.unsigned(daemon.url, ec2(Action="DescribeVpcs") | {"Version": "2014-01-01"})
    _, message, _ = rawhttp.expect_ec2_error(r, "NoSuchVersion")
    assert "2014-01-01" in message
    # Signed for EC2 but naming ELBv2's version: EC2 has no such version.
    r = rawhttp.signed(daemon.url, {"Action": "DescribeVpcs", "Version": ELB_VERSION},
                       service="ec2")
    rawhttp.expect_ec2_error(r, "NoSuchVersion")
    r = rawhttp.signed(daemon.url, {"Action": "DescribeLoadBalancers", "Version": EC2_VERSION},
                       service="elasticloadbalancing")
    rawhttp.expect_elb_error(r, "NoSuchVersion")


# --- bodies -----------------------------------------------------------------------------------

def test_json_body_is_malformed(daemon):
    body = b'{"Action": "CreateVpc", "Version": "2016-11-15", "CidrBlock": "10.0.0.0/16"}'
    r = rawhttp.unsigned(daemon.url, body, content_type="application/json")
    rawhttp.expect_ec2_error(r, "MalformedQueryString", 404)
    r = rawhttp.unsigned(daemon.url, body, content_type="application/x-amz-json-1.1")
    rawhttp.expect_ec2_error(r, "MalformedQueryString", 404)
    headers = rawhttp.signed_headers(daemon.url, body, "elasticloadbalancing", PROVIDER, "x")
    headers["Content-Type"] = "application/json"
    r = rawhttp.send(daemon.url, body, headers)
    rawhttp.expect_elb_error(r, "MalformedQueryString", 404)
    assert daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"] == []


def test_oversize_body(daemon):
    body = rawhttp.form(ec2(Action="CreateVpc", CidrBlock="10.0.0.0/16", Pad="x" * (1 << 20)))
    assert len(body) > 1 << 20
    r = rawhttp.unsigned(daemon.url, body)
    rawhttp.expect_ec2_error(r, "RequestEntityTooLarge", 413)
    assert daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"] == []
    # Just under the limit is decoded normally.
    body = rawhttp.form(ec2(Action="DescribeVpcs", Pad="x" * ((1 << 20) - 200)))
    assert len(body) <= 1 << 20
    assert rawhttp.unsigned(daemon.url, body).status == 200


def test_oversize_elb_body_gets_the_elb_envelope(daemon):
    body = rawhttp.form({"Action": "DescribeLoadBalancers", "Version": "2015-12-01",
                         "Pad": "x" * (1 << 20)})
    headers = rawhttp.signed_headers(daemon.url, body, "elasticloadbalancing", PROVIDER, "x")
    rawhttp.expect_elb_error(rawhttp.send(daemon.url, body, headers),
                             "RequestEntityTooLarge", 413)


@pytest.mark.parametrize("raw", [b"%FF%FE", b"%C3%28", b"%ED%A0%80", b"\xff"],
                         ids=["ff-fe", "bad-continuation", "surrogate", "raw-byte"])
def test_invalid_utf8_is_malformed(daemon, raw):
    body = b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16&TagSpecification.1." \
           b"ResourceType=vpc&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=" + raw
    rawhttp.expect_ec2_error(rawhttp.unsigned(daemon.url, body), "MalformedQueryString", 404)
    # In a query string too.
    escaped = raw.decode() if raw.startswith(b"%") else urllib.parse.quote_from_bytes(raw)
    path = "/?Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=" + escaped
    r = rawhttp.send(daemon.url, b"", {}, method="GET", path=path)
    rawhttp.expect_ec2_error(r, "MalformedQueryString", 404)
    assert daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"] == []


def test_percent_encoding_and_plus_are_decoded(daemon):
    # `+` is a space and %XX a byte: the tag comes back exactly.
    body = b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16&TagSpecification.1." \
           b"ResourceType=vpc&TagSpecification.1.Tag.1.Key=na+me&TagSpecification.1.Tag.1.Value=" \
           b"caf%C3%A9%20%26%3D%2B"
    r = rawhttp.unsigned(daemon.url, body)
    assert r.status == 200, r
    tags = daemon.ec2("000000000000").describe_vpcs()["Vpcs"][0]["Tags"]
    assert tags == [{"Key": "na me", "Value": "café &=+"}]


# --- parameters -------------------------------------------------------------------------------

def test_missing_required_parameter(daemon, vpc):
    c = daemon.ec2(PROVIDER)
    r = rawhttp.signed(daemon.url, ec2(Action="CreateVpc"))
    _, message, _ = rawhttp.expect_ec2_error(r, "MissingParameter")
    assert "CidrBlock" in message
    for params in (ec2(Action="DeleteVpc"), ec2(Action="DescribeVpcAttribute", VpcId=vpc),
                   ec2(Action="DescribeVpcAttribute", Attribute="enableDnsSupport"),
                   ec2(Action="ModifyVpcAttribute", VpcId=vpc),
                   ec2(Action="CreateTags", **{"Tag.1.Key": "a"}),
                   ec2(Action="CreateTags", **{"ResourceId.1": vpc})):
        r = rawhttp.signed(daemon.url, params)
        rawhttp.expect_ec2_error(r, "MissingParameter")
    # An empty value is missing too.
    r = rawhttp.signed(daemon.url, ec2(Action="DeleteVpc", VpcId=""))
    rawhttp.expect_ec2_error(r, "MissingParameter")
    assert len(c.describe_vpcs()["Vpcs"]) == 1


@pytest.mark.parametrize("params", [
    {"Action": "DescribeVpcs", "DryRun": "maybe"},
    {"Action": "DescribeVpcs", "DryRun": "1"},
    {"Action": "DescribeVpcs", "MaxResults": "abc"},
    {"Action": "DescribeVpcs", "MaxResults": "5.5"},
    {"Action": "DescribeVpcs", "MaxResults": "99999999999999999999999"},
    {"Action": "DescribeVpcs", "MaxResults": "4"},
    {"Action": "DescribeVpcs", "MaxResults": "1001"},
    {"Action": "DescribeTags", "MaxResults": "-1"},
    {"Action": "ModifyVpcAttribute", "EnableDnsHostnames.Value": "yes"},
    {"Action": "ModifyVpcAttribute", "EnableDnsSupport.Value": ""},
    {"Action": "DescribeVpcAttribute", "Attribute": "enableTeleport"},
    {"Action": "CreateVpc", "CidrBlock": "10.0.0.0/33"},
    {"Action": "CreateVpc", "CidrBlock": "10.0.0.1/16"},
    {"Action": "CreateVpc", "CidrBlock": "banana"},
    {"Action": "CreateVpc", "CidrBlock": "10.0.0.0/16", "InstanceTenancy": "shared"},
    {"Action": "DescribeVpcs", "Filter.1.Name": "no-such-filter", "Filter.1.Value.1": "x"},
], ids=lambda p: "-".join(f"{k}={v}"[:30] for k, v in p.items()))
def test_bad_values_are_invalid_parameter_value(daemon, vpc, params):
    before = snapshot(daemon)
    params = dict(params)
    if params["Action"] in ("ModifyVpcAttribute", "DescribeVpcAttribute"):
        params["VpcId"] = vpc
    r = rawhttp.signed(daemon.url, ec2(**params))
    rawhttp.expect_ec2_error(r, "InvalidParameterValue")
    assert snapshot(daemon) == before


@pytest.mark.parametrize("action", ["DeleteVpc", "DescribeVpcs", "ModifyVpcAttribute",
                                    "DescribeVpcAttribute"])
@pytest.mark.parametrize("vpc_id", ["vpc-xyz", "vpc-", "subnet-0123456789abcdef0", "vpc_0123",
                                    "vpc-0123456789ABCDEF0", "vpc-0123456789abcdef0123"])
def test_malformed_vpc_ids(daemon, vpc, action, vpc_id):
    before = snapshot(daemon)
    c = daemon.ec2(PROVIDER)
    calls = {
        "DeleteVpc": lambda: c.delete_vpc(VpcId=vpc_id),
        "DescribeVpcs": lambda: c.describe_vpcs(VpcIds=[vpc, vpc_id]),
        "ModifyVpcAttribute": lambda: c.modify_vpc_attribute(
            VpcId=vpc_id, EnableDnsHostnames={"Value": True}),
        "DescribeVpcAttribute": lambda: c.describe_vpc_attribute(
            VpcId=vpc_id, Attribute="enableDnsSupport"),
    }
    e = expect_error("InvalidVpcID.Malformed", calls[action], status=400)
    assert vpc_id in e["Error"]["Message"]
    assert snapshot(daemon) == before


@pytest.mark.parametrize("action", ["DeleteVpc", "DescribeVpcs", "ModifyVpcAttribute",
                                    "DescribeVpcAttribute"])
def test_unknown_vpc_ids(daemon, vpc, action):
    before = snapshot(daemon)
    c = daemon.ec2(PROVIDER)
    calls = {
        "DeleteVpc": lambda: c.delete_vpc(VpcId=MISSING_VPC),
        "DescribeVpcs": lambda: c.describe_vpcs(VpcIds=[vpc, MISSING_VPC]),
        "ModifyVpcAttribute": lambda: c.modify_vpc_attribute(
            VpcId=MISSING_VPC, EnableDnsHostnames={"Value": True}),
        "DescribeVpcAttribute": lambda: c.describe_vpc_attribute(
            VpcId=MISSING_VPC, Attribute="enableDnsSupport"),
    }
    e = expect_error("InvalidVpcID.NotFound", calls[action], status=400)
    assert MISSING_VPC in e["Error"]["Message"]
    assert snapshot(daemon) == before


def test_get_with_query_string_works_like_post(daemon):
    q = urllib.parse.urlencode(ec2(Action="CreateVpc", CidrBlock="10.7.0.0/16", **{
        "TagSpecification.1.ResourceType": "vpc", "TagSpecification.1.Tag.1.Key": "via",
        "TagSpecification.1.Tag.1.Value": "get"}))
    r = rawhttp.send(daemon.url, b"", {}, method="GET", path="/?" + q)
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == f"{{{EC2_NS}}}CreateVpcResponse"
    vpc_id = root.findtext(f"{{{EC2_NS}}}vpc/{{{EC2_NS}}}vpcId")
    q = urllib.parse.urlencode(ec2(Action="DescribeVpcs", **{"VpcId.1": vpc_id}))
    r = rawhttp.send(daemon.url, b"", {}, method="GET", path="/?" + q)
    assert r.status == 200, r
    got = r.xml().findall(f"{{{EC2_NS}}}vpcSet/{{{EC2_NS}}}item/{{{EC2_NS}}}cidrBlock")
    assert [g.text for g in got] == ["10.7.0.0/16"]
    # The same describe as POST gives the same VPC.
    post = daemon.ec2("000000000000").describe_vpcs()["Vpcs"]
    assert [(v["VpcId"], v["Tags"]) for v in post] == [(vpc_id, [{"Key": "via", "Value": "get"}])]
    # GET errors use the same envelope.
    r = rawhttp.send(daemon.url, b"", {}, method="GET",
                     path="/?" + urllib.parse.urlencode(ec2(Action="DeleteVpc", VpcId="vpc-x")))
    rawhttp.expect_ec2_error(r, "InvalidVpcID.Malformed")


def test_signed_get(daemon):
    q = urllib.parse.urlencode(ec2(Action="CreateVpc", CidrBlock="10.8.0.0/16"))
    headers = rawhttp.signed_headers(daemon.url, b"", "ec2", PROVIDER, "s", method="GET",
                                     path="/?" + q)
    headers.pop("Content-Type", None)
    r = rawhttp.send(daemon.url, b"", headers, method="GET", path="/?" + q)
    assert r.status == 200, r
    assert [v["CidrBlock"] for v in daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"]] == ["10.8.0.0/16"]


def test_query_string_and_body_combine(daemon):
    # Action and Version in the URL, the rest in the body (some SDKs split them so).
    r = rawhttp.send(daemon.url, rawhttp.form({"CidrBlock": "10.9.0.0/16"}),
                     {"Content-Type": rawhttp.FORM},
                     path="/?" + urllib.parse.urlencode(ec2(Action="CreateVpc")))
    assert r.status == 200, r
    assert [v["CidrBlock"] for v in daemon.ec2("000000000000").describe_vpcs()["Vpcs"]] == \
        ["10.9.0.0/16"]


# --- failing requests change nothing ----------------------------------------------------------

def test_failing_requests_leave_state_unchanged(daemon, vpc):
    c = daemon.ec2(PROVIDER)
    c.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    before = snapshot(daemon)
    other = c.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    c.delete_vpc(VpcId=other)
    assert snapshot(daemon) == before

    # Tagging a good and a bad resource in one call tags neither.
    expect_error("InvalidVpcID.NotFound", c.create_tags, Resources=[vpc, MISSING_VPC],
                 Tags=[{"Key": "new", "Value": "x"}])
    expect_error("InvalidID", c.create_tags, Resources=[vpc, "vpc-xyz"],
                 Tags=[{"Key": "new", "Value": "x"}])
    expect_error("InvalidVpcID.NotFound", c.delete_tags, Resources=[vpc, MISSING_VPC],
                 Tags=[{"Key": "k"}])
    # Too many tags: the first 50 are not applied either.
    expect_error("TagLimitExceeded", c.create_tags, Resources=[vpc],
                 Tags=[{"Key": f"t{i}", "Value": "x"} for i in range(60)])
    # Both attributes at once is refused as a whole.
    r = rawhttp.signed(daemon.url, ec2(Action="ModifyVpcAttribute", VpcId=vpc, **{
        "EnableDnsHostnames.Value": "false", "EnableDnsSupport.Value": "false"}))
    assert rawhttp.ec2_error(r)[0] == "InvalidParameterCombination"
    # A create with a bad tag specification creates nothing.
    expect_error("InvalidParameterValue", c.create_vpc, CidrBlock="10.2.0.0/16",
                 TagSpecifications=[{"ResourceType": "subnet",
                                     "Tags": [{"Key": "a", "Value": "b"}]}])
    expect_error("InvalidParameterValue", c.create_vpc, CidrBlock="10.2.0.0/16",
                 TagSpecifications=[{"ResourceType": "vpc",
                                     "Tags": [{"Key": "aws:reserved", "Value": "b"}]}])
    # DryRun runs the request and rolls it back.
    expect_error("DryRunOperation", c.create_vpc, CidrBlock="10.2.0.0/16", DryRun=True)
    expect_error("DryRunOperation", c.delete_vpc, VpcId=vpc, DryRun=True)
    r = rawhttp.signed(daemon.url, ec2(Action="ModifyVpcAttribute", VpcId=vpc, DryRun="true",
                                       **{"EnableDnsHostnames.Value": "false"}))
    rawhttp.expect_ec2_error(r, "DryRunOperation", 412)
    expect_error("DryRunOperation", c.create_tags, Resources=[vpc],
                 Tags=[{"Key": "dry", "Value": "run"}], DryRun=True)
    expect_error("DryRunOperation", c.delete_tags, Resources=[vpc], DryRun=True)
    # Another account cannot touch it.
    stranger = daemon.ec2("333333333333")
    expect_error("InvalidVpcID.NotFound", stranger.delete_vpc, VpcId=vpc)
    expect_error("InvalidVpcID.NotFound", stranger.modify_vpc_attribute, VpcId=vpc,
                 EnableDnsHostnames={"Value": False})
    expect_error("InvalidVpcID.NotFound", stranger.create_tags, Resources=[vpc],
                 Tags=[{"Key": "mine", "Value": "now"}])
    assert snapshot(daemon) == before


# --- fuzz -------------------------------------------------------------------------------------

ACTIONS = ["CreateVpc", "DescribeVpcs", "DeleteVpc", "ModifyVpcAttribute", "DescribeVpcAttribute",
           "CreateTags", "DeleteTags", "DescribeTags", "CreateSubnet", "DescribeLoadBalancers",
           "CreateVpcEndpoint", "Nope", "", "describevpcs"]
NAMES = ["CidrBlock", "VpcId", "VpcId.1", "VpcId.0", "VpcId.1001", "VpcId.-1", "VpcId.x",
         "ResourceId.1", "Tag.1.Key", "Tag.1.Value", "Tag.2.Key", "Filter.1.Name",
         "Filter.1.Value.1", "Filter.9999999999999999999.Name", "MaxResults", "NextToken",
         "DryRun", "EnableDnsSupport.Value", "EnableDnsHostnames.Value", "Attribute",
         "InstanceTenancy", "TagSpecification.1.ResourceType", "TagSpecification.1.Tag.1.Key",
         "TagSpecification.1.Tag.1.Value", "Names.member.1", "LoadBalancerArns.member.1",
         "Subnets.member.999999", "Action", "Version", "X-Amz-Date", "Signature", ""]


def fuzz_value(rng):
    pick = rng.randrange(12)
    if pick == 0:
        return str(rng.choice([0, 1, -1, 5, 1000, 1001, 2**31, 2**63, -(2**63) - 1, 10**30]))
    if pick == 1:
        return rng.choice(["true", "false", "True", "", "null", "yes"])
    if pick == 2:
        return f"vpc-{rng.getrandbits(68):017x}"[: rng.randrange(4, 30)]
    if pick == 3:
        return f"{rng.randrange(256)}.{rng.randrange(256)}.0.0/{rng.randrange(-1, 40)}"
    if pick == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(40)))
    if pick == 5:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(20)))
    if pick == 6:
        return "x" * rng.choice([255, 256, 10_000])
    if pick == 7:
        return rng.choice(["enableDnsSupport", "enableDnsHostnames", "vpc", "subnet", "default"])
    if pick == 8:
        return "<![CDATA[x]]>&amp;</a>\"'"
    if pick == 9:
        return rng.choice([EC2_VERSION, ELB_VERSION, "2012-01-01"])
    if pick == 10:
        return f"arn:aws:elasticloadbalancing:us-east-1:{rng.randrange(10**12):012d}:x/{rng.random()}"
    return rng.choice(["10.0.0.0/16", "10.0.0.0/28", "172.16.0.0/12"])


URI_CHARS = set(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")


def fuzz_request(rng):
    """(method, path, body, headers) for one random request."""
    kind = rng.randrange(10)
    headers = {"Content-Type": rawhttp.FORM}
    if kind == 0:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    elif kind == 1:
        alphabet = b"&=%+.ABCxyz019\x00\xff "
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(200)))
    elif kind >= 6:
        # Plausible: a real action with a few random (often wrong) parameters.
        params = {"Action": rng.choice(ACTIONS[:8]), "Version": EC2_VERSION}
        for _ in range(rng.randrange(3)):
            params[rng.choice(NAMES[:24])] = fuzz_value(rng)
        body = rawhttp.form(params)
    else:
        params = {}
        if rng.random() < 0.9:
            params["Action"] = rng.choice(ACTIONS)
        if rng.random() < 0.85:
            params["Version"] = rng.choice([EC2_VERSION, EC2_VERSION, ELB_VERSION, "x"])
        for _ in range(rng.randrange(8)):
            params[rng.choice(NAMES)] = fuzz_value(rng)
        body = rawhttp.form(params)
        if kind == 2:  # a truncated body
            body = body[: rng.randrange(len(body) + 1)]
    if rng.random() < 0.1:
        headers["Content-Type"] = rng.choice(["application/json", "text/plain", "", "multipart/x"])
    if rng.random() < 0.15:
        # A garbled or partial Authorization header.
        headers["Authorization"] = rng.choice([
            "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "Bearer x",
            "AWS4-HMAC-SHA256 Credential=111111111111/20200101/us-east-1/ec2/aws4_request, "
            "SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g, SignedHeaders=, Signature=",
        ])
        headers["X-Amz-Date"] = rng.choice(["20200101T000000Z", "garbage", ""])
    method, path = "POST", "/"
    if rng.random() < 0.15:
        # The body as a query string; bytes that may not appear in a URI are escaped (an
        # invalid request line is the HTTP layer's business, not the Query protocol's).
        method = "GET"
        path = "/?" + "".join(chr(b) if chr(b) in URI_CHARS else f"%{b:02X}" for b in body)
        body = b""
    return method, path, body, headers


def test_fuzz_bodies_never_break_the_daemon(daemon):
    rng = random.Random(20240611)
    seen = {}
    for i in range(300):
        method, path, body, headers = fuzz_request(rng)
        r = rawhttp.send(daemon.url, body, headers, method=method, path=path)
        assert r.status < 500, (i, method, path[:200], body[:200], r)
        try:
            root = ET.fromstring(r.body)
        except ET.ParseError as e:
            raise AssertionError(f"request {i}: not XML ({e}): {r}") from e
        if r.status >= 400:
            if root.tag == "Response":
                code = rawhttp.ec2_error(r)[0]
            else:
                code = rawhttp.elb_error(r)[0]
            seen[code] = seen.get(code, 0) + 1
        else:
            assert root.tag.endswith("Response") and root.tag.startswith("{"), r
            seen["ok"] = seen.get("ok", 0) + 1
        assert daemon.proc.poll() is None, f"daemon died on request {i}: {daemon.log()}"
    # The run exercised both successes and a spread of errors.
    assert seen.get("ok", 0) > 10, seen
    assert len(seen) >= 6, seen
    print("fuzz outcomes:", seen)
    # Still serving normally.
    vpc = daemon.ec2(PROVIDER).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    assert vpc in [v["VpcId"] for v in daemon.ec2(PROVIDER).describe_vpcs()["Vpcs"]]
