"""`nsbox lsns` against util-linux 2.38 `lsns` on this machine.

Other processes come and go while the tests run, so whole-system listings are compared in a
robust way (every namespace util-linux lists in two runs around ours is in ours, with the same
type/owner/parent; fields of namespaces held by our own long-lived processes agree exactly),
and byte-exact comparisons are made on selections that only our processes are in (-p PID with
the types they unshared)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.lsns_procs import both, by_ns, children, lsns, ns_inode, start

ALL = "NS,TYPE,PATH,NPROCS,PID,PPID,COMMAND,UID,USER,NETNSID,NSFS,PNS,ONS"


@pytest.fixture
def targets(cleanup):
    """Long-lived processes: a forking unshare in new user/net/uts/ipc namespaces, one in new
    pid/mnt/cgroup namespaces, and a sleep two user namespaces down (the middle one has no process)."""
    require_tool("lsns")
    require_tool("unshare")
    flat = start(cleanup, ["unshare", "-U", "-r", "-n", "-u", "-i", "--fork", "--kill-child", "sleep", "600"])
    pidns = start(cleanup, ["unshare", "-p", "-m", "-C", "--fork", "--kill-child", "--mount-proc", "sleep", "600"])
    nested = start(cleanup, ["unshare", "-U", "-r", "--", "unshare", "-U", "-r", "-n", "sleep", "600"])
    return {"flat": flat, "pidns": pidns, "nested": nested}


def ours_for(pid: int) -> set[int]:
    return {ns_inode(pid, t) for t in ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time")}


def test_json_lists_the_same_namespaces_with_the_same_fields(targets):
    for _ in range(5):
        ref1, ours, ref2 = lsns("util-linux", ["-J"]), lsns("nsbox", ["-J"]), lsns("util-linux", ["-J"])
        assert ours.returncode == ref1.returncode == 0, ours.stderr
        a, b, c = by_ns(ref1.stdout), by_ns(ours.stdout), by_ns(ref2.stdout)
        stable = set(a) & set(c)
        if stable <= set(b):
            break
    assert stable <= set(b), f"namespaces util-linux listed twice but nsbox did not: {stable - set(b)}"
    for ns in stable:
        assert b[ns][0]["type"] == a[ns][0]["type"]
        assert list(b[ns][0]) == list(a[ns][0]) == ["ns", "type", "nprocs", "pid", "user", "command"]
    mine = set().union(*(ours_for(p) for p in targets.values())) - ours_for(os.getpid())
    for ns in mine:
        assert b[ns] == a[ns], ns   # every field, and the place in the process tree
    assert b[ns_inode(targets["flat"], "net")][0]["nprocs"] == 2


def test_output_all_json_agrees_exactly_on_our_namespaces(targets):
    for name, pid in targets.items():
        ref, ours = both(["-J", "--output-all", "-p", str(pid), "-t", "net", "-t", "user", "-t", "uts", "-t", "pid"])
        assert ours.returncode == ref.returncode == 0
        own = ours_for(pid) - ours_for(os.getpid())
        a, b = by_ns(ref.stdout), by_ns(ours.stdout)
        assert set(a) == set(b), name
        for ns in own & set(a):
            assert b[ns] == a[ns], (name, ns)
            assert set(b[ns][0]) == set(ALL.lower().split(","))


@pytest.mark.parametrize("fmt", [[], ["-l"], ["-r"], ["-n"], ["-J"], ["-u"], ["-W"], ["-r", "-n"], ["-J", "-l"],
                                 ["--output-all"], ["-o", ALL], ["-o", "+PATH,PPID,UID,PNS,ONS"],
                                 ["-o", "NS,TYPE,COMMAND", "-T", "-l"]])
def test_formats_are_byte_identical_on_private_namespaces(targets, fmt):
    pid = targets["flat"]
    sel = ["-p", str(pid), "-t", "net", "-t", "uts", "-t", "ipc"]
    ref, ours = both(fmt + sel)
    assert ref.returncode == 0, ref.stderr
    assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    assert str(ns_inode(pid, "net")) in ours.stdout


def test_namespace_argument_lists_its_processes(targets):
    ns = ns_inode(targets["flat"], "net")
    for fmt in ([], ["-J"], ["-l", "-r"]):
        ref, ours = both(fmt + [str(ns)])
        assert (ours.returncode, ours.stdout) == (ref.returncode, ref.stdout)
    assert len(ours.stdout.splitlines()) == 3    # unshare and its sleep, and the heading


@pytest.mark.parametrize("tree", ["-T", "--tree=owner", "--tree=parent"])
def test_owner_and_parent_trees_agree(targets, tree):
    """The nested sleep's parent user namespace has no process: both show it (NPROCS 0) in the tree."""
    pid = targets["nested"]
    args = [tree, "-J", "-o", "NS,TYPE,NPROCS,PNS,ONS,USER", "-p", str(pid), "-t", "user", "-t", "net"]
    ref, ours = both(args)
    assert ours.returncode == ref.returncode == 0
    a, b = by_ns(ref.stdout), by_ns(ours.stdout)
    host = ours_for(os.getpid())   # their process counts change while we run: compare the rest
    for rows in (a, b):
        for ns in host & set(rows):
            rows[ns][0].pop("nprocs")
    assert a == b
    inner = ns_inode(pid, "user")
    middle = b[inner][0]["pns"]
    assert b[middle][0]["nprocs"] == 0 and b[middle][0]["type"] == "user"
    assert b[inner][1] == middle     # the tree hangs the inner user namespace under the middle one
    # human output, byte for byte
    ref, ours = both([tree, "-o", "NS,TYPE,PNS,ONS,USER", "-p", str(pid), "-t", "user", "-t", "net"])
    assert ours.stdout == ref.stdout


