"""Private DNS: each VPC's resolver at base+2 and the host's public view (`--dns-listen`)
answer endpoint names, verified private DNS names (only in the consumer VPC whose endpoint has
private DNS on), instance host names, and forward the rest to `--dns-upstream`.

The upstream is an authoritative server this module runs on loopback (dnswire.Upstream): it
holds the forwarded names and the verification TXT records, and counts the queries it gets.
Needs root (network namespaces); without it the tests fail, they never skip. Queries to VPC
addresses run inside the instances (`privlink exec`, with their resolv.conf); from the host's
namespace only loopback is asked.

One daemon and topology serve the module's tests, in file order; each test undoes what it
changes. The restart test is the last to use them; the last two tests start daemons of their
own (without network).
"""

import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import time
import types

import pytest
from dnslib import RCODE, DNSRecord

from conftest import (CONSUMER, OTHER, PROVIDER, REGION, Daemon, destroy, expect_error,
                      network_daemon, privlink_bin, require_root, wait_until)
from dnswire import Upstream, query, recv_exact
from test_network import namespaces, prefix_of
from test_traffic import (SERVER, allow_tcp, default_group, instance, needs_root,  # noqa: F401
                          netns_exec, running)

DNSWIRE = str(pathlib.Path(__file__).with_name("dnswire.py"))
# The service's private DNS name; its verification TXT record sits on the parent domain.
PRIVATE = "api.e2e.test"
PARENT = "e2e.test"
# How often the daemon verifies private DNS names again (seconds): short, so the periodic
# check is seen within a test.
VERIFY_INTERVAL = 2


# --- helpers ----------------------------------------------------------------------------------

def dig(w, iid, name, qtype="A", proto="udp", timeout=2.0):
    """Asks the resolver of instance `iid`'s /etc/resolv.conf, from inside the instance."""
    out = subprocess.run([privlink_bin(), "exec", "--data-dir", str(w.dir), iid, "--",
                          sys.executable, DNSWIRE, name, qtype, proto, str(timeout)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"dnswire in {iid}: {out.returncode} {out.stderr}"
    return json.loads(out.stdout)


def host_dig(w, name, qtype="A", proto="udp", timeout=2.0):
    """Asks the daemon's public view (--dns-listen, loopback)."""
    host, port = w.d.dns_addr
    return query(host, port, name, qtype, proto, timeout)


def router_dig(ns, server, name, qtype="A"):
    """Asks `server` from inside privlink namespace `ns` (a VPC router's)."""
    out = subprocess.run(netns_exec(ns, sys.executable, DNSWIRE, name, qtype, "udp", "2",
                                    server), capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}


def getent(w, iid, name):
    """The IPv4 addresses getaddrinfo (AF_UNSPEC, as programs do) finds in instance `iid`."""
    out = subprocess.run([privlink_bin(), "exec", "--data-dir", str(w.dir), iid, "--",
                          "getent", "ahosts", name], capture_output=True, text=True, timeout=60)
    return sorted({line.split()[0] for line in out.stdout.splitlines()
                   if line and ":" not in line.split()[0]})


def curl(w, iid, url):
    out = subprocess.run([privlink_bin(), "exec", "--data-dir", str(w.dir), iid, "--",
                          "curl", "-sS", "-m", "5", url], capture_output=True, text=True,
                         timeout=60)
    return out.stdout.strip() if out.returncode == 0 else f"ERR {out.returncode} {out.stderr}"


def answers(result):
    """The answers of a query result, names without their final dot."""
    return [a.rstrip(".") for a in result.get("answers", [])]


def resolves_to(result, addrs):
    return result.get("rcode") == "NOERROR" and answers(result) == sorted(addrs)


def is_nxdomain(result):
    return result.get("rcode") == "NXDOMAIN" and answers(result) == []


def endpoint(ec2, eid):
    eps = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [eid]}])["VpcEndpoints"]
    return eps[0] if eps else None


def wait_available(ec2, eid):
    wait_until(lambda: (endpoint(ec2, eid) or {}).get("State") == "available", timeout=60,
               what=f"{eid} available")
    return endpoint(ec2, eid)


def delete_endpoints(ec2, *eids):
    if eids:
        ec2.delete_vpc_endpoints(VpcEndpointIds=list(eids))
        for eid in eids:
            wait_until(lambda: endpoint(ec2, eid) is None, timeout=60, what=f"{eid} gone")


