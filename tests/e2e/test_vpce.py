"""PrivateLink through boto3, across accounts: a provider's endpoint service in front of a
Network Load Balancer, a consumer's interface endpoint to it, acceptance, rejection, deletion,
and the rules of who sees and changes what."""

import re

import pytest

from conftest import CONSUMER, OTHER, PROVIDER, expect_error, wait_until

REGION = "us-east-1"
SVC_ID = re.compile(r"^vpce-svc-[0-9a-f]{17}$")
VPCE_ID = re.compile(r"^vpce-[0-9a-f]{17}$")


# --- building blocks ------------------------------------------------------------------------

def make_vpc(ec2, cidr="10.0.0.0/16"):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def make_subnet(ec2, vpc_id, cidr, zone):
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr,
                             AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]


def make_nlb(elb, subnets, name=None):
    name = name or f"nlb-{len(subnets)}-{make_nlb.count}"
    make_nlb.count += 1
    lb = elb.create_load_balancer(Name=name, Type="network", Scheme="internal",
                                  Subnets=subnets)["LoadBalancers"][0]
    return lb["LoadBalancerArn"]


make_nlb.count = 0


class Provider:
    """A provider VPC with subnets in zones a and b and an NLB across them."""

    def __init__(self, daemon):
        self.ec2 = daemon.ec2(PROVIDER)
        self.elb = daemon.elbv2(PROVIDER)
        self.vpc = make_vpc(self.ec2)
        self.subnets = [make_subnet(self.ec2, self.vpc, "10.0.1.0/24", "a"),
                        make_subnet(self.ec2, self.vpc, "10.0.2.0/24", "b")]
        self.nlb = make_nlb(self.elb, self.subnets)

    def service(self, nlb=None, **kw):
        return self.ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[nlb or self.nlb], **kw)["ServiceConfiguration"]

    def allow(self, service_id, principal):
        return self.ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=service_id, AddAllowedPrincipals=[principal])


class Consumer:
    """A consumer VPC (overlapping the provider's on purpose) with subnets in zones a, b, c."""

    def __init__(self, daemon, account=CONSUMER):
        self.ec2 = daemon.ec2(account)
        self.vpc = make_vpc(self.ec2)
        self.subnets = [make_subnet(self.ec2, self.vpc, "10.0.1.0/24", "a"),
                        make_subnet(self.ec2, self.vpc, "10.0.2.0/24", "b"),
                        make_subnet(self.ec2, self.vpc, "10.0.3.0/24", "c")]

    def endpoint(self, service_name, subnets=None, **kw):
        return self.ec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=self.vpc, ServiceName=service_name,
            SubnetIds=self.subnets[:2] if subnets is None else subnets, **kw)["VpcEndpoint"]

    def state(self, endpoint_id):
        eps = self.ec2.describe_vpc_endpoints(
            Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint_id]}])["VpcEndpoints"]
        return eps[0]["State"] if eps else None


@pytest.fixture
def provider(daemon):
    return Provider(daemon)


@pytest.fixture
def consumer(daemon):
    return Consumer(daemon)


def connection_state(provider, endpoint_id):
    conns = provider.ec2.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint_id]}])["VpcEndpointConnections"]
    return conns[0]["VpcEndpointState"] if conns else None


def unsuccessful(resp):
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    return [(u["ResourceId"], u["Error"]["Code"]) for u in resp.get("Unsuccessful", [])]


def paged(call, key, **kw):
    """Every item of a describe, page by page; also returns the page sizes."""
    items, sizes, token = [], [], None
    while True:
        args = dict(kw)
        if token:
            args["NextToken"] = token
        resp = call(**args)
        items.extend(resp[key])
        sizes.append(len(resp[key]))
        token = resp.get("NextToken")
        if not token:
            return items, sizes


# --- the workflow ---------------------------------------------------------------------------

