"""Limits that the kernel enforces, observed from the limited processes (v1 hierarchies here, and the
real cgroup2 mount for what lives there). Every process runs gated: it is moved into the cgroup first,
then told to start through its stdin."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from nsbox.cgroups import detect
from tests.conftest import require
from tests.fixtures.cgroup_helpers import created_manager, gated, go

PY = sys.executable


def v1_has(ctrl: str) -> bool:
    return ctrl in detect.detect().v1


@pytest.fixture
def managed(cleanup):
    return lambda linux, cid: created_manager(cleanup, linux, cid)


HOG = "a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n"


def test_memory_limit_oom_kills_a_hog_and_is_observable(managed, cleanup, unique_id):
    require(v1_has("memory"), "the v1 memory controller")
    limit = 64 << 20
    m = managed({"resources": {"memory": {"limit": limit, "swap": limit}}}, unique_id)
    mem = m.paths()["memory"]
    assert int(open(f"{mem}/memory.limit_in_bytes").read()) == limit
    p = gated(cleanup, HOG)
    m.add(p.pid)
    with m.oom_events() as watcher:
        assert watcher.count() == 0
        go(p)
        assert p.wait(timeout=60) == -signal.SIGKILL       # exit 137 in a shell
        assert watcher.wait(timeout=5)                     # the eventfd fired
        assert watcher.count() >= 1                        # memory.oom_control oom_kill
    # the hog reached the limit (memory.failcnt stays 0 on this 6.18 kernel, so the peak is checked)
    assert int(open(f"{mem}/memory.max_usage_in_bytes").read()) == limit
    st = m.stats()["memory"]
    assert st["usage"]["limit"] == limit and st["usage"]["max"] == limit


def test_pids_limit_stops_a_fork_bomb(managed, cleanup, unique_id):
    require(v1_has("pids"), "the v1 pids controller")
    m = managed({"resources": {"pids": {"limit": 16}}}, unique_id)
    bomb = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(200):\n"          # bounded: at most 200 forks
        "    try:\n"
        "        pid = os.fork()\n"
        "    except BlockingIOError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30); os._exit(0)\n"
        "    made += 1\n"
        "print(made, flush=True)\n"
        "time.sleep(30)\n"
    )
    p = gated(cleanup, bomb)
    m.add(p.pid)
    go(p)
    made = int(p.stdout.readline())
    assert made == 15                                     # 16 tasks including the bomb itself
    assert len(m.pids()) == 16
    assert m.stats()["pids"] == {"current": 16, "limit": 16}
    m.kill_all(signal.SIGKILL)
    p.wait(timeout=10)
    deadline = time.monotonic() + 10
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.pids() == []


def cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def test_cpu_quota_holds_a_busy_loop_near_its_share(managed, cleanup, unique_id):
    """20 % quota (20 ms per 100 ms) over ~2 s: accept 10-26 % of one cpu (the machine is shared,
    so the loop may get less than its share, never much more)."""
    require(v1_has("cpu"), "the v1 cpu controller")
    m = managed({"resources": {"cpu": {"quota": 20000, "period": 100000}}}, unique_id)
    p = gated(cleanup, "while True:\n    pass\n")
    m.add(p.pid)
    go(p)
    t0, c0 = time.monotonic(), cpu_seconds(p.pid)
    time.sleep(2.0)
    share = (cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
    assert 0.10 <= share <= 0.26, share
    thr = m.stats()["cpu"]["throttling"]
    assert thr["throttledPeriods"] > 0 and thr["throttledTime"] > 0


def test_update_changes_live_limits(managed, cleanup, unique_id):
    m = managed({"resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 10},
                               "cpu": {"shares": 512}}}, unique_id)
    p = gated(cleanup, "import time; time.sleep(30)")
    m.add(p.pid)
    paths = m.paths()
    m.update({"memory": {"limit": 256 << 20, "swap": 512 << 20}, "pids": {"limit": 99},
              "cpu": {"shares": 2048, "quota": 30000, "period": 100000}})
    assert int(open(f'{paths["memory"]}/memory.limit_in_bytes').read()) == 256 << 20
    assert int(open(f'{paths["memory"]}/memory.memsw.limit_in_bytes').read()) == 512 << 20
    assert open(f'{paths["pids"]}/pids.max').read().strip() == "99"
    assert open(f'{paths["cpu"]}/cpu.shares').read().strip() == "2048"
    assert open(f'{paths["cpu"]}/cpu.cfs_quota_us').read().strip() == "30000"
    # lowering below the current memsw needs the limit first; raising above needs memsw first
    m.update({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    assert int(open(f'{paths["memory"]}/memory.memsw.limit_in_bytes').read()) == 32 << 20
    m.update({"memory": {"limit": 1 << 30, "swap": 2 << 30}})
    assert int(open(f'{paths["memory"]}/memory.limit_in_bytes').read()) == 1 << 30
    assert m.resources["pids"]["limit"] == 99 and m.resources["memory"]["limit"] == 1 << 30


def test_freeze_stops_progress_and_thaw_resumes(managed, cleanup, unique_id):
    m = managed({}, unique_id)
    p = gated(cleanup, "while True:\n    pass\n")
    m.add(p.pid)
    go(p)
    time.sleep(0.2)
    m.freeze()
    assert m.is_frozen()
    c0 = cpu_seconds(p.pid)
    time.sleep(0.5)
    assert cpu_seconds(p.pid) - c0 <= 0.02
    m.thaw()
    assert not m.is_frozen()
    c1 = cpu_seconds(p.pid)
    time.sleep(0.5)
    assert cpu_seconds(p.pid) - c1 >= 0.1


def test_kill_all_with_sigterm_reaches_every_process(managed, cleanup, unique_id):
    m = managed({}, unique_id)
    code = ("import os, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(30); os._exit(0)\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n")
    p = gated(cleanup, code)
    m.add(p.pid)
    go(p)
    assert p.stdout.readline().strip() == "ready"
    assert len(m.pids()) == 4
    m.kill_all(signal.SIGTERM)
    assert p.wait(timeout=10) == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m.pids() == []
    assert not m.is_frozen()


def test_kill_all_keeps_a_paused_container_paused_except_for_sigkill(managed, cleanup, unique_id):
    m = managed({}, unique_id)
    p = gated(cleanup, "import time; time.sleep(60)")
    m.add(p.pid)
    go(p)
    m.freeze()
    m.kill_all(signal.SIGTERM)            # delivered when resumed, as with runc
    assert m.is_frozen() and p.poll() is None
    m.thaw()
    assert p.wait(timeout=10) == -signal.SIGTERM
    q = gated(cleanup, "import time; time.sleep(60)")
    m.add(q.pid)
    m.freeze()
    m.kill_all(signal.SIGKILL)            # must run to die: thawed
    assert q.wait(timeout=10) == -signal.SIGKILL
    assert not m.is_frozen()