def addresses_by_zone(ec2, ep):
    """{zone: address} of an endpoint's interfaces."""
    enis = ec2.describe_network_interfaces(
        NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    return {e["AvailabilityZone"]: e["PrivateIpAddress"] for e in enis}


def names(ep):
    """(regional name, {zone: zonal name}, other names) of an endpoint's DnsEntries."""
    entries = [d["DnsName"] for d in ep["DnsEntries"]]
    regional = entries[0]
    zonal = {}
    for n in entries[1:]:
        for zone in (f"{REGION}a", f"{REGION}b"):
            if f"-{zone}." in n:
                zonal[zone] = n
    others = [n for n in entries[1:] if n not in zonal.values()]
    return regional, zonal, others


def dns_state(ec2, sid):
    cfg = ec2.describe_vpc_endpoint_service_configurations(
        ServiceIds=[sid])["ServiceConfigurations"][0]
    return cfg.get("PrivateDnsNameConfiguration", {}).get("State")


def host_name(ip):
    return f"ip-{ip.replace('.', '-')}.ec2.internal"


def reverse(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


# --- the module's daemon and topology ---------------------------------------------------------

@pytest.fixture(scope="module")
def upstream():
    u = Upstream()
    yield u
    u.close()


@pytest.fixture(scope="module")
def w(upstream):
    """A network daemon with the test upstream and the public view, and:

    - provider (PROVIDER): VPC 10.0.0.0/16, subnets in zones a and b, an HTTP backend behind
      an NLB, endpoint service S1 with the verified private DNS name `api.e2e.test`;
    - consumer (CONSUMER): VPC C1 10.0.0.0/16 with DNS hostnames, a client instance, endpoint
      E1 (zones a and b) with private DNS on;
    - other consumer (OTHER): VPC C2 10.1.0.0/16 with DNS hostnames, a client instance,
      endpoint E2 with private DNS off.
    """
    require_root("the DNS tests")
    with tempfile.TemporaryDirectory(prefix="privlink-e2e-") as tmp, \
            pytest.MonkeyPatch.context() as mp:
        data_dir = pathlib.Path(tmp)
        try:
            daemons = network_daemon(
                data_dir, mp, dns_listen=True,
                extra_args=["--dns-upstream", upstream.addr,
                            "--dns-verify-interval", str(VERIFY_INTERVAL)])
            d = next(daemons)
            procs = []
            try:
                yield build(d, data_dir, upstream, procs)
            finally:
                for p in procs:
                    p.kill()
                    p.wait(timeout=10)
                daemons.close()
        finally:
            destroy(data_dir)


def build(d, data_dir, upstream, procs):
    w = types.SimpleNamespace(d=d, dir=data_dir, prefix=prefix_of(data_dir), up=upstream)
    w.pec2, w.pelb = d.ec2(PROVIDER), d.elbv2(PROVIDER)
    w.cec2, w.oec2 = d.ec2(CONSUMER), d.ec2(OTHER)

    def subnet(ec2, vpc, cidr, zone):
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr,
                                 AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]

    # Provider: the backend behind an NLB in zones a and b.
    w.pvpc = w.pec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    w.psub = {z: subnet(w.pec2, w.pvpc, f"10.0.{n}.0/24", z) for n, z in ((1, "a"), (2, "b"))}
    allow_tcp(w.pec2, default_group(w.pec2, w.pvpc), 8080, "10.0.0.0/16")
    w.backend, w.backend_ip = instance(w.pec2, w.psub["a"])

    # Consumers: C1 (same CIDR as the provider) and C2, both with DNS hostnames.
    w.cvpc = w.cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    w.cec2.modify_vpc_attribute(VpcId=w.cvpc, EnableDnsHostnames={"Value": True})
    w.csub = {z: subnet(w.cec2, w.cvpc, f"10.0.{n}.0/24", z) for n, z in ((1, "a"), (2, "b"))}
    w.client, w.client_ip = instance(w.cec2, w.csub["a"])
    w.ovpc = w.oec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    w.oec2.modify_vpc_attribute(VpcId=w.ovpc, EnableDnsHostnames={"Value": True})
    w.osub = subnet(w.oec2, w.ovpc, "10.1.1.0/24", "a")
    w.other, w.other_ip = instance(w.oec2, w.osub)

    lb = w.pelb.create_load_balancer(Name="web", Type="network", Scheme="internal",
                                     Subnets=list(w.psub.values()))["LoadBalancers"][0]
    tg = w.pelb.create_target_group(Name="web", Protocol="TCP", Port=8080, VpcId=w.pvpc,
                                    TargetType="instance", HealthCheckIntervalSeconds=5,
                                    HealthCheckTimeoutSeconds=2,
                                    HealthyThresholdCount=2)["TargetGroups"][0]
    w.pelb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": w.backend}])
    w.pelb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=80,
                           DefaultActions=[{"Type": "forward",
                                            "TargetGroupArn": tg["TargetGroupArn"]}])

    # S1 and its private DNS name, verified by a TXT record on the parent domain.
    svc = w.pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]], AcceptanceRequired=False,
        PrivateDnsName=PRIVATE)["ServiceConfiguration"]
    w.sid, w.service_name = svc["ServiceId"], svc["ServiceName"]
    w.pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=w.sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root",
                                               f"arn:aws:iam::{OTHER}:root"])
    proof = svc["PrivateDnsNameConfiguration"]
    upstream.set(f"{proof['Name']}.{PARENT}", "TXT", [proof["Value"]], ttl=0)
    w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=w.sid)
    wait_until(lambda: dns_state(w.pec2, w.sid) == "verified", timeout=20,
               what="S1's private DNS name verified")

    for ec2, iid in ((w.pec2, w.backend), (w.cec2, w.client), (w.oec2, w.other)):
        wait_until(lambda: running(ec2, iid), timeout=60, what=f"{iid} running")
    procs.append(subprocess.Popen(
        netns_exec(f"{w.prefix}-{w.backend}", sys.executable, "-c", SERVER, "backend0"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    e1 = w.cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.cvpc,
                                    ServiceName=w.service_name,
                                    SubnetIds=list(w.csub.values()),
                                    PrivateDnsEnabled=True)["VpcEndpoint"]
    e2 = w.oec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.ovpc,
                                    ServiceName=w.service_name, SubnetIds=[w.osub],
                                    PrivateDnsEnabled=False)["VpcEndpoint"]
    w.e1, w.e2 = e1["VpcEndpointId"], e2["VpcEndpointId"]
    w.e1_desc = wait_available(w.cec2, w.e1)
    w.e2_desc = wait_available(w.oec2, w.e2)
    w.e1_addrs = addresses_by_zone(w.cec2, w.e1_desc)
    w.e2_addrs = addresses_by_zone(w.oec2, w.e2_desc)
    assert set(w.e1_addrs) == {f"{REGION}a", f"{REGION}b"}, w.e1_addrs
    return w


# --- the tests --------------------------------------------------------------------------------

def test_instances_name_their_vpc_resolver_at_base_plus_two(w):
    regional = names(w.e1_desc)[0]
    for iid, resolver in ((w.client, "10.0.0.2"), (w.other, "10.1.0.2"),
                          (w.backend, "10.0.0.2")):
        out = subprocess.run([privlink_bin(), "exec", "--data-dir", str(w.dir), iid, "--",
                              "cat", "/etc/resolv.conf"], capture_output=True, text=True,
                             timeout=30)
        assert f"nameserver {resolver}" in out.stdout.split("\n"), out.stdout
        # It answers over UDP and TCP.
        for proto in ("udp", "tcp"):
            r = dig(w, iid, regional, proto=proto)
            assert r.get("server") == f"{resolver}:53", r
            assert r.get("id_ok"), r
            assert resolves_to(r, w.e1_addrs.values()), (iid, proto, r)


def test_the_private_name_resolves_in_the_consumer_vpc_and_reaches_the_service(w):
    addrs = sorted(w.e1_addrs.values())
    before = w.up.count(PRIVATE)
    r = dig(w, w.client, PRIVATE)
    assert resolves_to(r, addrs), r
    assert r["aa"], "the VPC's private zone answers with authority"
    assert getent(w, w.client, PRIVATE) == addrs
    # Over TCP too; and never asked upstream: the name is the VPC's own zone there.
    assert resolves_to(dig(w, w.client, PRIVATE, proto="tcp"), addrs)
    assert w.up.count(PRIVATE) == before
    # The name exists: other types are NODATA, not NXDOMAIN.
    r = dig(w, w.client, PRIVATE, "AAAA")
    assert r.get("rcode") == "NOERROR" and r["answers"] == [], r
    assert "SOA" in r["authority"], r
    assert resolves_to(dig(w, w.client, PRIVATE.upper()), addrs)
    # DescribeVpcEndpoints lists it among the endpoint's DNS names.
    _, _, others = names(endpoint(w.cec2, w.e1))
    assert others == [PRIVATE]
    # A program uses the name: curl reaches the backend through the endpoint.
    got = wait_until(lambda: (a := curl(w, w.client, f"http://{PRIVATE}/")).startswith(
        "backend0 ") and a, timeout=60, interval=0.5, what="curl by the private name")
    assert got.split()[0] == "backend0"


def test_the_private_name_is_forwarded_outside_that_vpc(w):
    # C2's endpoint has private DNS off; the provider's VPC has no endpoint; the host's view
    # is public: the name is not privlink's there, the upstream (which lacks it) answers.
    before = w.up.count(PRIVATE)
    r = dig(w, w.other, PRIVATE)
    assert is_nxdomain(r), r
    assert w.up.count(PRIVATE) > before, "C2's resolver forwarded the name"
    assert is_nxdomain(dig(w, w.backend, PRIVATE))
    assert is_nxdomain(host_dig(w, PRIVATE))
    assert getent(w, w.other, PRIVATE) == []
    _, _, others = names(endpoint(w.oec2, w.e2))
    assert others == []


def test_each_consumer_vpc_gets_its_own_endpoints_addresses(w):
    """Private DNS on in C2 as well: the same name, a different answer in each VPC."""
    e2_addr = [w.e2_addrs[f"{REGION}a"]]
    try:
        w.oec2.modify_vpc_endpoint(VpcEndpointId=w.e2, PrivateDnsEnabled=True)
        wait_until(lambda: resolves_to(dig(w, w.other, PRIVATE), e2_addr), timeout=20,
                   what="C2 answers the private name")
        assert resolves_to(dig(w, w.client, PRIVATE), w.e1_addrs.values())
        assert is_nxdomain(dig(w, w.backend, PRIVATE))
        assert is_nxdomain(host_dig(w, PRIVATE))
        # And C2 reaches the service by name through its own endpoint.
        got = wait_until(lambda: (a := curl(w, w.other, f"http://{PRIVATE}/")).startswith(
            "backend0 ") and a, timeout=60, interval=0.5, what="curl by name from C2")
        assert got.split()[0] == "backend0"
    finally:
        w.oec2.modify_vpc_endpoint(VpcEndpointId=w.e2, PrivateDnsEnabled=False)
    wait_until(lambda: is_nxdomain(dig(w, w.other, PRIVATE)), timeout=20,
               what="C2 forwards the private name again")


def test_unknown_names_in_the_private_zone_are_nxdomain_with_soa(w):
    name = f"nope.{PRIVATE}"
    r = dig(w, w.client, name)
    assert is_nxdomain(r), r
    assert "SOA" in r["authority"], r
    assert w.up.count(name) == 0, "the private zone is authoritative: nothing forwarded"


def test_endpoint_names_resolve_in_every_vpc_and_on_the_host(w):
    regional, zonal, _ = names(w.e1_desc)
    assert set(zonal) == set(w.e1_addrs)
    want = {regional: sorted(w.e1_addrs.values())}
    want.update({zonal[z]: [w.e1_addrs[z]] for z in zonal})
    regional2, zonal2, _ = names(w.e2_desc)
    want[regional2] = sorted(w.e2_addrs.values())
    want[zonal2[f"{REGION}a"]] = [w.e2_addrs[f"{REGION}a"]]
    for name, addrs in want.items():
        for iid in (w.client, w.other, w.backend):
            assert resolves_to(dig(w, iid, name), addrs), (iid, name)
        for proto in ("udp", "tcp"):
            assert resolves_to(host_dig(w, name, proto=proto), addrs), (proto, name)
        assert w.up.count(name) == 0, "endpoint names are privlink's: nothing forwarded"
    assert getent(w, w.other, regional) == sorted(w.e1_addrs.values())
    # Names are case-insensitive; local answers carry AWS's TTL for endpoint names.
    r = host_dig(w, regional.upper())
    assert resolves_to(r, sorted(w.e1_addrs.values())), r
    assert set(r["ttls"]) == {60}, r


def test_unknown_endpoint_zone_names_are_nxdomain_with_soa(w):
    name = f"vpce-0123456789abcdef0-nope.{w.sid}.{REGION}.vpce.amazonaws.com"
    for r in (host_dig(w, name), host_dig(w, name, proto="tcp"), dig(w, w.client, name)):
        assert is_nxdomain(r), r
        assert "SOA" in r["authority"], r
    assert w.up.count(name) == 0


def test_instance_host_names_and_their_ptr_records(w):
    eni_a = w.e1_addrs[f"{REGION}a"]
    for ip in (w.client_ip, eni_a):
        assert resolves_to(dig(w, w.client, host_name(ip)), [ip]), ip
        r = dig(w, w.client, reverse(ip), "PTR")
        assert r.get("rcode") == "NOERROR" and answers(r) == [host_name(ip)], r
    assert getent(w, w.client, host_name(w.client_ip)) == [w.client_ip]
    assert is_nxdomain(dig(w, w.client, reverse("10.0.200.200"), "PTR"))
    assert resolves_to(dig(w, w.other, host_name(w.other_ip)), [w.other_ip])
    # Load balancer nodes' interfaces too (the provider's VPC, host names off: names still
    # resolve, as AWS's do).
    nodes = [ni["PrivateIpAddress"] for ni in w.pec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [w.pvpc]}])["NetworkInterfaces"]
        if ni.get("InterfaceType") == "network_load_balancer"]
    assert nodes
    for ip in nodes:
        assert resolves_to(dig(w, w.backend, host_name(ip)), [ip]), ip
    # Each VPC has its own names: C1's client is not in C2's (10.1/16) nor in the public view.
    r = dig(w, w.other, host_name(w.client_ip))
    assert is_nxdomain(r), r
    assert is_nxdomain(host_dig(w, host_name(w.client_ip)))


