"""nsbox unshare and nsbox.ns as an unprivileged user (with and without /etc/subuid ranges)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

import nsbox.ns as ns
from nsbox.errors import IdMapError
from nsbox.ns.idmap import rootless_default
from tests.conftest import require_no_subids, require_subids, require_tool
from tests.fixtures.unshare_tools import PROBE, PYTHON, host_ns, ns_pattern, nsbox_unshare, probe, run

NSBOX = nsbox_unshare()
UTIL = ["unshare"]


def both(flags, keys):
    require_tool("unshare")
    return probe(NSBOX, flags, keys), probe(UTIL, flags, keys)


@pytest.mark.parametrize("flags", [["-r"], ["-c"], ["--map-user=5"], ["--map-user=0", "--map-group=0"],
                                   ["-U"], ["-U", "--setgroups=deny"]])
def test_single_id_maps_like_util_linux(flags):
    ours, theirs = both(flags, ["uid_map", "gid_map", "setgroups", "uid", "gid", "ns"])
    assert ours["uid_map"] == theirs["uid_map"] and ours["gid_map"] == theirs["gid_map"]
    assert ours["setgroups"] == theirs["setgroups"] and ours["uid"] == theirs["uid"]
    assert ns_pattern(ours["ns"]) == ns_pattern(theirs["ns"])
    if flags == ["-r"]:
        assert ours["uid"] == [0, 0, 0] and ours["uid_map"].split() == ["0", str(os.geteuid()), "1"]
        assert ours["setgroups"] == "deny"


@pytest.mark.parametrize("flags", [["--map-auto", "-r"], ["-U", "--map-users=auto", "--map-user=5"],
                                   ["--map-auto"], ["-U", "--map-users=auto", "--map-groups=auto", "-c"],
                                   ["-U", "--map-users=300000,0,100", "--map-groups=300000,0,100"],
                                   ["-U", "--map-users=300000,1,100", "--map-user=0"]])
def test_subid_ranges_like_util_linux(flags):
    require_subids()
    ours, theirs = both(flags, ["uid_map", "gid_map", "setgroups", "uid"])
    assert ours == theirs
    outside = [int(line.split()[1]) for line in ours["uid_map"].splitlines()]
    assert any(o != os.geteuid() for o in outside)  # a subordinate range is mapped


def test_map_users_auto_without_ranges_is_one_line():
    require_no_subids()
    res = run(NSBOX + ["--map-users=auto", "true"])
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsbox unshare: no subordinate uid range for user")
    assert "/etc/subuid" in lines[0]
    assert run(UTIL + ["--map-users=auto", "true"]).returncode == 1


def test_all_namespaces_with_mount_proc():
    ours, theirs = both(["-Ufpmiun", "--mount-proc"], ["pids", "pid", "ns", "uid"])
    assert ours["pids"] == theirs["pids"] == [1] and ours["pid"] == 1
    assert ns_pattern(ours["ns"]) == ns_pattern(theirs["ns"])
    assert ours["uid"] == theirs["uid"] == [65534] * 3


def test_no_privilege_is_an_eperm_line():
    before = open("/proc/self/mountinfo").read()
    res = run(NSBOX + ["-n", "true"])
    assert res.returncode == 1
    assert res.stderr == "nsbox unshare: unshare(CLONE_NEWNET): Operation not permitted\n"
    assert run(UTIL + ["-n", "true"]).returncode == 1
    assert open("/proc/self/mountinfo").read() == before


@pytest.mark.parametrize("threaded", [False, True])
def test_spawn_rootless(threaded):
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    if threaded:
        t.start()
    try:
        with ns.spawn([PYTHON, PROBE, "uid", "uid_map", "ns", "pids", "hostname"],
                      ("user", "mnt", "pid", "uts", "net"), map_root=True, mount_proc=True,
                      hostname="rootless", stdout=subprocess.PIPE) as proc:
            assert proc.wait(timeout=30) == 0
            seen = json.loads(proc.stdout.read())
    finally:
        stop.set()
    assert seen["uid"] == [0, 0, 0] and seen["uid_map"].split() == ["0", str(os.geteuid()), "1"]
    assert seen["pids"] == [1] and seen["hostname"] == "rootless"
    assert seen["ns"]["net"] != host_ns()["net"]


def test_spawn_with_rootless_default_map():
    idmap = rootless_default()
    with ns.spawn([PYTHON, PROBE, "uid_map", "gid_map"], ("user",), idmap=idmap,
                  stdout=subprocess.PIPE) as proc:
        assert proc.wait(timeout=30) == 0
        seen = json.loads(proc.stdout.read())
    rows = [line.split() for line in seen["uid_map"].splitlines()]
    assert rows[0] == ["0", str(os.geteuid()), "1"]
    assert len(rows) == len(idmap.uids)  # two rows via newuidmap with ranges, else one


def test_spawn_auto_map_error_without_ranges():
    require_no_subids()
    from nsbox.ns.launch import build_options
    with pytest.raises(IdMapError, match="no subordinate uid range"):
        build_options(("user",), argv=["true"], map_users="auto")


def test_unshare_in_process_rootless():
    code = ("import json, os, nsbox.ns as ns; ns.unshare(('user', 'uts', 'mnt'), map_root=True, "
            "hostname='me'); print(json.dumps([os.getuid(), os.uname().nodename]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [0, "me"]