def test_provider_consumer_workflow(daemon, provider, consumer):
    created = provider.ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[provider.nlb], ClientToken="svc-token-1",
        TagSpecifications=[{"ResourceType": "vpc-endpoint-service",
                            "Tags": [{"Key": "Name", "Value": "my-service"}]}])
    assert created["ClientToken"] == "svc-token-1"
    svc = created["ServiceConfiguration"]
    sid = svc["ServiceId"]
    assert SVC_ID.match(sid), sid
    assert svc["ServiceName"] == f"com.amazonaws.vpce.{REGION}.{sid}"
    assert svc["ServiceType"] == [{"ServiceType": "Interface"}]
    assert svc["ServiceState"] == "Available"
    assert svc["AcceptanceRequired"] is True, "AWS's default"
    assert svc["ManagesVpcEndpoints"] is False
    assert svc["AvailabilityZones"] == [f"{REGION}a", f"{REGION}b"]
    assert svc["AvailabilityZoneIds"] == ["use1-az1", "use1-az2"]
    assert svc["NetworkLoadBalancerArns"] == [provider.nlb]
    assert svc["GatewayLoadBalancerArns"] == []
    assert svc["SupportedIpAddressTypes"] == ["ipv4"]
    assert svc["BaseEndpointDnsNames"] == [f"{sid}.{REGION}.vpce.amazonaws.com"]
    assert svc["Tags"] == [{"Key": "Name", "Value": "my-service"}]
    assert "PrivateDnsName" not in svc
    name = svc["ServiceName"]

    # Not allowed yet: the consumer neither sees nor reaches the service.
    assert consumer.ec2.describe_vpc_endpoint_services()["ServiceNames"] == []
    msg = expect_error("InvalidServiceName", consumer.ec2.describe_vpc_endpoint_services,
                       ServiceNames=[name], status=400)["Error"]["Message"]
    assert msg == f"The Vpc Endpoint Service '{name}' does not exist"
    expect_error("InvalidServiceName", consumer.endpoint, name)

    added = provider.allow(sid, f"arn:aws:iam::{CONSUMER}:root")
    assert added["ReturnValue"] is True
    [perm] = added["AddedPrincipals"]
    assert perm["Principal"] == f"arn:aws:iam::{CONSUMER}:root"
    assert perm["PrincipalType"] == "Account"
    assert perm["ServiceId"] == sid
    assert perm["ServicePermissionId"].startswith("vpce-spp-")

    seen = consumer.ec2.describe_vpc_endpoint_services()
    assert seen["ServiceNames"] == [name]
    [detail] = seen["ServiceDetails"]
    assert detail["ServiceName"] == name and detail["ServiceId"] == sid
    assert detail["Owner"] == PROVIDER
    assert detail["ServiceType"] == [{"ServiceType": "Interface"}]
    assert detail["AvailabilityZones"] == [f"{REGION}a", f"{REGION}b"]
    assert detail["BaseEndpointDnsNames"] == [f"{sid}.{REGION}.vpce.amazonaws.com"]
    assert detail["AcceptanceRequired"] is True
    assert detail["VpcEndpointPolicySupported"] is False
    assert detail["ManagesVpcEndpoints"] is False
    assert detail["SupportedIpAddressTypes"] == ["ipv4"]
    assert detail.get("Tags", []) == [], "only the owner sees the service's tags"
    own = provider.ec2.describe_vpc_endpoint_services(ServiceNames=[name])["ServiceDetails"]
    assert own[0]["Tags"] == [{"Key": "Name", "Value": "my-service"}]

    ep = consumer.endpoint(name, TagSpecifications=[
        {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "to-provider"}]}])
    eid = ep["VpcEndpointId"]
    assert VPCE_ID.match(eid), eid
    assert ep["VpcEndpointType"] == "Interface"
    assert ep["State"] == "pendingAcceptance"
    assert ep["VpcId"] == consumer.vpc and ep["ServiceName"] == name
    assert ep["OwnerId"] == CONSUMER
    assert ep["RequesterManaged"] is False
    assert ep["PrivateDnsEnabled"] is False
    assert ep["IpAddressType"] == "ipv4"
    assert ep["SubnetIds"] == consumer.subnets[:2]
    assert [g["GroupName"] for g in ep["Groups"]] == ["default"]
    assert ep["Tags"] == [{"Key": "Name", "Value": "to-provider"}]
    assert len(ep["NetworkInterfaceIds"]) == 2
    names = [d["DnsName"] for d in ep["DnsEntries"]]
    label = re.match(rf"^{eid}-([a-z0-9]{{8}})\.{sid}\.{REGION}\.vpce\.amazonaws\.com$", names[0])
    assert label, names
    assert names[1:] == [f"{eid}-{label.group(1)}-{REGION}{z}.{sid}.{REGION}.vpce.amazonaws.com"
                         for z in "ab"]
    assert {d["HostedZoneId"] for d in ep["DnsEntries"]} == {"Z7HUB22UULQXV"}

    # The endpoint's interfaces: requester-managed, in the consumer's subnets and account.
    enis = consumer.ec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    assert sorted(e["SubnetId"] for e in enis) == sorted(consumer.subnets[:2])
    for e in enis:
        assert e["InterfaceType"] == "vpc_endpoint"
        assert e["RequesterManaged"] is True
        assert e["Description"] == f"VPC Endpoint Interface {eid}"
        assert e["VpcId"] == consumer.vpc

    # The provider's view of the request.
    [conn] = provider.ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
    assert conn["ServiceId"] == sid and conn["VpcEndpointId"] == eid
    assert conn["VpcEndpointOwner"] == CONSUMER
    assert conn["VpcEndpointState"] == "pendingAcceptance"
    assert conn["NetworkLoadBalancerArns"] == [provider.nlb]
    assert conn["GatewayLoadBalancerArns"] == []
    assert conn["IpAddressType"] == "ipv4"
    assert [d["DnsName"] for d in conn["DnsEntries"]] == names
    assert conn["VpcEndpointConnectionId"]
    assert consumer.ec2.describe_vpc_endpoint_connections()["VpcEndpointConnections"] == []

    assert unsuccessful(provider.ec2.accept_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == []
    wait_until(lambda: consumer.state(eid) == "available", what="endpoint available")
    assert connection_state(provider, eid) == "available"

    # Reject: the endpoint goes rejected and keeps its interfaces until the consumer deletes.
    assert unsuccessful(provider.ec2.reject_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == []
    assert consumer.state(eid) == "rejected"
    assert len(consumer.ec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]) == 2

    assert unsuccessful(consumer.ec2.delete_vpc_endpoints(VpcEndpointIds=[eid])) == []
    wait_until(lambda: consumer.state(eid) is None, what="endpoint gone")
    expect_error("InvalidVpcEndpointId.NotFound", consumer.ec2.describe_vpc_endpoints,
                 VpcEndpointIds=[eid])
    remaining = consumer.ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [consumer.vpc]}])["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in remaining
            if e["NetworkInterfaceId"] in ep["NetworkInterfaceIds"]] == []

    assert unsuccessful(provider.ec2.delete_vpc_endpoint_service_configurations(
        ServiceIds=[sid])) == []
    wait_until(lambda: provider.ec2.describe_vpc_endpoint_service_configurations()[
        "ServiceConfigurations"] == [], what="service gone")
    assert consumer.ec2.describe_vpc_endpoint_services()["ServiceNames"] == []


