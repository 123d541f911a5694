"""Rootless cgroups: hierarchies an unprivileged user may not write are skipped with a warning (as
runc does), and limits that would need them are an error that leaves nothing behind."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest

from nsbox.cgroups import detect
from nsbox.cgroups.manager import for_container
from nsbox.errors import CgroupError


def writable_somewhere() -> bool:
    lay = detect.detect()
    roots = [m.mountpoint for m in lay.v1.values()] + ([lay.unified] if lay.unified else [])
    return any(os.access(r, os.W_OK) for r in roots)


def test_unwritable_hierarchies_warn_and_continue(unique_id, caplog):
    if writable_somewhere():
        pytest.skip("missing capability: a host whose cgroup roots this user cannot write")
    m = for_container({}, unique_id, rootless=True)
    with caplog.at_level(logging.WARNING, logger="nsbox.cgroups"):
        m.create()
    try:
        assert m.warnings, "each skipped hierarchy is reported"
        assert any("rootless" in w or "running without" in w for w in m.warnings)
        assert any(r.name == "nsbox.cgroups" for r in caplog.records)
        assert m.paths() == {}
        p = subprocess.Popen(["sleep", "5"])
        try:
            m.add(p.pid)                       # nothing to join: a no-op, as runc without cgroups
        finally:
            p.kill()
            p.wait(timeout=10)
        assert m.pids() == []
    finally:
        m.destroy()


def test_limits_without_a_writable_cgroup_fail_cleanly(unique_id):
    if writable_somewhere():
        pytest.skip("missing capability: a host whose cgroup roots this user cannot write")
    m = for_container({"resources": {"pids": {"limit": 5}}}, unique_id, rootless=True)
    with pytest.raises(CgroupError, match="rootless"):
        m.create()
    assert m.created == []
    lay = detect.detect()
    assert not any(os.path.exists(os.path.join(mt.mountpoint, unique_id)) for mt in lay.v1.values())
