"""nsbox lsns as an unprivileged user, against util-linux lsns run the same way.

Other users' /proc/PID/ns links cannot be inspected: both tools skip those processes. Inside a user
namespace the caller owns, ids are shown as mapped there and parents above it are hidden (EPERM).
"""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import require_tool
from tests.fixtures.lsns_procs import both, by_ns, children, lsns, ns_inode, start

TYPES = ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time")


@pytest.fixture
def own_userns(cleanup):
    require_tool("unshare")
    require_tool("lsns")
    return start(cleanup, ["unshare", "-U", "-r", "-n", "-u", "--fork", "--kill-child", "sleep", "600"])


def test_lists_only_what_the_user_may_inspect_like_util_linux(own_userns):
    for _ in range(5):
        ref1, ours, ref2 = lsns("util-linux", ["-J"]), lsns("nsbox", ["-J"]), lsns("util-linux", ["-J"])
        a, b, c = by_ns(ref1.stdout), by_ns(ours.stdout), by_ns(ref2.stdout)
        if set(a) & set(c) <= set(b) <= set(a) | set(c):
            break
    assert ours.returncode == 0, ours.stderr
    assert set(a) & set(c) <= set(b) <= set(a) | set(c)
    uid = os.getuid()
    checked = 0
    for row, _ in b.values():
        # every listed namespace has at least one of our processes: its lowest pid we could read is ours
        try:
            owner = os.stat(f"/proc/{row['pid']}").st_uid
        except FileNotFoundError:
            continue  # a short-lived process ended between the listing and this check
        checked += 1
        assert owner == uid or row["user"] == "root"
    mine = {ns_inode(own_userns, t) for t in ("user", "net", "uts")}
    assert checked >= len(mine)  # at least the rows of our own, still running, namespaces were checked
    for ns in mine:
        assert b[ns] == a[ns]


def test_formats_agree_on_the_users_namespaces(own_userns):
    sel = ["-p", str(own_userns), "-t", "net", "-t", "uts", "-t", "user"]
    for fmt in ([], ["-J", "--output-all"], ["-r", "-o", "NS,TYPE,NPROCS,PID,PPID,UID,USER,PNS,ONS,COMMAND"], ["-T"]):
        for _ in range(5):
            # the user's own first namespace counts every process of this user: one that starts or ends
            # between the two snapshots (a helper of an earlier test winding down) changes NPROCS/PID
            ref, ours = both(fmt + sel)
            if (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr):
                break
            time.sleep(0.2)
        assert ref.returncode == 0, ref.stderr
        assert (ours.returncode, ours.stdout, ours.stderr) == (ref.returncode, ref.stdout, ref.stderr), fmt


def test_inside_the_users_own_namespace(own_userns):
    require_tool("nsenter")
    pid = own_userns
    enter = ["nsenter", "-t", str(pid), "-U", "-n", "--preserve-credentials"]
    args = ["-J", "--output-all", "-p", str(pid), "-t", "user", "-t", "net", "-t", "uts"]
    ref, ours = both(args, prefix=enter)
    assert ref.returncode == 0, ref.stderr
    assert ours.returncode == 0, ours.stderr
    a, b = by_ns(ref.stdout), by_ns(ours.stdout)
    assert a == b
    user = b[ns_inode(pid, "user")][0]
    assert user["uid"] == 0 and user["user"] == "root"   # our uid, as mapped inside
    assert user["pns"] == 0                              # the parent is above the caller: hidden
    ref, ours = both(["-T", "-o", "NS,TYPE,PNS,ONS,UID", "-p", str(pid)], prefix=enter)
    assert ours.stdout == ref.stdout


def test_nested_child_processes_in_a_new_pid_namespace(cleanup):
    require_tool("unshare")
    require_tool("lsns")
    parent = start(cleanup, ["unshare", "-U", "-r", "-p", "-m", "--fork", "--kill-child", "--mount-proc", "sleep", "600"])
    pid = children(parent)[0]
    ref, ours = both(["-J", "-o", "NS,TYPE,NPROCS,PID,PPID,PNS,ONS,COMMAND", "-p", str(pid), "-t", "pid", "-t", "mnt"])
    assert by_ns(ours.stdout) == by_ns(ref.stdout)
    assert {row["type"] for row, _ in by_ns(ours.stdout).values()} == {"pid", "mnt"}