def test_auto_accept_and_deletion_rules(provider, consumer):
    svc = provider.service(AcceptanceRequired=False)
    sid, name = svc["ServiceId"], svc["ServiceName"]
    assert svc["AcceptanceRequired"] is False
    provider.allow(sid, "*")
    ep = consumer.endpoint(name, subnets=[consumer.subnets[0]])
    eid = ep["VpcEndpointId"]
    assert ep["State"] == "pending"
    wait_until(lambda: consumer.state(eid) == "available", what="auto-accepted endpoint")

    # A service with a live connection cannot go; the answer is HTTP 200 with the failure.
    resp = provider.ec2.delete_vpc_endpoint_service_configurations(
        ServiceIds=[sid, "vpce-svc-0123456789abcdef0"])
    assert unsuccessful(resp) == [(sid, "ExistingVpcEndpointConnections"),
                                  ("vpce-svc-0123456789abcdef0",
                                   "InvalidVpcEndpointService.NotFound")]
    assert provider.ec2.describe_vpc_endpoint_service_configurations(
        ServiceIds=[sid])["ServiceConfigurations"][0]["ServiceState"] == "Available"

    # The provider cannot delete the consumer's endpoint, nor change its connection through
    # the consumer's API.
    assert unsuccessful(provider.ec2.delete_vpc_endpoints(VpcEndpointIds=[eid])) == \
        [(eid, "InvalidVpcEndpoint.NotFound")]
    assert consumer.state(eid) == "available"
    expect_error("InvalidVpcEndpointServiceId.NotFound",
                 consumer.ec2.reject_vpc_endpoint_connections, ServiceId=sid,
                 VpcEndpointIds=[eid])
    assert consumer.state(eid) == "available"

    provider.ec2.reject_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[eid])
    assert unsuccessful(provider.ec2.delete_vpc_endpoint_service_configurations(
        ServiceIds=[sid])) == []
    wait_until(lambda: not provider.ec2.describe_vpc_endpoint_service_configurations()[
        "ServiceConfigurations"], what="service gone")
    # The rejected endpoint stays with its consumer until deleted.
    assert consumer.state(eid) == "rejected"
    consumer.ec2.delete_vpc_endpoints(VpcEndpointIds=[eid])
    wait_until(lambda: consumer.state(eid) is None, what="endpoint gone")


# --- provider errors and options ------------------------------------------------------------

def test_create_service_errors(daemon, provider):
    ec2 = provider.ec2
    msg = expect_error("InvalidParameter", ec2.create_vpc_endpoint_service_configuration,
                       status=400)["Error"]["Message"]
    assert msg == ("exactly one of network_load_balancer_arn or gateway_load_balancer_arn is a "
                   "required member")
    expect_error("InvalidNetworkLoadBalancerArn.Malformed",
                 ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=["arn:aws:elasticloadbalancing:nope"])
    unknown = (f"arn:aws:elasticloadbalancing:{REGION}:{PROVIDER}:loadbalancer/net/ghost/"
               "0123456789abcdef")
    expect_error("InvalidNetworkLoadBalancerArn.NotFound",
                 ec2.create_vpc_endpoint_service_configuration, NetworkLoadBalancerArns=[unknown])
    # Another account's load balancer does not exist for the caller.
    expect_error("InvalidNetworkLoadBalancerArn.NotFound",
                 daemon.ec2(CONSUMER).create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb])
    expect_error("InvalidParameter", ec2.create_vpc_endpoint_service_configuration,
                 GatewayLoadBalancerArns=[unknown])
    expect_error("InvalidParameter", ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb], SupportedIpAddressTypes=["ipv6"])
    expect_error("InvalidParameterValue", ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb], SupportedIpAddressTypes=["ipv5"])
    expect_error("InvalidParameter", ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb], PrivateDnsName="not a domain")
    expect_error("InvalidParameterValue", ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb],
                 TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": []}])
    expect_error("DryRunOperation", ec2.create_vpc_endpoint_service_configuration,
                 NetworkLoadBalancerArns=[provider.nlb], DryRun=True, status=412)
    assert ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []

    # ClientToken: the same request returns the same service; a different one is refused.
    a = provider.service(ClientToken="tok")
    b = provider.service(ClientToken="tok")
    assert a["ServiceId"] == b["ServiceId"]
    expect_error("IdempotentParameterMismatch", provider.service, ClientToken="tok",
                 AcceptanceRequired=False)
    # One service per load balancer.
    expect_error("InvalidParameter", provider.service)
    assert len(ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]) == 1


def test_service_configurations_filters_pages_and_visibility(daemon, provider):
    ids = []
    for i in range(6):
        nlb = provider.nlb if i == 0 else make_nlb(provider.elb, provider.subnets)
        svc = provider.service(nlb=nlb, TagSpecifications=[{
            "ResourceType": "vpc-endpoint-service",
            "Tags": [{"Key": "parity", "Value": "even" if i % 2 == 0 else "odd"}]}])
        ids.append(svc["ServiceId"])
    ec2 = provider.ec2
    items, sizes = paged(ec2.describe_vpc_endpoint_service_configurations,
                         "ServiceConfigurations", MaxResults=5)
    assert [s["ServiceId"] for s in items] == ids
    assert sizes == [5, 1]
    pages = ec2.get_paginator("describe_vpc_endpoint_service_configurations").paginate(
        PaginationConfig={"PageSize": 5})
    assert [s["ServiceId"] for p in pages for s in p["ServiceConfigurations"]] == ids
    expect_error("InvalidParameterValue", ec2.describe_vpc_endpoint_service_configurations,
                 MaxResults=4)
    expect_error("InvalidPaginationToken", ec2.describe_vpc_endpoint_service_configurations,
                 NextToken="garbage")

    def count(name, *values):
        return len(ec2.describe_vpc_endpoint_service_configurations(
            Filters=[{"Name": name, "Values": list(values)}])["ServiceConfigurations"])

    assert count("tag:parity", "even") == 3
    assert count("tag-key", "parity") == 6
    assert count("service-id", ids[2], ids[4]) == 2
    assert count("service-name", f"com.amazonaws.vpce.{REGION}.{ids[1]}") == 1
    assert count("service-state", "Available") == 6
    assert count("service-state", "Deleting") == 0
    assert count("supported-ip-address-types", "ipv4") == 6
    expect_error("InvalidParameterValue", count, "no-such-filter", "x")
    got = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[ids[3]])
    assert [s["ServiceId"] for s in got["ServiceConfigurations"]] == [ids[3]]

    other = daemon.ec2(CONSUMER)
    assert other.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"] == []
    expect_error("InvalidVpcEndpointServiceId.NotFound",
                 other.describe_vpc_endpoint_service_configurations, ServiceIds=[ids[0]])
    expect_error("InvalidVpcEndpointServiceId.Malformed",
                 ec2.describe_vpc_endpoint_service_configurations, ServiceIds=["vpce-svc-zz"])
    expect_error("DryRunOperation", ec2.describe_vpc_endpoint_service_configurations,
                 DryRun=True)