def test_other_names_are_forwarded_to_the_upstream(w):
    w.up.set("x.fwd.test", "A", ["192.0.2.1"])
    w.up.set("y.fwd.test", "A", ["192.0.2.2", "192.0.2.3"])
    try:
        assert getent(w, w.client, "x.fwd.test") == ["192.0.2.1"]
        assert resolves_to(dig(w, w.other, "y.fwd.test", proto="tcp"),
                           ["192.0.2.2", "192.0.2.3"])
        assert resolves_to(dig(w, w.backend, "x.fwd.test"), ["192.0.2.1"])
        assert resolves_to(host_dig(w, "y.fwd.test"), ["192.0.2.2", "192.0.2.3"])
        r = dig(w, w.client, "absent.fwd.test")
        assert is_nxdomain(r), r
        assert w.up.count("absent.fwd.test") >= 1
    finally:
        w.up.remove("x.fwd.test", "A")
        w.up.remove("y.fwd.test", "A")


def test_forwarded_answers_are_cached_for_their_ttl(w):
    name = "cached.fwd.test"
    w.up.set(name, "A", ["192.0.2.10"], ttl=300)
    try:
        r = dig(w, w.client, name)
        assert resolves_to(r, ["192.0.2.10"]), r
        assert w.up.count(name) == 1
        # Within the TTL the answer comes from the cache, whichever view asks.
        for ask in (lambda: dig(w, w.client, name), lambda: dig(w, w.other, name),
                    lambda: host_dig(w, name)):
            r = ask()
            assert resolves_to(r, ["192.0.2.10"]), r
            assert 0 < r["ttls"][0] <= 300, r
        assert w.up.count(name) == 1, "the repeated queries did not reach the upstream"
    finally:
        w.up.remove(name, "A")


