"""Differential: for the same linux.resources, runc and nsbox write the same cgroup files.

runc runs a busybox bundle built here (busybox-static + `runc spec`); nsbox's manager gets the same
linux section with another cgroupsPath; then every controller file the resources touch is compared,
and the `runc events --stats` shape is compared with CgroupManager.stats()."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from nsbox.cgroups import detect
from tests.conftest import require, require_tool
from tests.fixtures.cgroup_helpers import created_manager


def block_device() -> tuple[int, int]:
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith(("loop", "zram", "ram")):
            continue
        major, minor = open(f"/sys/block/{name}/dev").read().strip().split(":")
        return int(major), int(minor)
    return 7, 0


MAJ, MIN = block_device()
RESOURCES = {
    "memory": {"limit": 100 << 20, "swap": 200 << 20, "reservation": 50 << 20, "swappiness": 30,
               "disableOOMKiller": True},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
    "pids": {"limit": 50},
    "blockIO": {"weight": 300,
                "throttleReadBpsDevice": [{"major": MAJ, "minor": MIN, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": MAJ, "minor": MIN, "rate": 300}]},
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 4, "minor": 64, "access": "rw"},
                {"allow": False, "type": "c", "major": 1, "minor": 9, "access": "w"}],
}
COMPARED = {
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes"],
    "pids": ["pids.max"],
    "blkio": ["blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device",
              "blkio.throttle.read_iops_device", "blkio.throttle.write_bps_device"],
    "devices": ["devices.list"],
}


@pytest.fixture
def runc_container(tmp_path, cleanup, unique_id):
    runc = require_tool("runc")
    busybox = shutil.which("busybox")
    require(busybox is not None, "busybox-static")
    bundle = tmp_path / "bundle"
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy(busybox, bundle / "rootfs" / "bin" / "busybox")
    os.symlink("busybox", bundle / "rootfs" / "bin" / "sleep")
    subprocess.run([runc, "spec"], cwd=bundle, check=True, timeout=30)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"] = ["sleep", "60"]
    cfg["process"]["terminal"] = False
    cfg["linux"]["resources"] = json.loads(json.dumps(RESOURCES))
    cfg["linux"]["cgroupsPath"] = f"/nsbox-diff-runc-{unique_id}"
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = tmp_path / "runc-root"
    cid = f"diff-{unique_id}"
    base = [runc, "--root", str(root)]
    cleanup.add(lambda: subprocess.run(base + ["delete", "-f", cid], capture_output=True, timeout=30))
    # the container inherits runc's stdio: no pipes, or waiting for EOF would hang
    with open(tmp_path / "runc.err", "w+") as err:
        res = subprocess.run(base + ["run", "-d", "--bundle", str(bundle), cid], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        assert res.returncode == 0, err.read()
    state = json.loads(subprocess.run(base + ["state", cid], capture_output=True, text=True, timeout=30,
                                      check=True).stdout)
    return {"cfg": cfg, "pid": state["pid"], "base": base, "id": cid}


def ours_beside(runc_container: dict, cleanup, unique_id: str):
    """A created nsbox manager for runc's linux section, at a path of its own (removed at the end)."""
    linux = dict(runc_container["cfg"]["linux"], cgroupsPath=f"/nsbox-diff-ours-{unique_id}")
    return created_manager(cleanup, linux, unique_id)


def read(path: str) -> str:
    return open(path).read()


def test_same_files_as_runc(runc_container, cleanup, unique_id):
    runc_cg = detect.own_cgroups(runc_container["pid"])
    layout = detect.detect()
    m = ours_beside(runc_container, cleanup, unique_id)
    p = subprocess.Popen(["sleep", "60"])
    cleanup.add(lambda: (p.kill(), p.wait(timeout=10)))
    m.add(p.pid)
    ours = m.paths()
    compared = 0
    for ctrl, names in COMPARED.items():
        if ctrl not in layout.v1:
            continue
        theirs = os.path.join(layout.v1[ctrl].mountpoint, runc_cg[ctrl].lstrip("/"))
        for name in names:
            if not os.path.exists(os.path.join(theirs, name)):
                continue
            want = read(os.path.join(theirs, name))
            got = read(os.path.join(ours[ctrl], name))
            if name == "memory.oom_control":       # counters differ; the setting must not
                want, got = want.splitlines()[0], got.splitlines()[0]
            if name == "devices.list":             # runc writes its rule set sorted; same set = same access
                want, got = sorted(want.splitlines()), sorted(got.splitlines())
            assert got == want, (ctrl, name, got, want)
            compared += 1
    assert compared >= 15
    # and the kernel really enforces them for our process as for runc's
    assert m.pids() == [p.pid]


def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_stats_have_runc_events_shape(runc_container, cleanup, unique_id):
    res = subprocess.run(runc_container["base"] + ["events", "--stats", runc_container["id"]],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    theirs = json.loads(res.stdout)["data"]
    m = ours_beside(runc_container, cleanup, unique_id)
    p = subprocess.Popen(["sleep", "60"])
    cleanup.add(lambda: (p.kill(), p.wait(timeout=10)))
    m.add(p.pid)
    ours = json.loads(json.dumps(m.stats()))
    assert set(ours) == set(theirs)
    assert ours["cpuset"] == theirs["cpuset"]
    assert ours["pids"]["limit"] == theirs["pids"]["limit"] == 50
    assert ours["pids"]["current"] == theirs["pids"]["current"] == 1
    for key in ("usage", "swap"):
        assert ours["memory"][key]["limit"] == theirs["memory"][key]["limit"]
    assert set(ours["memory"]["raw"]) == set(theirs["memory"]["raw"])
    assert set(ours["memory"]) <= set(theirs["memory"]) | {"cache"}
    assert set(ours["cpu"]["usage"]) <= {"total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user"}
    assert shape(ours["cpu"]["usage"]).keys() >= {"kernel", "user"}
    assert ours["network_interfaces"] is None and ours["intel_rdt"] == {}


def test_update_writes_what_runc_update_writes(runc_container, cleanup, unique_id):
    runc_cg = detect.own_cgroups(runc_container["pid"])
    layout = detect.detect()
    m = ours_beside(runc_container, cleanup, unique_id)
    res = subprocess.run(runc_container["base"] + [
        "update", "--memory", str(300 << 20), "--memory-swap", str(600 << 20), "--memory-reservation",
        str(100 << 20), "--pids-limit", "77", "--cpu-quota", "30000", "--cpu-period", "60000",
        "--cpu-share", "1000", "--cpuset-cpus", "0-1", runc_container["id"]],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    m.update({"memory": {"limit": 300 << 20, "swap": 600 << 20, "reservation": 100 << 20},
              "pids": {"limit": 77}, "cpu": {"quota": 30000, "period": 60000, "shares": 1000, "cpus": "0-1"}})
    ours = m.paths()
    for ctrl, name in (("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
                       ("memory", "memory.soft_limit_in_bytes"), ("pids", "pids.max"),
                       ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"), ("cpu", "cpu.shares"),
                       ("cpuset", "cpuset.cpus")):
        theirs = os.path.join(layout.v1[ctrl].mountpoint, runc_cg[ctrl].lstrip("/"), name)
        assert read(os.path.join(ours[ctrl], name)) == read(theirs), (ctrl, name)