def test_modify_service_configuration(daemon, provider, consumer):
    svc = provider.service()
    sid = svc["ServiceId"]
    ec2 = provider.ec2

    def current():
        return ec2.describe_vpc_endpoint_service_configurations(
            ServiceIds=[sid])["ServiceConfigurations"][0]

    assert ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=sid, AcceptanceRequired=False, PrivateDnsName="api.example.com")["Return"]
    cfg = current()
    assert cfg["AcceptanceRequired"] is False
    assert cfg["PrivateDnsName"] == "api.example.com"
    proof = cfg["PrivateDnsNameConfiguration"]
    assert proof["State"] == "pendingVerification" and proof["Type"] == "TXT"
    assert re.match(r"^_[a-z0-9]{20}$", proof["Name"]), proof
    assert re.match(r"^vpce:[A-Za-z0-9]{20}$", proof["Value"]), proof
    assert ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)["ReturnValue"]
    assert current()["PrivateDnsNameConfiguration"]["State"] == "pendingVerification"
    # Consumers see the name and its state.
    provider.allow(sid, "*")
    [detail] = consumer.ec2.describe_vpc_endpoint_services(
        ServiceNames=[svc["ServiceName"]])["ServiceDetails"]
    assert detail["PrivateDnsName"] == "api.example.com"
    assert detail["PrivateDnsNames"] == [{"PrivateDnsName": "api.example.com"}]
    assert detail["PrivateDnsNameVerificationState"] == "pendingVerification"
    # An unverified name cannot be used for private DNS.
    msg = expect_error("InvalidParameter", consumer.endpoint, svc["ServiceName"],
                       PrivateDnsEnabled=True)["Error"]["Message"]
    assert "does not provide a private DNS name" in msg

    expect_error("InvalidParameterCombination", ec2.modify_vpc_endpoint_service_configuration,
                 ServiceId=sid, PrivateDnsName="x.example.com", RemovePrivateDnsName=True)
    ec2.modify_vpc_endpoint_service_configuration(ServiceId=sid, RemovePrivateDnsName=True)
    cfg = current()
    assert "PrivateDnsName" not in cfg and "PrivateDnsNameConfiguration" not in cfg
    expect_error("InvalidParameter", ec2.start_vpc_endpoint_service_private_dns_verification,
                 ServiceId=sid)

    # Load balancers: a second can come and the first go; the last cannot go.
    sc = make_subnet(ec2, provider.vpc, "10.0.3.0/24", "c")
    nlb2 = make_nlb(provider.elb, [sc])
    ec2.modify_vpc_endpoint_service_configuration(ServiceId=sid,
                                                  AddNetworkLoadBalancerArns=[nlb2])
    cfg = current()
    assert cfg["NetworkLoadBalancerArns"] == [provider.nlb, nlb2]
    assert cfg["AvailabilityZones"] == [f"{REGION}{z}" for z in "abc"]
    ec2.modify_vpc_endpoint_service_configuration(ServiceId=sid,
                                                  RemoveNetworkLoadBalancerArns=[provider.nlb])
    assert current()["NetworkLoadBalancerArns"] == [nlb2]
    expect_error("InvalidParameter", ec2.modify_vpc_endpoint_service_configuration,
                 ServiceId=sid, RemoveNetworkLoadBalancerArns=[nlb2])
    expect_error("InvalidParameter", ec2.modify_vpc_endpoint_service_configuration,
                 ServiceId=sid, AddSupportedIpAddressTypes=["ipv6"])

    # With an endpoint attached, the load balancers are fixed.
    consumer.endpoint(svc["ServiceName"], subnets=[consumer.subnets[2]])
    expect_error("ExistingVpcEndpointConnections", ec2.modify_vpc_endpoint_service_configuration,
                 ServiceId=sid, AddNetworkLoadBalancerArns=[provider.nlb])
    # Only the owner changes it.
    expect_error("InvalidVpcEndpointServiceId.NotFound",
                 consumer.ec2.modify_vpc_endpoint_service_configuration, ServiceId=sid,
                 AcceptanceRequired=True)
    expect_error("DryRunOperation", ec2.modify_vpc_endpoint_service_configuration,
                 ServiceId=sid, AcceptanceRequired=True, DryRun=True)
    assert current()["AcceptanceRequired"] is False
    assert ec2.modify_vpc_endpoint_service_payer_responsibility(
        ServiceId=sid, PayerResponsibility="ServiceOwner")["ReturnValue"] is True


