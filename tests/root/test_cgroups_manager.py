"""The cgroup manager on this host's real hierarchies (v1 controllers + the cgroup2 mount)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from nsbox.cgroups import detect
from nsbox.cgroups.manager import CgroupManager, for_container
from nsbox.errors import SpecError
from tests.fixtures.cgroup_helpers import created_manager


@pytest.fixture
def managed(cleanup):
    """make(linux, id) -> a created manager whose processes are killed and dirs removed at the end."""
    def make(linux, cid, create=True):
        return created_manager(cleanup, linux, cid) if create else for_container(linux, cid)
    return make


def spawn_sleeper(cleanup, args=("sleep", "60")):
    p = subprocess.Popen(list(args))
    cleanup.add(lambda: (p.kill(), p.wait(timeout=10)))
    return p


def test_lifecycle_create_add_pids_freeze_kill_destroy(managed, cleanup, unique_id):
    m = managed({"resources": {"pids": {"limit": 20}}}, unique_id)
    paths = m.paths()
    assert paths and all(os.path.isdir(p) for p in paths.values())
    p = spawn_sleeper(cleanup)
    m.add(p.pid)
    assert m.pids() == [p.pid]
    # the kernel puts the process where we said, in every hierarchy
    seen = detect.own_cgroups(p.pid)
    for ctrl, path in paths.items():
        assert path.endswith(seen[ctrl]), (ctrl, path, seen[ctrl])
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()
    again = CgroupManager.from_json(m.to_json())
    assert again.paths() == paths
    again.kill_all(signal.SIGKILL)
    assert p.wait(timeout=10) == -signal.SIGKILL
    again.destroy()
    assert not any(os.path.exists(x) for x in paths.values())


def test_bad_input_creates_nothing(unique_id):
    before = {c: sorted(os.listdir(m.mountpoint)) for c, m in detect.detect().v1.items()}
    for linux in ({"resources": {"memory": {"limit": -5}}},
                  {"resources": {"cpu": {"cpus": "1-"}}},
                  {"resources": {"unified": {"bogus.max": "1"}}},
                  {"cgroupsPath": 42}):
        with pytest.raises(SpecError) as info:
            for_container(linux, unique_id)
        assert "$.linux." in str(info.value)
    after = {c: sorted(os.listdir(m.mountpoint)) for c, m in detect.detect().v1.items()}
    assert before == after
