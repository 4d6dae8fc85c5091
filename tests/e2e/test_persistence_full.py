"""A whole PrivateLink deployment survives kill -9: subnets, security groups, the NLB with its
target group and listener, the endpoint service with its permissions, and an accepted endpoint
come back identical, and the endpoint is available again."""

import signal

import pytest

from conftest import CONSUMER, PROVIDER, wait_until



def deploy(daemon):
    p_ec2, p_elb, c_ec2 = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER), daemon.ec2(CONSUMER)
    p_vpc = p_ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    p_subnets = [
        p_ec2.create_subnet(VpcId=p_vpc, CidrBlock=f"10.0.{i}.0/24",
                            AvailabilityZone=f"us-east-1{az}",
                            TagSpecifications=[{"ResourceType": "subnet",
                                                "Tags": [{"Key": "az", "Value": az}]}],
                            )["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    sg = p_ec2.create_security_group(GroupName="web", Description="web", VpcId=p_vpc)["GroupId"]
    p_ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
        "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    lb = p_elb.create_load_balancer(Name="svc", Type="network", Scheme="internal",
                                    Subnets=p_subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = p_elb.create_target_group(Name="svc-tg", Protocol="TCP", Port=8080, VpcId=p_vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    p_elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.0.1.50", "Port": 8080}])
    p_elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "10"}])
    p_elb.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    svc = p_ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb], AcceptanceRequired=True)["ServiceConfiguration"]
    p_ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])

    c_vpc = c_ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    c_subnet = c_ec2.create_subnet(VpcId=c_vpc, CidrBlock="10.0.1.0/24",
                                   AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    ep = c_ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=c_vpc,
                                   ServiceName=svc["ServiceName"], SubnetIds=[c_subnet],
                                   )["VpcEndpoint"]["VpcEndpointId"]
    p_ec2.accept_vpc_endpoint_connections(ServiceId=svc["ServiceId"], VpcEndpointIds=[ep])
    wait_for_steady_state(daemon, ep, lb)
    return svc["ServiceId"], ep, lb


def wait_for_steady_state(daemon, endpoint_id, lb_arn):
    c_ec2, p_elb = daemon.ec2(CONSUMER), daemon.elbv2(PROVIDER)
    wait_until(lambda: c_ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])
               ["VpcEndpoints"][0]["State"] == "available", timeout=30,
               what="endpoint available")
    wait_until(lambda: p_elb.describe_load_balancers(LoadBalancerArns=[lb_arn])
               ["LoadBalancers"][0]["State"]["Code"] == "active", timeout=30,
               what="load balancer active")


def strip(resp):
    resp.pop("ResponseMetadata", None)
    return resp


def snapshot(daemon, service_id):
    p_ec2, p_elb, c_ec2 = daemon.ec2(PROVIDER), daemon.elbv2(PROVIDER), daemon.ec2(CONSUMER)
    out = {}
    for who, ec2 in (("provider", p_ec2), ("consumer", c_ec2)):
        out[who] = {
            "vpcs": strip(ec2.describe_vpcs()),
            "subnets": strip(ec2.describe_subnets()),
            "groups": strip(ec2.describe_security_groups()),
            "enis": strip(ec2.describe_network_interfaces()),
            "endpoints": strip(ec2.describe_vpc_endpoints()),
            "services": strip(ec2.describe_vpc_endpoint_service_configurations()),
            "tags": strip(ec2.describe_tags()),
        }
    out["consumer"]["visible"] = strip(c_ec2.describe_vpc_endpoint_services())
    out["provider"]["connections"] = strip(p_ec2.describe_vpc_endpoint_connections())
    out["provider"]["permissions"] = strip(
        p_ec2.describe_vpc_endpoint_service_permissions(ServiceId=service_id))
    lbs = strip(p_elb.describe_load_balancers())
    out["elb"] = {"lbs": lbs, "tgs": strip(p_elb.describe_target_groups())}
    for lb in lbs["LoadBalancers"]:
        arn = lb["LoadBalancerArn"]
        out["elb"][arn] = {
            "listeners": strip(p_elb.describe_listeners(LoadBalancerArn=arn)),
            "attributes": strip(p_elb.describe_load_balancer_attributes(LoadBalancerArn=arn)),
        }
    for tg in out["elb"]["tgs"]["TargetGroups"]:
        arn = tg["TargetGroupArn"]
        out["elb"][arn] = {
            "attributes": strip(p_elb.describe_target_group_attributes(TargetGroupArn=arn)),
            "targets": sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in
                              p_elb.describe_target_health(TargetGroupArn=arn)
                              ["TargetHealthDescriptions"]),
        }
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_privatelink_deployment_survives_restart(daemon, sig):
    service_id, endpoint_id, lb_arn = deploy(daemon)
    before = snapshot(daemon, service_id)
    assert len(before["consumer"]["endpoints"]["VpcEndpoints"]) == 1
    assert len(before["provider"]["enis"]["NetworkInterfaces"]) >= 2  # NLB nodes
    daemon.restart(sig)
    wait_for_steady_state(daemon, endpoint_id, lb_arn)
    assert snapshot(daemon, service_id) == before


def test_acknowledged_endpoint_survives_an_immediate_kill_9(daemon):
    service_id, endpoint_id, lb_arn = deploy(daemon)
    c_ec2 = daemon.ec2(CONSUMER)
    c_ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    daemon.restart(signal.SIGKILL)
    c_ec2 = daemon.ec2(CONSUMER)
    # Deleted stays deleted (possibly shown as `deleted` for a while, never as available).
    left = [e for e in c_ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e["State"] not in ("deleting", "deleted")]
    assert left == []
    # The freed address is reusable: a new endpoint in the same subnet is created.
    svc = daemon.ec2(PROVIDER).describe_vpc_endpoint_service_configurations(
        ServiceIds=[service_id])["ServiceConfigurations"][0]
    subnet = c_ec2.describe_subnets()["Subnets"][0]
    ep = c_ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=subnet["VpcId"],
                                   ServiceName=svc["ServiceName"],
                                   SubnetIds=[subnet["SubnetId"]])["VpcEndpoint"]
    daemon.restart(signal.SIGKILL)
    got = daemon.ec2(CONSUMER).describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
    assert got["VpcEndpoints"][0]["State"] == "pendingAcceptance"