def test_permissions(daemon, provider, consumer):
    svc = provider.service()
    sid, name = svc["ServiceId"], svc["ServiceName"]
    ec2 = provider.ec2
    for bad in ["arn:aws:iam::123:root", "arn:aws:iam::111111111111:group/g",
                "arn:aws:iam::111111111111:role/path/name", "everyone"]:
        expect_error("InvalidPrincipal", ec2.modify_vpc_endpoint_service_permissions,
                     ServiceId=sid, AddAllowedPrincipals=[bad])
    principals = [f"arn:aws:iam::{CONSUMER}:root", f"arn:aws:iam::{OTHER}:user/alice",
                  "arn:aws:iam::444444444444:role/deployer",
                  "arn:aws:iam::555555555555:root", "arn:aws:iam::666666666666:root",
                  "arn:aws:iam::777777777777:root"]
    added = ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=sid, AddAllowedPrincipals=principals)["AddedPrincipals"]
    assert [a["PrincipalType"] for a in added] == ["Account", "User", "Role",
                                                   "Account", "Account", "Account"]
    perms, sizes = paged(ec2.describe_vpc_endpoint_service_permissions, "AllowedPrincipals",
                         ServiceId=sid, MaxResults=5)
    assert sizes == [5, 1]
    assert [p["Principal"] for p in perms] == principals
    assert all(p["ServiceId"] == sid and p["ServicePermissionId"].startswith("vpce-spp-")
               for p in perms)
    roles = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=sid, Filters=[{"Name": "principal-type", "Values": ["Role", "User"]}])
    assert sorted(p["Principal"] for p in roles["AllowedPrincipals"]) == sorted(principals[1:3])
    one = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=sid, Filters=[{"Name": "principal", "Values": [principals[0]]}])
    assert len(one["AllowedPrincipals"]) == 1
    # Only the owner reads and changes them.
    for call in (consumer.ec2.describe_vpc_endpoint_service_permissions,):
        expect_error("InvalidVpcEndpointServiceId.NotFound", call, ServiceId=sid)
    expect_error("InvalidVpcEndpointServiceId.NotFound",
                 consumer.ec2.modify_vpc_endpoint_service_permissions, ServiceId=sid,
                 AddAllowedPrincipals=["*"])
    expect_error("InvalidVpcEndpointServiceId.Malformed",
                 ec2.describe_vpc_endpoint_service_permissions, ServiceId="svc-1")

    # A user principal grants its account.
    assert daemon.ec2(OTHER).describe_vpc_endpoint_services()["ServiceNames"] == [name]
    assert daemon.ec2("888888888888").describe_vpc_endpoint_services()["ServiceNames"] == []

    # Revoking hides the service but keeps the existing connection.
    ep = consumer.endpoint(name, subnets=[consumer.subnets[0]])
    ec2.modify_vpc_endpoint_service_permissions(ServiceId=sid,
                                                RemoveAllowedPrincipals=[principals[0]])
    assert consumer.ec2.describe_vpc_endpoint_services()["ServiceNames"] == []
    expect_error("InvalidServiceName", consumer.endpoint, name, subnets=[])
    ec2.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[ep["VpcEndpointId"]])
    wait_until(lambda: consumer.state(ep["VpcEndpointId"]) == "available",
               what="revoked consumer's endpoint still accepted")
    # `*` makes it public.
    ec2.modify_vpc_endpoint_service_permissions(ServiceId=sid, AddAllowedPrincipals=["*"])
    assert consumer.ec2.describe_vpc_endpoint_services()["ServiceNames"] == [name]
    alls = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=sid, Filters=[{"Name": "principal-type", "Values": ["All"]}])
    assert [p["Principal"] for p in alls["AllowedPrincipals"]] == ["*"]


def test_describe_services_filters_and_pages(daemon, provider, consumer):
    names = []
    for i in range(3):
        nlb = provider.nlb if i == 0 else make_nlb(provider.elb, provider.subnets)
        svc = provider.service(nlb=nlb)
        provider.allow(svc["ServiceId"], "*")
        names.append(svc["ServiceName"])
    ec2 = consumer.ec2
    got, sizes = paged(ec2.describe_vpc_endpoint_services, "ServiceDetails", MaxResults=2)
    assert [d["ServiceName"] for d in got] == names and sizes == [2, 1]
    page = ec2.describe_vpc_endpoint_services(MaxResults=2)
    assert page["ServiceNames"] == names[:2]

    def count(name, *values):
        return len(ec2.describe_vpc_endpoint_services(
            Filters=[{"Name": name, "Values": list(values)}])["ServiceNames"])

    assert count("owner", PROVIDER) == 3
    assert count("owner", CONSUMER) == 0
    assert count("service-name", names[1]) == 1
    assert count("service-type", "Interface") == 3
    assert count("service-type", "Gateway") == 0
    assert count("service-region", REGION) == 3
    assert count("supported-ip-address-types", "ipv4") == 3
    expect_error("InvalidParameterValue", count, "bogus", "x")
    two = ec2.describe_vpc_endpoint_services(ServiceNames=[names[2], names[0]])
    assert sorted(two["ServiceNames"]) == sorted([names[0], names[2]])
    expect_error("InvalidServiceName", ec2.describe_vpc_endpoint_services,
                 ServiceNames=[names[0], "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"])
    expect_error("DryRunOperation", ec2.describe_vpc_endpoint_services, DryRun=True)


# --- consumer errors and options ------------------------------------------------------------

