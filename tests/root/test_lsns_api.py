"""nsbox.ns.list_namespaces as root: records agree with what /proc and the nsfs ioctls say."""

from __future__ import annotations

import os
import subprocess

import pytest

from nsbox.ns import NamespaceType, list_namespaces
from nsbox.ns.inspect import namespace_of
from tests.conftest import require, require_tool
from tests.fixtures.lsns_procs import children, lsns, ns_inode, start

TYPES = ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time")


@pytest.fixture
def userns_proc(cleanup):
    require_tool("unshare")
    return start(cleanup, ["unshare", "-U", "-r", "-n", "-u", "--fork", "--kill-child", "sleep", "600"])


def test_records_of_a_process_match_proc(userns_proc):
    pid = userns_proc
    child = children(pid)[0]
    found = {ns.type.ns_name: ns for ns in list_namespaces(pid=pid)}
    assert set(found) == set(TYPES)
    for name in TYPES:
        assert found[name].inode == ns_inode(pid, name) == namespace_of(pid, NamespaceType.from_name(name))
    user, net, uts = found["user"], found["net"], found["uts"]
    assert sorted(net.pids) == sorted([pid, child]) and net.pid == min(pid, child) and net.nprocs == 2
    assert net.owner == uts.owner == user.inode           # NS_GET_USERNS
    assert user.parent == user.owner == ns_inode(os.getpid(), "user")  # NS_GET_PARENT of a user ns
    assert net.parent is None                             # only pid and user namespaces have parents
    assert net.uid == 0 and net.user == "root" and net.command.startswith("unshare -U -r -n -u --fork")
    assert net.path == f"/proc/{net.pid}/ns/net" and net.ppid == os.getpid()
    assert net.netnsid == -1 and net.nsfs == []            # no nsid assigned, not bind-mounted


def test_type_filter_and_names(userns_proc):
    got = list_namespaces(types=["net", NamespaceType.UTS], pid=userns_proc)
    assert {ns.type for ns in got} == {NamespaceType.NET, NamespaceType.UTS} and len(got) == 2
    assert [ns.inode for ns in got] == sorted(ns.inode for ns in got)


def test_missing_pid_gives_no_namespaces():
    assert list_namespaces(pid=2**31 - 1) == []


def test_relatives_bring_in_a_user_namespace_without_processes(cleanup):
    require_tool("unshare")
    pid = start(cleanup, ["unshare", "-U", "-r", "--", "unshare", "-U", "-r", "sleep", "600"])
    inner = ns_inode(pid, "user")
    plain = {ns.inode: ns for ns in list_namespaces(types=["user"])}
    middle = plain[inner].parent
    assert middle not in plain                          # no process is in the middle namespace
    full = {ns.inode: ns for ns in list_namespaces(types=["user"], relatives=True)}
    assert full[middle].pids == [] and full[middle].type is NamespaceType.USER
    assert full[middle].parent == ns_inode(os.getpid(), "user") and full[middle].uid == 0
    assert full[middle].command is None and full[middle].user == "root"


def test_netnsid_and_nsfs_of_a_named_network_namespace(cleanup, unique_id):
    require_tool("ip")
    name = f"lsns-{unique_id}"
    res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    require(res.returncode == 0, f"ip netns add: {res.stderr.strip()}")
    cleanup.add(lambda: subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30))
    subprocess.run(["ip", "netns", "set", name, "42"], check=True, capture_output=True, timeout=30)
    pid = start(cleanup, ["ip", "netns", "exec", name, "sleep", "600"])
    (net,) = list_namespaces(types=["net"], pid=pid)
    assert net.netnsid == 42 and net.nsfs == [f"/run/netns/{name}"]
    assert net.inode == os.stat(f"/run/netns/{name}").st_ino
    ref = lsns("util-linux", ["-n", "-o", "NETNSID,NSFS", "-t", "net", "-p", str(pid)])
    ours = lsns("nsbox", ["-n", "-o", "NETNSID,NSFS", "-t", "net", "-p", str(pid)])
    assert ours.stdout == ref.stdout == f"     42 /run/netns/{name}\n"
