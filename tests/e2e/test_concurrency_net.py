"""Concurrent address allocation: subnets carved from one VPC and instances launched into one
small subnet at the same time never share a CIDR or an address, never take a reserved address,
and fail cleanly once the subnet is full."""

import collections
import ipaddress
import threading

import pytest

from conftest import PROVIDER
from test_concurrency import THREADS, run_threads



def test_concurrent_subnets_never_overlap(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    clients = [daemon.ec2(PROVIDER) for _ in range(THREADS)]
    outcomes = collections.Counter()
    lock = threading.Lock()

    def work(i):
        # Every thread asks for the same 4 CIDRs and 4 of its own.
        wanted = [f"10.0.{n}.0/24" for n in range(4)] + [f"10.0.{10 + i * 4 + n}.0/24"
                                                         for n in range(4)]
        for cidr in wanted:
            try:
                clients[i].create_subnet(VpcId=vpc, CidrBlock=cidr,
                                         AvailabilityZone="us-east-1a")
                result = "ok"
            except clients[i].exceptions.ClientError as e:
                result = e.response["Error"]["Code"]
            with lock:
                outcomes[(cidr, result)] += 1

    run_threads(work)
    for n in range(4):
        cidr = f"10.0.{n}.0/24"
        assert outcomes[(cidr, "ok")] == 1, outcomes
        assert outcomes[(cidr, "InvalidSubnet.Conflict")] == THREADS - 1, outcomes
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    nets = [ipaddress.ip_network(s["CidrBlock"]) for s in subnets]
    assert len(nets) == 4 + THREADS * 4
    for a in nets:
        assert sum(a.overlaps(b) for b in nets) == 1, a


def test_concurrent_launches_get_distinct_addresses(daemon):
    ec2 = daemon.ec2(PROVIDER)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # A /28 holds 16 addresses; AWS reserves the first four and the last: 11 usable.
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/28",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    clients = [daemon.ec2(PROVIDER) for _ in range(THREADS)]
    addresses, failures = [], collections.Counter()
    lock = threading.Lock()

    def work(i):
        for _ in range(2):
            try:
                r = clients[i].run_instances(ImageId="ami-0123456789abcdef0", MinCount=1,
                                             MaxCount=1, SubnetId=subnet,
                                             InstanceType="t3.micro")
                with lock:
                    addresses.append(r["Instances"][0]["PrivateIpAddress"])
            except clients[i].exceptions.ClientError as e:
                with lock:
                    failures[e.response["Error"]["Code"]] += 1

    run_threads(work)
    assert len(addresses) == 11, (addresses, failures)
    assert failures == {"InsufficientFreeAddressesInSubnet": THREADS * 2 - 11}
    assert len(set(addresses)) == len(addresses), "an address was handed out twice"
    net = ipaddress.ip_network("10.0.1.0/28")
    reserved = {net[0], net[1], net[2], net[3], net[-1]}
    for a in map(ipaddress.ip_address, addresses):
        assert a in net and a not in reserved, a
    got = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
    assert got["AvailableIpAddressCount"] == 0
