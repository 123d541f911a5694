"""The v2 driver on the real cgroup2 mount of this host (/sys/fs/cgroup/unified on this hybrid box):
mkdir, cgroup.procs migration, cgroup.freeze / cgroup.events, cgroup.kill, controllers that live
there (hugetlb here), unified keys, rmdir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nsbox.cgroups import detect
from nsbox.cgroups.detect import CgroupLayout
from nsbox.cgroups.manager import for_container
from tests.conftest import require
from tests.fixtures.cgroup_helpers import created_manager, gated, go

PY = sys.executable


def v2_layout() -> CgroupLayout:
    real = detect.detect()
    require(real.unified is not None, "a cgroup2 mount")
    return CgroupLayout("v2", {}, real.unified, real.unified_root, real.v2_controllers)


@pytest.fixture
def v2_manager(cleanup):
    def make(linux, cid):
        layout = v2_layout()
        m = created_manager(cleanup, linux, cid, layout=layout, own={"": "/"})
        assert m.mode == "v2" and m.paths() == {"": os.path.join(layout.unified, linux.get("cgroupsPath", cid).lstrip("/"))}
        return m
    return make


def spawn(cleanup, code: str) -> subprocess.Popen:
    return gated(cleanup, code, stderr=None)


def cgroup2_of(pid: int) -> str:
    return detect.own_cgroups(pid)[""]


def cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def test_mkdir_migrate_freeze_thaw_kill_rmdir(v2_manager, cleanup, unique_id):
    m = v2_manager({}, unique_id)
    path = m.paths()[""]
    assert os.path.isdir(path)
    p = spawn(cleanup, "import os, time\n"
                       "for _ in range(3):\n"
                       "    if os.fork() == 0:\n"
                       "        while True: pass\n"
                       "print('ready', flush=True)\n"
                       "while True: pass\n")
    m.add(p.pid)
    assert cgroup2_of(p.pid) == "/" + unique_id
    go(p)
    assert p.stdout.readline().strip() == "ready"
    pids = m.pids()
    assert len(pids) == 4 and p.pid in pids
    assert all(cgroup2_of(x) == "/" + unique_id for x in pids)      # children are born inside
    m.freeze()
    assert m.is_frozen()
    assert "frozen 1" in open(f"{path}/cgroup.events").read()
    c0 = sum(cpu_seconds(x) for x in pids)
    time.sleep(0.4)
    assert sum(cpu_seconds(x) for x in pids) - c0 <= 0.02
    m.thaw()
    assert "frozen 0" in open(f"{path}/cgroup.events").read()
    c1 = sum(cpu_seconds(x) for x in pids)
    time.sleep(0.3)
    assert sum(cpu_seconds(x) for x in pids) - c1 >= 0.1
    require(m.v2.can_kill(), "cgroup.kill (Linux >= 5.14)")
    m.kill_all(signal.SIGKILL)                                       # one write to cgroup.kill
    assert p.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert m.pids() == []
    assert "populated 0" in open(f"{path}/cgroup.events").read()
    m.destroy()
    assert not os.path.exists(path)


def test_kill_all_sigterm_freezes_signals_thaws(v2_manager, cleanup, unique_id):
    m = v2_manager({}, unique_id)
    p = spawn(cleanup, "import time; print('ready', flush=True); time.sleep(60)")
    m.add(p.pid)
    go(p)
    assert p.stdout.readline().strip() == "ready"
    m.kill_all(signal.SIGTERM)
    assert p.wait(timeout=10) == -signal.SIGTERM
    assert not m.is_frozen()


def test_nested_path_is_created_and_removed(v2_manager, unique_id):
    m = v2_manager({"cgroupsPath": f"/{unique_id}/a/b"}, unique_id)
    leaf = m.paths()[""]
    assert leaf.endswith(f"/{unique_id}/a/b") and os.path.isdir(leaf)
    os.mkdir(os.path.join(leaf, "sub"))                 # a sub-cgroup made by the container
    m.destroy()
    assert not os.path.exists(os.path.dirname(os.path.dirname(leaf)))


def test_unified_key_is_enforced(v2_manager, unique_id):
    m = v2_manager({"resources": {"unified": {"cgroup.max.descendants": "2"}}}, unique_id)
    path = m.paths()[""]
    assert open(f"{path}/cgroup.max.descendants").read().strip() == "2"
    os.mkdir(f"{path}/a")
    os.mkdir(f"{path}/b")
    with pytest.raises(OSError):
        os.mkdir(f"{path}/c")


def test_hugetlb_limit_on_cgroup2(v2_manager, unique_id):
    require("hugetlb" in detect.detect().v2_controllers, "the hugetlb controller on cgroup2")
    m = v2_manager({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}}, unique_id)
    path = m.paths()[""]
    assert int(open(f"{path}/hugetlb.2MB.max").read()) == 4 << 20
    if os.path.exists(f"{path}/hugetlb.2MB.rsvd.max"):
        assert int(open(f"{path}/hugetlb.2MB.rsvd.max").read()) == 4 << 20
    assert "hugetlb" in open(f"{os.path.dirname(path)}/cgroup.subtree_control").read().split()


def test_hybrid_manager_puts_cgroup2_only_controllers_in_the_unified_dir(cleanup, unique_id):
    layout = detect.detect()
    require(layout.mode == "hybrid", "a hybrid cgroup host")
    require("hugetlb" in layout.v2_controllers and "hugetlb" not in layout.v1, "hugetlb only on cgroup2")
    m = for_container({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 20}],
                                     "pids": {"limit": 7}}}, unique_id)
    m.create()
    cleanup.add(m.destroy)
    assert int(open(f'{m.paths()[""]}/hugetlb.2MB.max').read()) == 2 << 20
    assert open(f'{m.paths()["pids"]}/pids.max').read().strip() == "7"
    assert m.stats()["hugetlb"].get("2MB") == {"failcnt": 0}