def test_large_answers_fall_back_to_tcp(w):
    """100 addresses do not fit a UDP answer: the resolver asks the upstream again over TCP,
    tells a UDP client to do the same (TC), and serves it all over TCP."""
    name = "big.fwd.test"
    many = [f"192.0.2.{i}" for i in range(1, 101)]
    w.up.set(name, "A", many)
    try:
        r = dig(w, w.client, name, proto="tcp")
        assert resolves_to(r, many), r
        assert w.up.count_tcp(name) >= 1, "the upstream's truncated answer was asked again over TCP"
        r = dig(w, w.client, name)  # UDP, no EDNS: 512 bytes
        assert r.get("rcode") == "NOERROR" and r["tc"], r
        # getaddrinfo retries over TCP by itself.
        assert getent(w, w.client, name) == sorted(many)
    finally:
        w.up.remove(name, "A")


def test_an_upstream_that_does_not_answer_gives_servfail_quickly(w):
    name = "silent.fwd.test"
    w.up.set(name, "A", ["192.0.2.20"])
    w.up.silent_names.add(name)
    try:
        r = dig(w, w.client, name, timeout=10)
        assert r.get("rcode") == "SERVFAIL", r
        assert r["elapsed"] < 3.0, f"SERVFAIL after {r['elapsed']:.2f}s"
        r = host_dig(w, name, timeout=10)
        assert r.get("rcode") == "SERVFAIL", r
        assert r["elapsed"] < 3.0, f"SERVFAIL after {r['elapsed']:.2f}s"
        assert w.up.count(name) >= 1, "the query was forwarded"
    finally:
        w.up.silent_names.discard(name)
        w.up.remove(name, "A")
    # The resolver still forwards.
    w.up.set("after.fwd.test", "A", ["192.0.2.21"])
    try:
        assert resolves_to(dig(w, w.client, "after.fwd.test"), ["192.0.2.21"])
    finally:
        w.up.remove("after.fwd.test", "A")


def make_service(w, lb_name, private_name):
    """A service (its own NLB) with `private_name`, open to OTHER. Returns (service, lb arn)."""
    lb = w.pelb.create_load_balancer(Name=lb_name, Type="network", Scheme="internal",
                                     Subnets=[w.psub["a"]])["LoadBalancers"][0]
    svc = w.pec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]], AcceptanceRequired=False,
        PrivateDnsName=private_name)["ServiceConfiguration"]
    w.pec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{OTHER}:root"])
    return svc, lb["LoadBalancerArn"]


def remove_service(w, sid, lb_arn):
    w.pec2.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])

    def lb_deleted():
        try:
            w.pelb.delete_load_balancer(LoadBalancerArn=lb_arn)
            return True
        except w.pelb.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceInUse", e
            return False

    wait_until(lb_deleted, timeout=20, interval=0.2, what="NLB deleted")


def test_private_dns_name_verification_and_the_consumers_switch(w):
    """S2 (`api.e2e2.test`): refused before verification; Start with no TXT record → failed;
    with the record on the parent domain → verified, and a consumer can turn private DNS on;
    the record removed → the periodic check fails the name and it stops resolving. The
    upstream's answers may be cached for 300 s meanwhile: the checks must not use a cache."""
    name, parent = "api.e2e2.test", "e2e2.test"
    svc, lb_arn = make_service(w, "web2", name)
    sid = svc["ServiceId"]
    proof = svc["PrivateDnsNameConfiguration"]
    made = []
    record = None
    w.up.negative_ttl = 300
    try:
        assert proof["State"] == "pendingVerification"
        assert proof["Type"] == "TXT"
        assert proof["Name"].startswith("_") and len(proof["Name"]) > 1
        assert proof["Value"].startswith("vpce:") and len(proof["Value"]) > 5

        def create(**kw):
            ep = w.oec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.ovpc,
                                            ServiceName=svc["ServiceName"],
                                            SubnetIds=[w.osub], **kw)["VpcEndpoint"]
            made.append(ep["VpcEndpointId"])
            return ep

        # Not verified: private DNS refused when asked for, off when left out.
        msg = expect_error("InvalidParameter", w.oec2.create_vpc_endpoint,
                           VpcEndpointType="Interface", VpcId=w.ovpc,
                           ServiceName=svc["ServiceName"], SubnetIds=[w.osub],
                           PrivateDnsEnabled=True)["Error"]["Message"]
        assert "private dns" in msg.lower(), msg
        assert create()["PrivateDnsEnabled"] is False
        delete_endpoints(w.oec2, made.pop())

        # No TXT record anywhere: Start makes the check fail, having asked the upstream.
        w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(w.pec2, sid) == "failed", timeout=20,
                   what="verification failed")
        assert w.up.count(f"{proof['Name']}.{name}", "TXT") >= 1
        assert w.up.count(f"{proof['Name']}.{parent}", "TXT") >= 1
        expect_error("InvalidParameter", w.oec2.create_vpc_endpoint,
                     VpcEndpointType="Interface", VpcId=w.ovpc,
                     ServiceName=svc["ServiceName"], SubnetIds=[w.osub],
                     PrivateDnsEnabled=True)

        # The record on the parent domain: verified at once.
        record = f"{proof['Name']}.{parent}"
        w.up.set(record, "TXT", [proof["Value"]], ttl=300)
        w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(w.pec2, sid) == "verified", timeout=20,
                   what="verification succeeded")
        ep = create(PrivateDnsEnabled=True)
        assert ep["PrivateDnsEnabled"] is True
        ep = wait_available(w.oec2, ep["VpcEndpointId"])
        assert names(ep)[2] == [name]
        addr = addresses_by_zone(w.oec2, ep)[f"{REGION}a"]
        wait_until(lambda: resolves_to(dig(w, w.other, name), [addr]), timeout=20,
                   what=f"{name} resolves in C2")
        assert getent(w, w.other, name) == [addr]
        # Only there.
        assert is_nxdomain(dig(w, w.client, name))
        assert is_nxdomain(host_dig(w, name))

        # The record gone: a periodic check fails the name; it no longer resolves.
        w.up.remove(record, "TXT")
        wait_until(lambda: dns_state(w.pec2, sid) == "failed", timeout=VERIFY_INTERVAL * 5 + 10,
                   what="periodic check failed the name")
        wait_until(lambda: is_nxdomain(dig(w, w.other, name)), timeout=20,
                   what=f"{name} gone from C2")
    finally:
        w.up.negative_ttl = 0
        if record:
            w.up.remove(record, "TXT")
        delete_endpoints(w.oec2, *made)
        remove_service(w, sid, lb_arn)