def test_create_endpoint_errors(daemon, provider, consumer):
    svc = provider.service()
    sid, name = svc["ServiceId"], svc["ServiceName"]
    provider.allow(sid, f"arn:aws:iam::{CONSUMER}:root")
    ec2 = consumer.ec2
    a, b, c = consumer.subnets

    # The default type is Gateway, which takes no subnets.
    msg = expect_error("InvalidParameter", ec2.create_vpc_endpoint, VpcId=consumer.vpc,
                       ServiceName=name, SubnetIds=[a])["Error"]["Message"]
    assert msg == ("Subnet IDs are only supported for Interface and GatewayLoadBalancer type "
                   "VPC Endpoints.")
    msg = expect_error("InvalidParameter", ec2.create_vpc_endpoint, VpcId=consumer.vpc,
                       ServiceName=name)["Error"]["Message"]
    assert msg == "Endpoint type (Gateway) does not match available service types ([Interface])."
    for kind in ("GatewayLoadBalancer", "Resource", "ServiceNetwork"):
        expect_error("InvalidParameter", ec2.create_vpc_endpoint, VpcEndpointType=kind,
                     VpcId=consumer.vpc, ServiceName=name)
    expect_error("InvalidServiceName", consumer.endpoint,
                 f"com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0")
    expect_error("InvalidVpcID.NotFound", ec2.create_vpc_endpoint, VpcEndpointType="Interface",
                 VpcId=provider.vpc, ServiceName=name)
    extra_a = make_subnet(ec2, consumer.vpc, "10.0.4.0/24", "a")
    expect_error("DuplicateSubnetsInSameZone", consumer.endpoint, name, subnets=[a, extra_a])
    msg = expect_error("InvalidParameter", consumer.endpoint, name,
                       subnets=[c])["Error"]["Message"]
    assert msg == (f"The VPC endpoint service {name} does not support the availability zone of "
                   f"the subnet: {c}.")
    expect_error("InvalidSubnetID.NotFound", consumer.endpoint, name,
                 subnets=[provider.subnets[0]])
    expect_error("InvalidSubnetID.Malformed", consumer.endpoint, name, subnets=["subnet-x"])
    expect_error("InvalidGroup.NotFound", consumer.endpoint, name,
                 SecurityGroupIds=["sg-0123456789abcdef0"])
    expect_error("InvalidGroupId.Malformed", consumer.endpoint, name, SecurityGroupIds=["nope"])
    expect_error("InvalidParameter", consumer.endpoint, name, PrivateDnsEnabled=True)
    expect_error("InvalidParameter", consumer.endpoint, name, IpAddressType="dualstack")
    expect_error("InvalidPolicyDocument", consumer.endpoint, name, PolicyDocument="{nope")
    expect_error("InvalidParameterValue", consumer.endpoint, name,
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": []}])
    expect_error("DryRunOperation", consumer.endpoint, name, DryRun=True, status=412)
    # None of that created anything.
    assert ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [consumer.vpc]}])["NetworkInterfaces"]
    assert [e for e in enis if e.get("InterfaceType") == "vpc_endpoint"] == []
    # An account the service does not allow cannot connect.
    stranger = Consumer(daemon, OTHER)
    expect_error("InvalidServiceName", stranger.endpoint, name)

    # ClientToken: one endpoint per token; another request with it is refused.
    first = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=consumer.vpc,
                                    ServiceName=name, SubnetIds=[a], ClientToken="ep-1")
    again = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=consumer.vpc,
                                    ServiceName=name, SubnetIds=[a], ClientToken="ep-1")
    assert first["ClientToken"] == "ep-1"
    assert first["VpcEndpoint"]["VpcEndpointId"] == again["VpcEndpoint"]["VpcEndpointId"]
    expect_error("IdempotentParameterMismatch", ec2.create_vpc_endpoint,
                 VpcEndpointType="Interface", VpcId=consumer.vpc, ServiceName=name,
                 SubnetIds=[b], ClientToken="ep-1")
    assert len(ec2.describe_vpc_endpoints()["VpcEndpoints"]) == 1


def test_endpoint_quota(provider, consumer):
    svc = provider.service(AcceptanceRequired=False)
    provider.allow(svc["ServiceId"], "*")
    for _ in range(50):
        consumer.endpoint(svc["ServiceName"], subnets=[])
    expect_error("VpcEndpointLimitExceeded", consumer.endpoint, svc["ServiceName"], subnets=[])


def test_describe_endpoints_filters_pages_and_visibility(provider, consumer):
    svc = provider.service()
    sid, name = svc["ServiceId"], svc["ServiceName"]
    provider.allow(sid, "*")
    ids = []
    for i in range(6):
        ep = consumer.endpoint(name, subnets=[consumer.subnets[0]] if i == 0 else [],
                               TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                   "Tags": [{"Key": "n", "Value": str(i)}]}])
        ids.append(ep["VpcEndpointId"])
    provider.ec2.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=ids[:2])
    wait_until(lambda: consumer.state(ids[1]) == "available", what="accepted")
    ec2 = consumer.ec2
    got, sizes = paged(ec2.describe_vpc_endpoints, "VpcEndpoints", MaxResults=4)
    assert [e["VpcEndpointId"] for e in got] == ids and sizes == [4, 2]
    pages = ec2.get_paginator("describe_vpc_endpoints").paginate(PaginationConfig={"PageSize": 5})
    assert [e["VpcEndpointId"] for p in pages for e in p["VpcEndpoints"]] == ids

    def count(fname, *values):
        return len(ec2.describe_vpc_endpoints(
            Filters=[{"Name": fname, "Values": list(values)}])["VpcEndpoints"])

    assert count("vpc-endpoint-state", "pendingAcceptance") == 4
    assert count("vpc-endpoint-state", "available") == 2
    assert count("vpc-endpoint-id", ids[3], ids[4]) == 2
    assert count("vpc-id", consumer.vpc) == 6
    assert count("service-name", name) == 6
    assert count("vpc-endpoint-type", "Interface") == 6
    assert count("vpc-endpoint-type", "Gateway") == 0
    assert count("ip-address-type", "ipv4") == 6
    assert count("tag:n", "2", "5") == 2
    assert count("tag-key", "n") == 6
    expect_error("InvalidParameterValue", count, "bogus", "x")
    expect_error("InvalidVpcEndpointId.Malformed", ec2.describe_vpc_endpoints,
                 VpcEndpointIds=["vpce-123"])
    expect_error("InvalidVpcEndpointId.NotFound", ec2.describe_vpc_endpoints,
                 VpcEndpointIds=["vpce-0123456789abcdef0"])
    # The provider sees connections, never the consumer's endpoints.
    assert provider.ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
    expect_error("InvalidVpcEndpointId.NotFound", provider.ec2.describe_vpc_endpoints,
                 VpcEndpointIds=[ids[0]])
    conns, sizes = paged(provider.ec2.describe_vpc_endpoint_connections,
                         "VpcEndpointConnections", MaxResults=5)
    assert [c["VpcEndpointId"] for c in conns] == ids and sizes == [5, 1]

    def conn_count(fname, *values):
        return len(provider.ec2.describe_vpc_endpoint_connections(
            Filters=[{"Name": fname, "Values": list(values)}])["VpcEndpointConnections"])

    assert conn_count("vpc-endpoint-state", "available") == 2
    assert conn_count("vpc-endpoint-owner", CONSUMER) == 6
    assert conn_count("vpc-endpoint-owner", OTHER) == 0
    assert conn_count("service-id", sid) == 6
    assert conn_count("vpc-endpoint-id", ids[5]) == 1
    assert conn_count("ip-address-type", "ipv4") == 6
    expect_error("InvalidParameterValue", conn_count, "bogus", "x")


