"""Protocol edge cases: ELBv2 parameter errors are `ValidationError`, and a malformed
percent-escape makes the whole request a `MalformedQueryString`."""

import pytest

import rawhttp
from conftest import PROVIDER, expect_error
from rawhttp import ELB_VERSION


@pytest.mark.parametrize("raw", [b"%zz", b"%", b"%4", b"abc%G1"])
def test_invalid_percent_encoding_is_malformed(daemon, raw):
    body = b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16&TagSpecification.1." \
           b"ResourceType=vpc&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=" + raw
    rawhttp.expect_ec2_error(rawhttp.unsigned(daemon.url, body), "MalformedQueryString", 404)
    assert daemon.ec2("000000000000").describe_vpcs()["Vpcs"] == []


def test_elb_missing_required_parameter_is_validation_error(daemon):
    # CreateLoadBalancer without Name; CreateTargetGroup without Name.
    r = rawhttp.signed(daemon.url, {"Action": "CreateLoadBalancer", "Version": ELB_VERSION,
                                    "Type": "network"}, service="elasticloadbalancing")
    _, message, _ = rawhttp.expect_elb_error(r, "ValidationError", 400)
    assert "name" in message.lower()
    r = rawhttp.signed(daemon.url, {"Action": "CreateTargetGroup", "Version": ELB_VERSION,
                                    "Protocol": "TCP", "Port": "80"},
                       service="elasticloadbalancing")
    rawhttp.expect_elb_error(r, "ValidationError", 400)
    elb = daemon.elbv2(PROVIDER)
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []


def test_elb_bad_values_are_validation_errors(daemon):
    elb = daemon.elbv2(PROVIDER)
    for params in ({"PageSize": "abc"}, {"PageSize": "0"}, {"PageSize": "401"}):
        r = rawhttp.signed(daemon.url, {"Action": "DescribeLoadBalancers",
                                        "Version": ELB_VERSION, **params},
                           service="elasticloadbalancing")
        rawhttp.expect_elb_error(r, "ValidationError", 400)
    expect_error("ValidationError", elb.describe_load_balancers,
                 LoadBalancerArns=["not-an-arn"], status=400)
    expect_error("LoadBalancerNotFound", elb.describe_load_balancers,
                 LoadBalancerArns=["arn:aws:elasticloadbalancing:us-east-1:111111111111:"
                                   "loadbalancer/net/nope/0123456789abcdef"], status=400)