def test_a_wildcard_private_dns_name(w):
    """`*.wild.test`, verified by the TXT value on the domain itself (no record prefix):
    every name under it resolves in the consumer VPC."""
    svc, lb_arn = make_service(w, "wild", "*.wild.test")
    sid = svc["ServiceId"]
    proof = svc["PrivateDnsNameConfiguration"]
    made = []
    try:
        w.up.set("wild.test", "TXT", [proof["Value"]], ttl=0)
        w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(w.pec2, sid) == "verified", timeout=20,
                   what="wildcard name verified")
        ep = w.oec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.ovpc,
                                        ServiceName=svc["ServiceName"], SubnetIds=[w.osub],
                                        PrivateDnsEnabled=True)["VpcEndpoint"]
        made.append(ep["VpcEndpointId"])
        ep = wait_available(w.oec2, ep["VpcEndpointId"])
        addr = addresses_by_zone(w.oec2, ep)[f"{REGION}a"]
        wait_until(lambda: resolves_to(dig(w, w.other, "foo.wild.test"), [addr]), timeout=20,
                   what="foo.wild.test resolves in C2")
        assert getent(w, w.other, "bar.wild.test") == [addr]
        assert resolves_to(dig(w, w.other, "b.c.wild.test"), [addr])
        assert is_nxdomain(dig(w, w.client, "foo.wild.test"))
        # Deleting the endpoint takes the name away.
        delete_endpoints(w.oec2, made.pop())
        wait_until(lambda: is_nxdomain(dig(w, w.other, "foo.wild.test")), timeout=20,
                   what="wildcard name gone with its endpoint")
    finally:
        w.up.remove("wild.test", "TXT")
        delete_endpoints(w.oec2, *made)
        remove_service(w, sid, lb_arn)


def test_a_new_private_dns_name_needs_verifying_again(w):
    """ModifyVpcEndpointServiceConfiguration with another name: a new challenge, pending; the
    consumer's VPC stops answering the old name and answers the new one once verified."""
    svc, lb_arn = make_service(w, "rename", "api.old.test")
    sid = svc["ServiceId"]
    old = svc["PrivateDnsNameConfiguration"]
    made = []
    try:
        w.up.set(f"{old['Name']}.old.test", "TXT", [old["Value"]], ttl=0)
        w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(w.pec2, sid) == "verified", timeout=20, what="verified")
        ep = w.oec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.ovpc,
                                        ServiceName=svc["ServiceName"], SubnetIds=[w.osub],
                                        PrivateDnsEnabled=True)["VpcEndpoint"]
        made.append(ep["VpcEndpointId"])
        ep = wait_available(w.oec2, ep["VpcEndpointId"])
        addr = addresses_by_zone(w.oec2, ep)[f"{REGION}a"]
        wait_until(lambda: resolves_to(dig(w, w.other, "api.old.test"), [addr]), timeout=20,
                   what="old name resolves")

        w.pec2.modify_vpc_endpoint_service_configuration(ServiceId=sid,
                                                         PrivateDnsName="api.new.test")
        cfg = w.pec2.describe_vpc_endpoint_service_configurations(
            ServiceIds=[sid])["ServiceConfigurations"][0]
        new = cfg["PrivateDnsNameConfiguration"]
        assert cfg["PrivateDnsName"] == "api.new.test"
        assert new["State"] == "pendingVerification" and new["Type"] == "TXT"
        assert (new["Name"], new["Value"]) != (old["Name"], old["Value"])
        wait_until(lambda: is_nxdomain(dig(w, w.other, "api.old.test")), timeout=20,
                   what="old name gone")
        assert is_nxdomain(dig(w, w.other, "api.new.test"))

        w.up.set(f"{new['Name']}.api.new.test", "TXT", [new["Value"]], ttl=0)
        w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(w.pec2, sid) == "verified", timeout=20,
                   what="new name verified")
        wait_until(lambda: resolves_to(dig(w, w.other, "api.new.test"), [addr]), timeout=20,
                   what="new name resolves")
    finally:
        w.up.remove(f"{old['Name']}.old.test", "TXT")
        delete_endpoints(w.oec2, *made)
        remove_service(w, sid, lb_arn)