def test_accept_and_reject_errors(daemon, provider, consumer):
    svc = provider.service()
    sid = svc["ServiceId"]
    provider.allow(sid, "*")
    eid = consumer.endpoint(svc["ServiceName"], subnets=[])["VpcEndpointId"]
    ec2 = provider.ec2
    expect_error("InvalidVpcEndpointServiceId.NotFound", daemon.ec2(OTHER).accept_vpc_endpoint_connections,
                 ServiceId=sid, VpcEndpointIds=[eid])
    expect_error("DryRunOperation", ec2.accept_vpc_endpoint_connections, ServiceId=sid,
                 VpcEndpointIds=[eid], DryRun=True)
    assert consumer.state(eid) == "pendingAcceptance"
    ghost = "vpce-0123456789abcdef0"
    assert unsuccessful(ec2.accept_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[ghost, eid])) == [(ghost, "InvalidVpcEndpointId.NotFound")]
    assert consumer.state(eid) in ("pending", "available")
    wait_until(lambda: consumer.state(eid) == "available", what="available")
    assert unsuccessful(ec2.accept_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == [(eid, "InvalidState")]
    assert unsuccessful(ec2.reject_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == []
    assert unsuccessful(ec2.reject_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == [(eid, "InvalidState")]
    # A rejected endpoint can be accepted again.
    assert unsuccessful(ec2.accept_vpc_endpoint_connections(
        ServiceId=sid, VpcEndpointIds=[eid])) == []
    wait_until(lambda: consumer.state(eid) == "available", what="re-accepted")


def test_modify_endpoint(provider, consumer):
    svc = provider.service(AcceptanceRequired=False)
    provider.allow(svc["ServiceId"], "*")
    ec2 = consumer.ec2
    a, b, c = consumer.subnets
    ep = consumer.endpoint(svc["ServiceName"], subnets=[a])
    eid = ep["VpcEndpointId"]
    sg = ec2.create_security_group(GroupName="ep-sg", Description="endpoint",
                                   VpcId=consumer.vpc)["GroupId"]
    default_sg = ep["Groups"][0]["GroupId"]
    assert ec2.modify_vpc_endpoint(VpcEndpointId=eid, AddSubnetIds=[b], AddSecurityGroupIds=[sg],
                                   RemoveSecurityGroupIds=[default_sg],
                                   PolicyDocument='{"Statement": []}')["Return"] is True
    [got] = ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"]
    assert got["SubnetIds"] == [a, b]
    assert got["Groups"] == [{"GroupId": sg, "GroupName": "ep-sg"}]
    assert got["PolicyDocument"] == '{"Statement": []}'
    assert len(got["NetworkInterfaceIds"]) == 2
    assert len(got["DnsEntries"]) == 3
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=got["NetworkInterfaceIds"])
    assert all([g["GroupId"] for g in e["Groups"]] == [sg] for e in enis["NetworkInterfaces"])

    expect_error("DuplicateSubnetsInSameZone", ec2.modify_vpc_endpoint, VpcEndpointId=eid,
                 AddSubnetIds=[make_subnet(ec2, consumer.vpc, "10.0.9.0/24", "b")])
    expect_error("InvalidParameter", ec2.modify_vpc_endpoint, VpcEndpointId=eid,
                 AddSubnetIds=[c])
    expect_error("InvalidParameter", ec2.modify_vpc_endpoint, VpcEndpointId=eid,
                 RemoveSecurityGroupIds=[sg])
    expect_error("InvalidParameter", ec2.modify_vpc_endpoint, VpcEndpointId=eid,
                 PrivateDnsEnabled=True)
    expect_error("InvalidVpcEndpointId.NotFound", provider.ec2.modify_vpc_endpoint,
                 VpcEndpointId=eid, ResetPolicy=True)
    expect_error("DryRunOperation", ec2.modify_vpc_endpoint, VpcEndpointId=eid,
                 RemoveSubnetIds=[a], DryRun=True)

    removed = [i for i in got["NetworkInterfaceIds"]][0]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, RemoveSubnetIds=[a], ResetPolicy=True)
    [got] = ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"]
    assert got["SubnetIds"] == [b]
    assert "PolicyDocument" not in got
    assert removed not in got["NetworkInterfaceIds"]
    expect_error("InvalidNetworkInterfaceID.NotFound", ec2.describe_network_interfaces,
                 NetworkInterfaceIds=[removed])


def test_connection_notifications(daemon, provider, consumer):
    svc = provider.service()
    sid = svc["ServiceId"]
    provider.allow(sid, "*")
    ec2 = provider.ec2
    topic = f"arn:aws:sns:{REGION}:{PROVIDER}:vpce-events"
    created = ec2.create_vpc_endpoint_connection_notification(
        ServiceId=sid, ConnectionNotificationArn=topic,
        ConnectionEvents=["Accept", "Reject"], ClientToken="n-1")
    n = created["ConnectionNotification"]
    nid = n["ConnectionNotificationId"]
    assert re.match(r"^vpce-nfn-[0-9a-f]{17}$", nid)
    assert created["ClientToken"] == "n-1"
    assert n["ServiceId"] == sid and "VpcEndpointId" not in n
    assert n["ConnectionNotificationType"] == "Topic"
    assert n["ConnectionNotificationArn"] == topic
    assert n["ConnectionEvents"] == ["Accept", "Reject"]
    assert n["ConnectionNotificationState"] == "Enabled"
    again = ec2.create_vpc_endpoint_connection_notification(
        ServiceId=sid, ConnectionNotificationArn=topic,
        ConnectionEvents=["Accept", "Reject"], ClientToken="n-1")
    assert again["ConnectionNotification"]["ConnectionNotificationId"] == nid

    expect_error("InvalidParameter", ec2.create_vpc_endpoint_connection_notification,
                 ServiceId=sid, ConnectionNotificationArn="not-an-arn",
                 ConnectionEvents=["Accept"])
    expect_error("InvalidParameter", ec2.create_vpc_endpoint_connection_notification,
                 ServiceId=sid, ConnectionNotificationArn=topic, ConnectionEvents=["Explode"])
    expect_error("InvalidParameter", ec2.create_vpc_endpoint_connection_notification,
                 ConnectionNotificationArn=topic, ConnectionEvents=["Accept"])
    expect_error("InvalidVpcEndpointServiceId.NotFound",
                 consumer.ec2.create_vpc_endpoint_connection_notification, ServiceId=sid,
                 ConnectionNotificationArn=topic, ConnectionEvents=["Accept"])

    eid = consumer.endpoint(svc["ServiceName"], subnets=[])["VpcEndpointId"]
    mine = consumer.ec2.create_vpc_endpoint_connection_notification(
        VpcEndpointId=eid, ConnectionNotificationArn=f"arn:aws:sns:{REGION}:{CONSUMER}:mine",
        ConnectionEvents=["Delete"])["ConnectionNotification"]
    assert mine["VpcEndpointId"] == eid
    expect_error("InvalidVpcEndpointId.NotFound", ec2.create_vpc_endpoint_connection_notification,
                 VpcEndpointId=eid, ConnectionNotificationArn=topic, ConnectionEvents=["Delete"])

    listed = ec2.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"]
    assert [x["ConnectionNotificationId"] for x in listed] == [nid]
    by_id = ec2.describe_vpc_endpoint_connection_notifications(ConnectionNotificationId=nid)
    assert len(by_id["ConnectionNotificationSet"]) == 1
    expect_error("InvalidConnectionNotification",
                 ec2.describe_vpc_endpoint_connection_notifications,
                 ConnectionNotificationId=mine["ConnectionNotificationId"])
    filtered = consumer.ec2.describe_vpc_endpoint_connection_notifications(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [eid]}])["ConnectionNotificationSet"]
    assert len(filtered) == 1

    assert ec2.modify_vpc_endpoint_connection_notification(
        ConnectionNotificationId=nid, ConnectionEvents=["Connect"],
        ConnectionNotificationArn=f"arn:aws:sns:{REGION}:{PROVIDER}:other")["ReturnValue"]
    [cur] = ec2.describe_vpc_endpoint_connection_notifications(
        ConnectionNotificationId=nid)["ConnectionNotificationSet"]
    assert cur["ConnectionEvents"] == ["Connect"]
    assert cur["ConnectionNotificationArn"].endswith(":other")
    expect_error("InvalidConnectionNotification",
                 consumer.ec2.modify_vpc_endpoint_connection_notification,
                 ConnectionNotificationId=nid, ConnectionEvents=["Accept"])

    resp = ec2.delete_vpc_endpoint_connection_notifications(
        ConnectionNotificationIds=[nid, mine["ConnectionNotificationId"]])
    assert unsuccessful(resp) == [(mine["ConnectionNotificationId"],
                                   "InvalidConnectionNotification")]
    assert ec2.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"] == []
    # An endpoint's notifications go with it.
    consumer.ec2.delete_vpc_endpoints(VpcEndpointIds=[eid])
    wait_until(lambda: not consumer.ec2.describe_vpc_endpoint_connection_notifications()[
        "ConnectionNotificationSet"], what="notification gone with its endpoint")


