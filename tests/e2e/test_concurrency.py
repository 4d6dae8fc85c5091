"""Concurrent writers: 8 threads × 25 rounds of CreateVpc / CreateTags / DeleteVpc at once. No
request fails, every id is distinct, and the final state is exactly what the threads left."""

import collections
import threading

from conftest import expect_error

THREADS = 8
ROUNDS = 25
# Two threads per account: contention inside one account as well as across accounts. An account
# never holds more than 5 VPCs at once (AWS's default quota per region).
ACCOUNTS = [f"{100000000000 + i // 2:012d}" for i in range(THREADS)]


def run_threads(target):
    errors = []
    start = threading.Barrier(THREADS)

    def wrapped(i):
        try:
            start.wait(timeout=30)
            target(i)
        except BaseException as e:  # noqa: BLE001 (reported below, with the thread)
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "threads did not finish"
    assert errors == [], errors


def test_concurrent_create_tag_delete(daemon):
    shared = daemon.ec2(ACCOUNTS[0]).create_vpc(CidrBlock="10.255.0.0/16")["Vpc"]["VpcId"]
    created = collections.defaultdict(list)   # thread -> vpc ids
    deleted = collections.defaultdict(list)
    # One client per thread, made up front: creating boto3 clients is not thread-safe.
    clients = [daemon.ec2(ACCOUNTS[i]) for i in range(THREADS)]
    shared_clients = [daemon.ec2(ACCOUNTS[0]) for _ in range(THREADS)]

    def work(i):
        ec2, shared_ec2 = clients[i], shared_clients[i]
        previous = None
        for r in range(ROUNDS):
            vpc = ec2.create_vpc(CidrBlock=f"10.{i}.{r}.0/24", TagSpecifications=[{
                "ResourceType": "vpc", "Tags": [{"Key": "thread", "Value": str(i)}]}],
            )["Vpc"]["VpcId"]
            created[i].append(vpc)
            ec2.create_tags(Resources=[vpc], Tags=[{"Key": "round", "Value": str(r)}])
            # Everyone also tags one shared VPC: same row, many writers.
            shared_ec2.create_tags(Resources=[shared], Tags=[{"Key": f"t{i}", "Value": str(r)}])
            if previous:
                ec2.delete_vpc(VpcId=previous)
                deleted[i].append(previous)
            previous = vpc

    run_threads(work)

    all_created = [v for ids in created.values() for v in ids]
    assert len(all_created) == THREADS * ROUNDS
    assert len(set(all_created) | {shared}) == THREADS * ROUNDS + 1, "duplicate ids"
    # Each thread keeps only its last VPC.
    survivors = {i: created[i][-1] for i in range(THREADS)}
    for i in range(THREADS):
        assert deleted[i] == created[i][:-1]

    for account in sorted(set(ACCOUNTS)):
        ec2 = daemon.ec2(account)
        vpcs = ec2.describe_vpcs()["Vpcs"]
        mine = sorted(survivors[i] for i in range(THREADS) if ACCOUNTS[i] == account)
        if account == ACCOUNTS[0]:
            mine = sorted(mine + [shared])
        assert sorted(v["VpcId"] for v in vpcs) == mine
        for v in vpcs:
            if v["VpcId"] == shared:
                continue
            tags = {t["Key"]: t["Value"] for t in v["Tags"]}
            i = int(tags["thread"])
            assert ACCOUNTS[i] == account and v["VpcId"] == survivors[i]
            assert tags == {"thread": str(i), "round": str(ROUNDS - 1)}
            assert v["CidrBlock"] == f"10.{i}.{ROUNDS - 1}.0/24"
        # Tags of deleted VPCs are gone with them.
        tagged = {t["ResourceId"] for t in ec2.describe_tags()["Tags"]}
        assert tagged == set(mine)
    shared_tags = daemon.ec2(ACCOUNTS[0]).describe_vpcs(VpcIds=[shared])["Vpcs"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in shared_tags} == {
        f"t{i}": str(ROUNDS - 1) for i in range(THREADS)}
    # A deleted VPC is really gone.
    expect_error("InvalidVpcID.NotFound", daemon.ec2(ACCOUNTS[1]).describe_vpcs,
                 VpcIds=[created[1][0]])


def test_concurrent_deletes_of_one_vpc_succeed_once(daemon):
    # 25 VPCs over 5 accounts: within AWS's default quota of 5 VPCs per account and region.
    owners = [f"{200000000000 + n:012d}" for n in range(5)]
    vpcs = [(owner, daemon.ec2(owner).create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"])
            for owner in owners for n in range(5)]
    outcomes = collections.Counter()
    lock = threading.Lock()
    clients = [{o: daemon.ec2(o) for o in owners} for _ in range(THREADS)]

    def work(i):
        for owner, vpc in vpcs:
            client = clients[i][owner]
            try:
                client.delete_vpc(VpcId=vpc)
                result = "ok"
            except client.exceptions.ClientError as e:
                result = e.response["Error"]["Code"]
            with lock:
                outcomes[(vpc, result)] += 1

    run_threads(work)
    for _, vpc in vpcs:
        # Exactly one delete won; every other one found it gone.
        assert outcomes[(vpc, "ok")] == 1, outcomes
        assert outcomes[(vpc, "InvalidVpcID.NotFound")] == THREADS - 1, outcomes
    for owner in owners:
        assert daemon.ec2(owner).describe_vpcs()["Vpcs"] == []


def test_concurrent_reads_during_writes(daemon):
    writer_done = threading.Event()
    ec2 = daemon.ec2(ACCOUNTS[0])
    stable = ec2.create_vpc(CidrBlock="10.200.0.0/16")["Vpc"]["VpcId"]
    clients = [daemon.ec2(ACCOUNTS[0]) for _ in range(THREADS)]

    def work(i):
        client = clients[i]
        if i == 0:
            try:
                for r in range(ROUNDS):
                    v = client.create_vpc(CidrBlock=f"10.{r}.0.0/16")["Vpc"]["VpcId"]
                    client.delete_vpc(VpcId=v)
            finally:
                writer_done.set()
            return
        reads = 0
        while not writer_done.is_set() or reads < 5:
            ids = [v["VpcId"] for v in client.describe_vpcs()["Vpcs"]]
            # A reader sees the stable VPC always, and at most one transient VPC.
            assert stable in ids and len(ids) <= 2, ids
            reads += 1

    run_threads(work)
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [stable]