def test_process_tree_under_pid_namespace(targets):
    pid = children(targets["pidns"])[0]    # the sleep: pid 1 of the new pid namespace
    assert ns_inode(pid, "pid") != ns_inode(os.getpid(), "pid")
    args = ["-Tprocess", "-p", str(pid), "-t", "pid", "-t", "mnt", "-t", "cgroup", "-o", "NS,TYPE,NPROCS,PID,PPID,COMMAND"]
    ref, ours = both(args)
    assert ours.stdout == ref.stdout and ours.returncode == ref.returncode == 0
    ref, ours = both(["-J", "-o", "NS,PNS,ONS,PID", "-t", "pid", "-p", str(pid)])
    assert by_ns(ours.stdout) == by_ns(ref.stdout)


def test_type_filters_agree(targets):
    for types in (["-t", "net"], ["-t", "user", "-t", "pid"], ["-t", "time"], ["-t", "cgroup", "-t", "ipc"]):
        ref, ours = both(["-J", "-o", "NS,TYPE", *types])
        assert ours.returncode == 0
        a, b = by_ns(ref.stdout), by_ns(ours.stdout)
        wanted = {t for i, t in enumerate(types) if types[i - 1] == "-t"}
        assert {row["type"] for row, _ in b.values()} <= wanted
        mine = set().union(*(ours_for(p) for p in targets.values()))
        assert {ns for ns in a if ns in mine} == {ns for ns in b if ns in mine}


def test_task_filter_of_a_missing_pid_is_empty_and_succeeds():
    require_tool("lsns")
    for fmt in ([], ["-J"]):
        ref, ours = both(fmt + ["-p", "2147483647"])
        assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr) == (0, ref.stdout, "")


@pytest.mark.parametrize("args", [["-t", "foo"], ["-o", "BOGUS"], ["-o", "NS,BOGUS,X"], ["-p", "abc"], ["-p"],
                                  ["-J", "-r"], ["--tree=x"], ["abc"], ["-X"], ["1"], ["--output"], ["-o", ""]])
def test_bad_input_matches_util_linux(args):
    require_tool("lsns")
    ref, ours = both(args)
    assert ref.returncode == 1
    assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr)


def test_persistent_namespace_kept_by_a_bind_mount(cleanup, tmp_path):
    require_tool("unshare")
    holder = tmp_path / "netns"
    holder.touch()
    res = subprocess.run(["unshare", f"--net={holder}", "true"], capture_output=True, text=True, timeout=30)
    require(res.returncode == 0, f"unshare --net=FILE (bind-mounting a namespace): {res.stderr.strip()}")
    cleanup.umount(str(holder))
    inode = os.stat(holder).st_ino
    ours = lsns("nsbox", ["-P", "-J", "--output-all"])
    assert ours.returncode == 0, ours.stderr
    row = by_ns(ours.stdout)[inode][0]
    assert row["type"] == "net" and row["nprocs"] == 0 and row["pid"] is None and row["command"] is None
    assert row["nsfs"] == str(holder) and row["ons"] == ns_inode(os.getpid(), "user")
    # util-linux 2.38 has no -P and lists only namespaces processes are in; so does plain nsbox lsns
    ref, plain = both(["-J", "-t", "net", "-o", "NS"])
    assert inode not in by_ns(ref.stdout) and inode not in by_ns(plain.stdout)
    # -P shows only namespaces without processes
    assert all(r["nprocs"] == 0 for r, _ in by_ns(ours.stdout).values())
    from nsbox.ns import list_namespaces
    found = {n.inode: n for n in list_namespaces(types=["net"], persistent=True)}
    assert found[inode].nsfs == [str(holder)] and found[inode].pids == []


def test_nsfs_and_netnsid_of_a_bind_mounted_namespace_with_a_process(cleanup, tmp_path):
    require_tool("unshare")
    holder = tmp_path / "netns"
    holder.touch()
    second = tmp_path / "again"
    second.touch()
    pid = start(cleanup, ["unshare", f"--net={holder}", "sleep", "600"])
    cleanup.umount(str(holder))
    subprocess.run(["mount", "--bind", str(holder), str(second)], check=True, timeout=30)
    cleanup.umount(str(second))
    for fmt in ([], ["-J"], ["-r"], ["-W"], ["-o", "NS,NSFS,NETNSID,COMMAND"]):
        ref, ours = both(fmt + ["-t", "net", "-p", str(pid)])
        assert (ours.returncode, ours.stdout) == (ref.returncode, ref.stdout), fmt
    row = by_ns(lsns("nsbox", ["-J", "-t", "net", "-p", str(pid)]).stdout)
    assert row[ns_inode(pid, "net")][0]["nsfs"] == f"{holder}\n{second}"


def test_unprintable_and_undecodable_command_lines(cleanup):
    """argv with a tab, a non-UTF-8 byte, a backslash and box-drawing text: encoded as util-linux does."""
    require_tool("unshare")
    code = 'import os; os.execv("/bin/sleep", [b"sl\\xffe\\tep \\xe2\\x94\\x94x\\\\y", "600"])'
    pid = start(cleanup, ["unshare", "-u", "python3", "-c", code])
    for fmt in ([], ["-J"], ["-r"], ["-u", "-l"]):
        ref = lsns("util-linux", [*fmt, "-p", str(pid), "-t", "uts"], text=False)
        ours = lsns("nsbox", [*fmt, "-p", str(pid), "-t", "uts"], text=False)
        assert ref.returncode == 0 and b"sl" in ref.stdout
        assert (ours.returncode, ours.stdout) == (ref.returncode, ref.stdout), fmt