def test_an_upstream_timeout_does_not_fail_a_verified_name(w):
    """The upstream stops answering for the TXT record that proves S1's name (the other record
    names still answer, without it): a check that could not see the record is no proof that
    it is gone, so the name stays verified and keeps resolving."""
    proof = w.pec2.describe_vpc_endpoint_service_configurations(
        ServiceIds=[w.sid])["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]
    record = f"{proof['Name']}.{PARENT}"
    addrs = sorted(w.e1_addrs.values())
    base = w.up.count(PARENT, "TXT")
    w.up.silent_names.add(record)
    try:
        # Two periodic checks have gone down to the last record name (the domain itself; a
        # check that finds the record stops before it): the first one's outcome is recorded.
        # (A check that could not tell may be retried only 30 s later.)
        wait_until(lambda: w.up.count(PARENT, "TXT") >= base + 2, timeout=60, interval=0.1,
                   what="two periodic checks")
        assert w.up.count(record, "TXT") >= 1
        # A check where the record's own name timed out is inconclusive: the name stays.
        assert dns_state(w.pec2, w.sid) == "verified"
        assert resolves_to(dig(w, w.client, PRIVATE), addrs)
    finally:
        w.up.silent_names.discard(record)
        if dns_state(w.pec2, w.sid) != "verified":
            w.pec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=w.sid)
            wait_until(lambda: dns_state(w.pec2, w.sid) == "verified", timeout=20,
                       what="S1 verified again")
        wait_until(lambda: resolves_to(dig(w, w.client, PRIVATE), addrs), timeout=20,
                   what="private name back")


def test_one_private_dns_name_per_vpc(w):
    extra = []
    try:
        msg = expect_error("InvalidParameter", w.cec2.create_vpc_endpoint,
                           VpcEndpointType="Interface", VpcId=w.cvpc,
                           ServiceName=w.service_name, SubnetIds=[w.csub["a"]],
                           PrivateDnsEnabled=True)["Error"]["Message"]
        assert msg == ("private-dns-enabled cannot be set because there is already a "
                       f"conflicting DNS domain for {PRIVATE} in the VPC {w.cvpc}"), msg
        # Left out: off, since E1 holds the name.
        ep = w.cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.cvpc,
                                        ServiceName=w.service_name,
                                        SubnetIds=[w.csub["a"]])["VpcEndpoint"]
        extra.append(ep["VpcEndpointId"])
        assert ep["PrivateDnsEnabled"] is False
        ep = wait_available(w.cec2, ep["VpcEndpointId"])
        again = expect_error("InvalidParameter", w.cec2.modify_vpc_endpoint,
                             VpcEndpointId=ep["VpcEndpointId"],
                             PrivateDnsEnabled=True)["Error"]["Message"]
        assert again == msg, again
        # The name still answers with E1's addresses only.
        assert resolves_to(dig(w, w.client, PRIVATE), w.e1_addrs.values())
    finally:
        delete_endpoints(w.cec2, *extra)


def test_private_dns_needs_dns_hostnames(w):
    vpc = w.cec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    sub = w.cec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24",
                               AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    made = []

    def attr(name):
        key = name[0].upper() + name[1:]
        return w.cec2.describe_vpc_attribute(VpcId=vpc, Attribute=name)[key]["Value"]

    def create(**kw):
        ep = w.cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc,
                                        ServiceName=w.service_name, SubnetIds=[sub],
                                        **kw)["VpcEndpoint"]
        made.append(ep["VpcEndpointId"])
        return ep

    try:
        # As on AWS: DNS support on, host names off by default.
        assert attr("enableDnsSupport") is True
        assert attr("enableDnsHostnames") is False
        msg = expect_error("InvalidParameter", w.cec2.create_vpc_endpoint,
                           VpcEndpointType="Interface", VpcId=vpc,
                           ServiceName=w.service_name, SubnetIds=[sub],
                           PrivateDnsEnabled=True)["Error"]["Message"]
        assert "enableDnsHostnames" in msg and vpc in msg, msg
        assert create()["PrivateDnsEnabled"] is False
        w.cec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        # Every rule holds now: left out means on.
        ep = create()
        assert ep["PrivateDnsEnabled"] is True
        # The new VPC has its resolver at 10.2.0.2, in its router's namespace, with the name.
        addr = addresses_by_zone(w.cec2, wait_available(w.cec2, ep["VpcEndpointId"]))
        router = f"{w.prefix}-{vpc}"
        wait_until(lambda: resolves_to(router_dig(router, "10.2.0.2", PRIVATE),
                                       list(addr.values())),
                   timeout=20, what="the new VPC's resolver answers")
    finally:
        delete_endpoints(w.cec2, *made)
        w.cec2.delete_subnet(SubnetId=sub)
        w.cec2.delete_vpc(VpcId=vpc)
    # Its resolver's sockets do not keep the namespace alive.
    wait_until(lambda: vpc not in namespaces(w.prefix), timeout=30,
               what="the VPC's namespace removed")


