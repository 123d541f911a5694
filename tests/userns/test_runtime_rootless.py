"""nsbox-runc as an unprivileged user: a `spec --rootless` busybox bundle, the whole lifecycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import require, require_subids
from tests.fixtures.bundles import busybox_rootfs, read_config, write_config
from tests.fixtures.runtimes import NSBOX_RUNC, Runtime

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")


@pytest.fixture
def rt(tmp_path):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "bundle"
    path.mkdir()
    res = subprocess.run([NSBOX_RUNC, "spec", "--rootless", "-b", str(path)], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    busybox_rootfs(str(path / "rootfs"))
    cfg = read_config(str(path))
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; hostname; echo $$"]
    write_config(str(path), cfg)
    return str(path)


def test_rootless_run(rt, bundle, unique_id, cleanup):
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "0"                                     # root inside
    assert lines[1].split() == ["0", str(os.getuid()), "1"]    # ... which is us outside
    assert lines[2] == "runc" and lines[3] == "1"


def test_rootless_lifecycle(rt, bundle, unique_id, cleanup):
    cfg = read_config(bundle)
    cfg["process"]["args"] = ["sleep", "100"]
    write_config(bundle, cfg)
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    assert rt.state(unique_id)["status"] == "created"
    rt.ok("start", unique_id)
    state = rt.state(unique_id)
    assert state["status"] == "running"
    assert os.stat(f"/proc/{state['pid']}").st_uid == os.getuid()
    rt.ok("kill", unique_id, "KILL")
    deadline = time.monotonic() + 5
    while rt.state(unique_id)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rt.state(unique_id)["status"] == "stopped"
    rt.ok("delete", unique_id)
    assert not os.path.exists(os.path.join(rt.root, unique_id))


def test_rootless_many_ids_through_newuidmap(rt, bundle, unique_id, cleanup):
    from nsbox.ns.idmap import rootless_default
    require_subids()
    idmap = rootless_default()
    require(len(idmap.uids) > 1, "newuidmap and newgidmap for this user's /etc/subuid ranges")
    cfg = read_config(bundle)
    cfg["linux"]["uidMappings"] = [m.to_oci() for m in idmap.uids]
    cfg["linux"]["gidMappings"] = [m.to_oci() for m in idmap.gids]
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["process"]["args"] = ["sh", "-c", "id -u; id -g; cat /proc/self/uid_map"]
    write_config(bundle, cfg)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:2] == ["1000", "1000"]
    rows = [line.split() for line in lines[2:]]
    assert ["0", str(os.getuid()), "1"] in rows and len(rows) == 2


def test_rootless_nsbox_run_demo():
    res = subprocess.run([NSBOX, "run", "--hostname", "rootless-demo", "--", "/bin/sh", "-c",
                          "hostname; id -u; ls /sys/class/net; touch /etc/x 2>&1 | grep -c Read-only"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["rootless-demo", "0", "lo", "1"]