def test_dry_run_changes_nothing(provider, consumer):
    svc = provider.service()
    sid, name = svc["ServiceId"], svc["ServiceName"]
    p, c = provider.ec2, consumer.ec2
    expect_error("DryRunOperation", p.modify_vpc_endpoint_service_permissions, ServiceId=sid,
                 AddAllowedPrincipals=["*"], DryRun=True, status=412)
    assert p.describe_vpc_endpoint_service_permissions(ServiceId=sid)["AllowedPrincipals"] == []
    provider.allow(sid, "*")
    eid = consumer.endpoint(name, subnets=[consumer.subnets[0]])["VpcEndpointId"]
    expect_error("DryRunOperation", p.reject_vpc_endpoint_connections, ServiceId=sid,
                 VpcEndpointIds=[eid], DryRun=True)
    expect_error("DryRunOperation", c.delete_vpc_endpoints, VpcEndpointIds=[eid], DryRun=True)
    assert consumer.state(eid) == "pendingAcceptance"
    expect_error("DryRunOperation", p.describe_vpc_endpoint_connections, DryRun=True)
    expect_error("DryRunOperation", c.describe_vpc_endpoints, DryRun=True)
    expect_error("DryRunOperation", p.create_vpc_endpoint_connection_notification,
                 ServiceId=sid, ConnectionNotificationArn=f"arn:aws:sns:{REGION}:{PROVIDER}:t",
                 ConnectionEvents=["Accept"], DryRun=True)
    assert p.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"] == []
    p.reject_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=[eid])
    expect_error("DryRunOperation", p.delete_vpc_endpoint_service_configurations,
                 ServiceIds=[sid], DryRun=True)
    assert p.describe_vpc_endpoint_service_configurations(
        ServiceIds=[sid])["ServiceConfigurations"][0]["ServiceState"] == "Available"
    # A dry run still checks: another account's service is not found.
    expect_error("InvalidVpcEndpointServiceId.NotFound", c.accept_vpc_endpoint_connections,
                 ServiceId=sid, VpcEndpointIds=[eid], DryRun=True)
