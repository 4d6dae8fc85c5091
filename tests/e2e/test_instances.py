"""Instances run their user data: an unprivileged workload inside the instance's network
namespace, started once, adopted across daemon restarts, `stopped` when it exits, killed on
terminate; `privlink exec` runs an operator's command in the instance's network.

These tests need root (namespaces, workloads); without it they fail, they never skip. Every
workload is killed by `privlink destroy` when the test's data dir goes (conftest).
"""

import json
import os
import subprocess

import pytest

from conftest import destroy, network_daemon, privlink_bin, require_root, wait_until
from test_network import namespaces, prefix_of, vpc_with_subnet

AMI = "ami-12345678"

HTTP_USER_DATA = """#!/bin/sh
id -u > "$HOME/uid"
date +%s%N > "$HOME/ran"
echo "user data ran" 
python3 -m http.server 80 > "$HOME/http.log" 2>&1 &
"""

GET = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], 80), timeout=2)
c.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while True:
    chunk = c.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n", 1)[0].decode())
"""


@pytest.fixture(autouse=True)
def needs_root():
    require_root("the instance tests")


@pytest.fixture
def daemon(data_dir, monkeypatch):
    yield from network_daemon(data_dir, monkeypatch)


def run(ec2, subnet_id, user_data=None):
    kw = {"UserData": user_data} if user_data is not None else {}
    # boto3 base64-encodes UserData for RunInstances, as the API wants it.
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet_id,
                             **kw)["Instances"][0]


def state(ec2, instance_id):
    res = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return res[0]["Instances"][0]["State"]["Name"]


def wait_state(ec2, instance_id, want, timeout=20):
    wait_until(lambda: state(ec2, instance_id) == want, timeout,
               what=f"{instance_id} {want}")


def pexec(data_dir, instance_id, *argv, timeout=30):
    return subprocess.run([privlink_bin(), "exec", "--data-dir", str(data_dir), instance_id,
                           "--", *argv], capture_output=True, text=True, timeout=timeout)


def instance_dir(data_dir, instance_id):
    return os.path.join(str(data_dir), "instances", instance_id)


def init_pid(data_dir, instance_id):
    with open(os.path.join(instance_dir(data_dir, instance_id), "state.json")) as f:
        return json.load(f)["pid"]


def pid_alive(pid):
    """Whether `pid` runs (a zombie does not: once the daemon is gone, the workload's init
    is re-parented, and whoever inherits it may not reap it at once)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # Reaped between the open and the read: the kernel answers ESRCH.
        return False


def http_get(data_dir, instance_id, ip):
    out = pexec(data_dir, instance_id, "python3", "-c", GET, ip)
    return out.returncode, out.stdout.strip()


def serving(data_dir, instance_id, ip):
    code, line = http_get(data_dir, instance_id, ip)
    return code == 0 and " 200 " in line


def http_instance(daemon, data_dir):
    ec2 = daemon.ec2()
    _, sub = vpc_with_subnet(ec2)
    inst = run(ec2, sub, HTTP_USER_DATA)
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    assert inst["State"]["Name"] == "pending"
    wait_state(ec2, iid, "running")
    wait_until(lambda: serving(data_dir, iid, ip), 20, what="http.server on port 80")
    return ec2, iid, ip


def test_user_data_runs_unprivileged_and_exec_enters_the_instance(daemon, data_dir):
    ec2, iid, ip = http_instance(daemon, data_dir)
    home = os.path.join(instance_dir(data_dir, iid), "home")
    with open(os.path.join(home, "uid")) as f:
        uid = int(f.read().strip())
    assert uid != 0, "the workload must not run as root"
    with open(os.path.join(instance_dir(data_dir, iid), "console.log")) as f:
        assert "user data ran" in f.read()

    out = pexec(data_dir, iid, "cat", "/etc/resolv.conf")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "nameserver 10.0.0.2\n"

    # From inside the instance, on loopback and on its own address.
    for addr in ("127.0.0.1", ip):
        code, line = http_get(data_dir, iid, addr)
        assert code == 0 and line.startswith("HTTP/1.0 200"), (addr, code, line)

    # The instance's network: eth0 holds its private address.
    out = pexec(data_dir, iid, "ip", "-o", "-4", "addr", "show", "eth0")
    assert out.returncode == 0 and f" {ip}/" in out.stdout, out

    # exec keeps the caller's identity (root here), unlike the workload.
    out = pexec(data_dir, iid, "id", "-u")
    assert out.stdout.strip() == "0"

    assert pexec(data_dir, iid, "sh", "-c", "exit 7").returncode == 7
    assert pexec(data_dir, iid, "true").returncode == 0