def test_modify_and_delete_change_the_answers_at_once(w):
    addrs = sorted(w.e1_addrs.values())
    try:
        w.cec2.modify_vpc_endpoint(VpcEndpointId=w.e1, PrivateDnsEnabled=False)
        wait_until(lambda: is_nxdomain(dig(w, w.client, PRIVATE)), timeout=20,
                   what="private name gone from C1")
        assert names(endpoint(w.cec2, w.e1))[2] == []
        # The endpoint's own names stay.
        assert resolves_to(dig(w, w.client, names(w.e1_desc)[0]), addrs)
    finally:
        w.cec2.modify_vpc_endpoint(VpcEndpointId=w.e1, PrivateDnsEnabled=True)
    wait_until(lambda: resolves_to(dig(w, w.client, PRIVATE), addrs), timeout=20,
               what="private name back in C1")

    # Subnets added and removed, then the endpoint deleted: its names follow, everywhere.
    ep = w.cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=w.cvpc,
                                    ServiceName=w.service_name,
                                    SubnetIds=[w.csub["a"]])["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    try:
        ep = wait_available(w.cec2, eid)
        regional = names(ep)[0]
        zone_a, zone_b = f"{REGION}a", f"{REGION}b"
        addr = addresses_by_zone(w.cec2, ep)
        wait_until(lambda: resolves_to(host_dig(w, regional), [addr[zone_a]]), timeout=20,
                   what="new endpoint's name on the host")
        assert resolves_to(dig(w, w.other, regional), [addr[zone_a]])

        w.cec2.modify_vpc_endpoint(VpcEndpointId=eid, AddSubnetIds=[w.csub["b"]])
        ep = wait_available(w.cec2, eid)
        addr = addresses_by_zone(w.cec2, ep)
        assert set(addr) == {zone_a, zone_b}
        wait_until(lambda: resolves_to(host_dig(w, regional), addr.values()), timeout=20,
                   what="regional name with the added interface")
        zonal = names(ep)[1]
        assert resolves_to(dig(w, w.client, zonal[zone_b]), [addr[zone_b]])

        w.cec2.modify_vpc_endpoint(VpcEndpointId=eid, RemoveSubnetIds=[w.csub["a"]])
        wait_until(lambda: resolves_to(host_dig(w, regional), [addr[zone_b]]), timeout=20,
                   what="regional name without the removed interface")
        assert is_nxdomain(host_dig(w, zonal[zone_a]))
    finally:
        delete_endpoints(w.cec2, eid)
    wait_until(lambda: is_nxdomain(host_dig(w, regional)), timeout=20,
               what="deleted endpoint's name gone from the host")
    assert is_nxdomain(dig(w, w.client, regional))
    assert is_nxdomain(dig(w, w.other, zonal[zone_b]))


def test_malformed_packets_do_not_break_the_public_view(w):
    host, port = w.d.dns_addr
    regional = names(w.e1_desc)[0]
    addrs = sorted(w.e1_addrs.values())
    valid = bytes.fromhex("abcd01000001000000000000")  # a header announcing one question
    junk = [
        b"",
        b"\x00",
        bytes(5),  # truncated header
        valid,  # the question announced is missing
        valid + b"\x3fabc",  # a label running past the end
        valid + b"\xc0\x0c\x00\x01\x00\x01",  # a compression pointer to itself
        bytes.fromhex("abcd81800001000100000000"),  # a response, not a query
        os.urandom(64),
        os.urandom(512),
        b"\xff" * 1500,
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for packet in junk:
            s.sendto(packet, (host, port))
        # Whatever comes back is FORMERR (or nothing at all).
        s.settimeout(1.0)
        try:
            while True:
                reply = s.recv(65535)
                assert len(reply) >= 12 and reply[3] & 0x0F == 1, reply[:12].hex()
        except socket.timeout:
            pass
    for payload in (b"\xff\xff" + os.urandom(10), b"\x00", b"\x00\x05" + bytes(5),
                    struct.pack("!H", len(junk[5])) + junk[5], os.urandom(300)):
        with socket.create_connection((host, port), timeout=5) as c:
            try:
                c.sendall(payload)
            except OSError:
                pass  # the resolver may close on garbage: fine, as long as it keeps serving
    # Still answering, on both transports.
    for proto in ("udp", "tcp"):
        r = host_dig(w, regional, proto=proto)
        assert resolves_to(r, addrs), (proto, r)
    assert w.d.proc.poll() is None, "the daemon is still running"


def test_security_groups_do_not_filter_the_resolver(w):
    """As AWS's resolver: an instance whose groups allow no egress still resolves names."""
    gid = default_group(w.oec2, w.ovpc)
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    regional = names(w.e1_desc)[0]
    w.oec2.revoke_security_group_egress(GroupId=gid, IpPermissions=everything)
    try:
        # The egress filter is in force: the endpoint's HTTP port is out of reach...
        wait_until(lambda: curl(w, w.other, f"http://{w.e2_addrs[f'{REGION}a']}/")
                   .startswith("ERR"), timeout=20, what="egress blocked")
        # ...and DNS is not, over UDP and TCP.
        for proto in ("udp", "tcp"):
            assert resolves_to(dig(w, w.other, regional, proto=proto),
                               w.e1_addrs.values()), proto
    finally:
        w.oec2.authorize_security_group_egress(GroupId=gid, IpPermissions=everything)


def test_the_public_view_serves_pipelined_tcp_and_bursts(w):
    host, port = w.d.dns_addr
    regional = names(w.e1_desc)[0]
    addrs = sorted(w.e1_addrs.values())
    # Two queries back to back on one TCP connection (RFC 7766): both answered.
    qs = [DNSRecord.question(regional, "A"), DNSRecord.question(f"nope.{regional}", "A")]
    qs[0].header.id, qs[1].header.id = 1, 2
    with socket.create_connection((host, port), timeout=5) as c:
        c.sendall(b"".join(struct.pack("!H", len(q.pack())) + q.pack() for q in qs))
        got = {}
        for _ in qs:
            (length,) = struct.unpack("!H", recv_exact(c, 2))
            r = DNSRecord.parse(recv_exact(c, length))
            got[r.header.id] = r
    assert set(got) == {q.header.id for q in qs}
    first, second = got[qs[0].header.id], got[qs[1].header.id]
    assert sorted(str(rr.rdata) for rr in first.rr) == addrs
    assert RCODE.get(second.header.rcode) == "NXDOMAIN"
    # A burst of 100 UDP queries: every one answered, each to its own id.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Room for every answer on this side (root may exceed rmem_max).
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        s.settimeout(5)
        s.connect((host, port))
        ids = set()
        for i in range(100):
            q = DNSRecord.question(regional, "A")
            q.header.id = 1000 + i
            ids.add(q.header.id)
            s.send(q.pack())
        seen = set()
        try:
            while seen != ids:
                r = DNSRecord.parse(s.recv(65535))
                assert sorted(str(rr.rdata) for rr in r.rr) == addrs
                seen.add(r.header.id)
        except socket.timeout:
            pass
    assert seen == ids, f"{len(ids - seen)} of {len(ids)} queries unanswered"


def test_disabling_dns_support_removes_the_vpc_resolver(w):
    regional = names(w.e1_desc)[0]
    addrs = sorted(w.e1_addrs.values())
    assert resolves_to(dig(w, w.backend, regional), addrs)
    try:
        w.pec2.modify_vpc_attribute(VpcId=w.pvpc, EnableDnsSupport={"Value": False})
        # Nothing answers at 10.0.0.2 any more (a timeout or a refusal).
        wait_until(lambda: "error" in dig(w, w.backend, regional, timeout=1.0), timeout=20,
                   what="resolver gone")
        r = dig(w, w.backend, regional, proto="tcp", timeout=1.0)
        assert "error" in r, r
        # Other VPCs keep theirs.
        assert resolves_to(dig(w, w.client, regional), addrs)
    finally:
        w.pec2.modify_vpc_attribute(VpcId=w.pvpc, EnableDnsSupport={"Value": True})
    wait_until(lambda: resolves_to(dig(w, w.backend, regional), addrs), timeout=20,
               what="resolver back")
    # Flipped back and forth quickly, it ends up as last set.
    for value in (False, True, False, True):
        w.pec2.modify_vpc_attribute(VpcId=w.pvpc, EnableDnsSupport={"Value": value})
    wait_until(lambda: resolves_to(dig(w, w.backend, regional), addrs), timeout=20,
               what="resolver there after quick flips")
    assert resolves_to(dig(w, w.backend, regional, proto="tcp"), addrs)


def test_cached_upstream_answers_never_hide_local_names(w):
    """All views share one cache. A name the upstream also knows (split horizon: the private
    name's public records) or denies for long (NXDOMAIN for 300 s) is still answered locally
    where it is local. Keeps the upstream's public record of the private name in the daemon's
    cache: comes after every test that expects that name not to resolve outside C1."""
    addrs = sorted(w.e1_addrs.values())
    # Negative: the host's view forwards instance names; C1 answers them itself.
    name = host_name(w.client_ip)
    w.up.negative_ttl = 300
    try:
        r = host_dig(w, name)
        assert is_nxdomain(r), r
        assert resolves_to(dig(w, w.client, name), [w.client_ip])
    finally:
        w.up.negative_ttl = 0
    # Positive: the private name's public record, cached for 300 s.
    w.up.set(PRIVATE, "A", ["192.0.2.99"], ttl=300)
    try:
        assert resolves_to(dig(w, w.other, PRIVATE), ["192.0.2.99"])
        assert resolves_to(host_dig(w, PRIVATE), ["192.0.2.99"])
        assert resolves_to(dig(w, w.client, PRIVATE), addrs)
        w.cec2.modify_vpc_endpoint(VpcEndpointId=w.e1, PrivateDnsEnabled=False)
        wait_until(lambda: resolves_to(dig(w, w.client, PRIVATE), ["192.0.2.99"]), timeout=20,
                   what="C1 gets the public record with private DNS off")
    finally:
        w.up.remove(PRIVATE, "A")
        w.cec2.modify_vpc_endpoint(VpcEndpointId=w.e1, PrivateDnsEnabled=True)
    wait_until(lambda: resolves_to(dig(w, w.client, PRIVATE), addrs), timeout=20,
               what="C1 answers the private name again, over the cached public record")


def test_answers_survive_a_restart(w):
    addrs = sorted(w.e1_addrs.values())
    w.up.set("restart.fwd.test", "A", ["192.0.2.30"])
    try:
        w.d.restart()  # kill -9, then start on the same data dir (a new API port)
        w.pec2, w.pelb = w.d.ec2(PROVIDER), w.d.elbv2(PROVIDER)
        w.cec2, w.oec2 = w.d.ec2(CONSUMER), w.d.ec2(OTHER)
        wait_until(lambda: resolves_to(dig(w, w.client, PRIVATE), addrs), timeout=30,
                   what="private name after restart")
        assert getent(w, w.client, PRIVATE) == addrs
        assert resolves_to(dig(w, w.other, "restart.fwd.test"), ["192.0.2.30"])
        assert resolves_to(dig(w, w.client, host_name(w.client_ip)), [w.client_ip])
        assert resolves_to(host_dig(w, names(w.e1_desc)[0]), addrs)
        assert dns_state(w.pec2, w.sid) == "verified"
    finally:
        w.up.remove("restart.fwd.test", "A")


def test_an_unreachable_upstream_gives_servfail_quickly(data_dir):
    """A daemon (without network: the public view only) whose upstream port is closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    d = Daemon(data_dir, dns_listen=True,
               extra_args=["--dns-upstream", f"127.0.0.1:{closed}"]).start()
    try:
        host, port = d.dns_addr
        for proto in ("udp", "tcp"):
            start = time.monotonic()
            r = query(host, port, "anything.fwd.test", "A", proto, timeout=10)
            assert r.get("rcode") == "SERVFAIL", r
            assert time.monotonic() - start < 3.0, r
        assert d.proc.poll() is None
    finally:
        d.kill()


def test_a_second_upstream_answers_when_the_first_is_down(data_dir, upstream):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    upstream.set("second.fwd.test", "A", ["192.0.2.40"])
    d = Daemon(data_dir, dns_listen=True,
               extra_args=["--dns-upstream", f"127.0.0.1:{closed}",
                           "--dns-upstream", upstream.addr]).start()
    try:
        host, port = d.dns_addr
        r = query(host, port, "second.fwd.test", "A", "udp", timeout=10)
        assert resolves_to(r, ["192.0.2.40"]), r
        assert r["elapsed"] < 3.0, r
    finally:
        d.kill()
        upstream.remove("second.fwd.test", "A")


def test_start_verification_checks_at_once(data_dir, upstream):
    """A daemon without network and with the default recheck interval (600 s): only
    StartVpcEndpointServicePrivateDnsVerification explains a prompt outcome (failed without
    the record, verified with it). Its public view answers endpoint names all the same."""
    d = Daemon(data_dir, dns_listen=True, extra_args=["--dns-upstream", upstream.addr]).start()
    name, record = "api.e2e5.test", None
    try:
        ec2, elb = d.ec2(PROVIDER), d.elbv2(PROVIDER)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                                AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        lb = elb.create_load_balancer(Name="web", Type="network", Scheme="internal",
                                      Subnets=[sub])["LoadBalancers"][0]
        svc = ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[lb["LoadBalancerArn"]],
            PrivateDnsName=name)["ServiceConfiguration"]
        sid, proof = svc["ServiceId"], svc["PrivateDnsNameConfiguration"]
        # The first check (nobody asked yet) finds nothing and leaves the name pending.
        wait_until(lambda: upstream.count(name, "TXT") >= 1, timeout=10, what="first check")
        assert dns_state(ec2, sid) == "pendingVerification"
        ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(ec2, sid) == "failed", timeout=10, what="failed at once")
        record = f"{proof['Name']}.{name}"
        upstream.set(record, "TXT", [proof["Value"]], ttl=0)
        ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=sid)
        wait_until(lambda: dns_state(ec2, sid) == "verified", timeout=10,
                   what="verified at once")

        # Without network, the host's view still follows the store: an endpoint's name.
        cec2 = d.ec2(CONSUMER)
        ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=sid, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
        cvpc = cec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        csub = cec2.create_subnet(VpcId=cvpc, CidrBlock="10.0.1.0/24",
                                  AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        ep = cec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=cvpc,
                                      ServiceName=svc["ServiceName"],
                                      SubnetIds=[csub])["VpcEndpoint"]
        addr = addresses_by_zone(cec2, ep)[f"{REGION}a"]
        host, port = d.dns_addr
        wait_until(lambda: resolves_to(query(host, port, names(ep)[0]), [addr]), timeout=10,
                   what="endpoint name on the host")
        delete_endpoints(cec2, ep["VpcEndpointId"])
        wait_until(lambda: is_nxdomain(query(host, port, names(ep)[0])), timeout=10,
                   what="deleted endpoint's name gone")
    finally:
        d.kill()
        if record:
            upstream.remove(record, "TXT")
