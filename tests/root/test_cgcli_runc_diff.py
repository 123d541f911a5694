"""Differential through the command line: the same config.json resources and the same `update`
arguments given to runc and to nsbox-runc write the same values to the cgroup files of each
container (read back from both), and the same input is refused by both."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import require_tool
from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime
from tests.root.test_cgroups_runc_diff import COMPARED, RESOURCES

UPDATES = [
    ["--memory", "80M", "--memory-swap", "160M", "--memory-reservation", "40M"],
    ["--cpu-share", "256", "--cpu-quota", "30000", "--cpu-period", "200000", "--pids-limit", "33"],
    ["--cpu-quota", "45000"],                       # the period stays
    ["--cpuset-cpus", "0-1", "--pids-limit", "-1"],
    ["--memory", "300M", "--memory-swap", "600M"],  # raising above the old memory+swap total
    ["--memory-swap", "-1"],
    ["--kernel-memory", "10M"],                     # accepted and ignored
]
RESOURCE_FILES = [
    {"memory": {"limit": 120 << 20, "swap": 240 << 20}, "cpu": {"shares": 1024}},
    {"pids": {"limit": 12}, "cpu": {"quota": -1}},
]
REFUSED = [
    ["--memory", "-5"], ["--cpu-share", "-1"], ["--cpuset-cpus", "99"], ["--l3-cache-schema", "L3:0=f"],
]


@pytest.fixture
def pair(tmp_path, unique_id, cleanup):
    """One container per runtime from the same bundle (only cgroupsPath differs)."""
    require_tool("runc")
    out = {}
    for name in ("runc", "nsbox-runc"):
        bundle = make_bundle(str(tmp_path / name / "b"), ["sleep", "100"])
        cfg = read_config(bundle)
        cfg["linux"]["resources"] = json.loads(json.dumps(RESOURCES))
        cfg["linux"]["cgroupsPath"] = f"/cgcli-diff-{name}-{unique_id}"
        write_config(bundle, cfg)
        rt = Runtime(name, str(tmp_path / name / "root"))
        cid = f"cgcli-{unique_id}"
        cleanup.add(rt.force_delete, cid)
        rt.ok("run", "-d", "--bundle", bundle, cid)
        out[name] = (rt, cid, cfg["linux"]["cgroupsPath"])
    return out


def files_of(cgroups_path: str) -> dict:
    values = {}
    for ctrl, names in COMPARED.items():
        d = os.path.join("/sys/fs/cgroup", ctrl, cgroups_path.lstrip("/"))
        if not os.path.isdir(d):
            continue
        for name in names:
            path = os.path.join(d, name)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                text = f.read()
            if name == "memory.oom_control":
                text = text.splitlines()[0]
            if name == "devices.list":
                text = "\n".join(sorted(text.splitlines()))
            values[f"{ctrl}/{name}"] = text
    return values


def same_files(pair) -> int:
    theirs, ours = files_of(pair["runc"][2]), files_of(pair["nsbox-runc"][2])
    assert ours == theirs
    return len(ours)


def test_create_and_update_write_what_runc_writes(pair, tmp_path):
    assert same_files(pair) >= 15
    for argv in UPDATES:
        for rt, cid, _ in pair.values():
            rt.ok("update", *argv, cid)
        same_files(pair)
    for i, doc in enumerate(RESOURCE_FILES):
        path = tmp_path / f"res{i}.json"
        path.write_text(json.dumps(doc))
        for rt, cid, _ in pair.values():
            rt.ok("update", "-r", str(path), cid)
        same_files(pair)
    # and the stats both report afterwards agree on the limits
    stats = {name: json.loads(rt.ok("events", "--stats", cid).stdout)["data"] for name, (rt, cid, _) in pair.items()}
    for key in ("usage", "swap"):
        assert stats["nsbox-runc"]["memory"][key]["limit"] == stats["runc"]["memory"][key]["limit"]
    assert stats["nsbox-runc"]["pids"] == stats["runc"]["pids"]


def test_both_refuse_the_same_input_and_change_nothing(pair):
    before = files_of(pair["nsbox-runc"][2])
    for argv in REFUSED:
        codes = {name: rt.run("update", *argv, cid).returncode for name, (rt, cid, _) in pair.items()}
        assert codes == {"runc": 1, "nsbox-runc": 1}, argv
    assert files_of(pair["nsbox-runc"][2]) == before
    same_files(pair)