def test_exec_on_an_unknown_instance_fails_with_2(daemon, data_dir):
    ec2 = daemon.ec2()
    vpc_with_subnet(ec2)
    out = pexec(data_dir, "i-0123456789abcdef0", "true")
    assert out.returncode == 2
    assert "i-0123456789abcdef0" in out.stderr and "does not exist" in out.stderr
    out = pexec(data_dir, "not-an-id", "true")
    assert out.returncode == 2 and "not an instance id" in out.stderr


def test_exec_works_without_the_daemon(daemon, data_dir):
    ec2, iid, ip = http_instance(daemon, data_dir)
    daemon.kill()
    assert serving(data_dir, iid, ip), "the workload outlives the daemon, exec needs none"


def test_user_data_exiting_stops_the_instance(daemon, data_dir):
    ec2 = daemon.ec2()
    _, sub = vpc_with_subnet(ec2)
    iid = run(ec2, sub, "#!/bin/sh\necho bye\nexit 3\n")["InstanceId"]
    wait_state(ec2, iid, "stopped")
    with open(os.path.join(instance_dir(data_dir, iid), "console.log")) as f:
        assert "bye" in f.read()
    # A stopped instance keeps its files but not its network.
    wait_until(lambda: iid not in namespaces(prefix_of(data_dir)), 15, what="namespace gone")
    assert os.path.isdir(instance_dir(data_dir, iid))
    # And stays stopped across a restart: its user data does not run again.
    daemon.restart()
    ec2 = daemon.ec2()
    with open(os.path.join(instance_dir(data_dir, iid), "console.log")) as f:
        assert f.read().count("bye") == 1
    assert state(ec2, iid) == "stopped"


def test_a_killed_daemon_readopts_the_workload_without_rerunning_user_data(daemon, data_dir):
    ec2, iid, ip = http_instance(daemon, data_dir)
    pid = init_pid(data_dir, iid)
    ran = os.path.join(instance_dir(data_dir, iid), "home", "ran")
    with open(ran) as f:
        before = f.read()
    mtime = os.stat(ran).st_mtime_ns

    daemon.restart()  # kill -9
    ec2 = daemon.ec2()
    assert pid_alive(pid)
    # Let the restarted daemon run its first passes (adoption), then look again.
    wait_until(lambda: "adopted running workload" in daemon.log(), 15,
               what="the workload adopted")
    assert state(ec2, iid) == "running"
    assert init_pid(data_dir, iid) == pid, "the same process, not a second one"
    assert serving(data_dir, iid, ip)
    with open(ran) as f:
        assert f.read() == before
    assert os.stat(ran).st_mtime_ns == mtime, "user data ran once"
    with open(os.path.join(instance_dir(data_dir, iid), "console.log")) as f:
        assert f.read().count("user data ran") == 1

    # The adopted workload is still watched: its exit stops the instance.
    os.kill(pid, 9)
    wait_state(ec2, iid, "stopped")


def test_terminate_kills_the_workload_then_removes_the_namespace(daemon, data_dir):
    ec2, iid, ip = http_instance(daemon, data_dir)
    pid = init_pid(data_dir, iid)
    prefix = prefix_of(data_dir)
    assert iid in namespaces(prefix)
    ec2.terminate_instances(InstanceIds=[iid])
    wait_until(lambda: not pid_alive(pid), 20, what="workload gone")
    wait_until(lambda: iid not in namespaces(prefix), 15, what="namespace gone")
    wait_until(lambda: not os.path.exists(instance_dir(data_dir, iid)), 15,
               what="instance files gone")
    out = pexec(data_dir, iid, "true")
    assert out.returncode == 2, out


def test_destroy_kills_the_workloads(daemon, data_dir):
    ec2, iid, ip = http_instance(daemon, data_dir)
    pid = init_pid(data_dir, iid)
    daemon.kill()
    assert pid_alive(pid)
    out = destroy(data_dir)
    assert "stopped 1 instance workloads" in out.stdout
    assert not pid_alive(pid)
    assert not namespaces(prefix_of(data_dir))
