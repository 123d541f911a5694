"""Detection, cgroupsPath resolution, the drivers against fake cgroupfs trees, stats parsers, devices."""

from __future__ import annotations

import json
import os

import pytest

from nsbox.cgroups import devices, stats
from nsbox.cgroups.detect import CgroupLayout, V1Mount, parse_layout, parse_proc_cgroup
from nsbox.cgroups.manager import CgroupManager, clean_path, for_container, resolve_paths
from nsbox.errors import CgroupError, SpecError

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
V1_COMOUNT = """\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:8 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory
27 24 0:24 / /sys/fs/cgroup/net_cls,net_prio rw shared:10 - cgroup cgroup rw,net_cls,net_prio
28 24 0:25 / /sys/fs/cgroup/misc-named rw - cgroup cgroup rw,none,name=foo
"""


def test_detect_hybrid():
    lay = parse_layout(HYBRID_MOUNTINFO, ("hugetlb",))
    assert lay.mode == "hybrid"
    assert lay.unified == "/sys/fs/cgroup/unified" and lay.v2_controllers == ("hugetlb",)
    assert set(lay.v1) == {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                           "name=systemd"}
    assert lay.v1["cpu"].mountpoint == "/sys/fs/cgroup/cpu"


def test_detect_v2_and_v1_comounts():
    lay = parse_layout(V2_MOUNTINFO, ("cpu", "memory", "pids"))
    assert (lay.mode, lay.unified, lay.v1) == ("v2", "/sys/fs/cgroup", {})
    lay = parse_layout(V1_COMOUNT, ())
    assert lay.mode == "v1" and lay.unified is None
    assert lay.v1["cpu"] is lay.v1["cpuacct"] and lay.v1["cpu"].controllers == ("cpu", "cpuacct")
    assert lay.v1["memory"].root == "/docker/abc"
    assert "name=foo" not in lay.v1
    assert parse_layout("", ()).mode == "none"
    assert CgroupLayout.from_json(json.loads(json.dumps(lay.to_json()))) == lay


def test_parse_proc_cgroup():
    text = "12:cpu,cpuacct:/a\n4:memory:/process_api/x\n1:name=systemd:/s\n0::/user.slice/u.scope\n"
    assert parse_proc_cgroup(text) == {"cpu": "/a", "cpuacct": "/a", "memory": "/process_api/x",
                                       "name=systemd": "/s", "": "/user.slice/u.scope"}


@pytest.mark.parametrize("raw,clean", [
    ("c1", "c1"), ("a/b", "a/b"), ("../../x", "x"), ("a/../../b", "b"), ("/a/../b", "/b"),
    ("/a//b/", "/a/b"), ("./a", "a"), ("..", "."), ("", ""),
])
def test_clean_path_like_runc(raw, clean):
    assert clean_path(raw) == clean


HYBRID = parse_layout(HYBRID_MOUNTINFO, ("hugetlb",))
OWN = {"cpu": "/", "memory": "/process_api/p1", "pids": "/", "": "/sess/me"}


def test_relative_paths_are_below_our_own_cgroup():
    v1, uni = resolve_paths(HYBRID, "c1", OWN)
    assert v1["memory"] == "/sys/fs/cgroup/memory/process_api/p1/c1"
    assert v1["cpu"] == "/sys/fs/cgroup/cpu/c1"
    assert v1["name=systemd"] == "/sys/fs/cgroup/systemd/c1"
    assert uni == "/sys/fs/cgroup/unified/sess/me/c1"           # hybrid: our own cgroup2 cgroup
    v2 = parse_layout(V2_MOUNTINFO, ("memory",))
    _, uni = resolve_paths(v2, "c1", {"": "/user.slice/u.scope"})
    assert uni == "/sys/fs/cgroup/user.slice/c1"                 # pure v2: the parent of ours (runc)


def test_absolute_paths_are_below_the_mount_points():
    v1, uni = resolve_paths(HYBRID, "/machine/c1", OWN)
    assert v1["memory"] == "/sys/fs/cgroup/memory/machine/c1"
    assert uni == "/sys/fs/cgroup/unified/machine/c1"


def test_cgroup_namespace_mount_root_is_stripped():
    lay = parse_layout(V1_COMOUNT, ())
    v1, _ = resolve_paths(lay, "c1", {"memory": "/docker/abc/sub", "cpu": "/"})
    assert v1["memory"] == "/sys/fs/cgroup/memory/sub/c1"


def test_for_container_default_and_errors():
    m = for_container({"resources": {"pids": {"limit": 5}}}, "c1", layout=HYBRID, own=OWN)
    assert m.paths()["pids"] == "/sys/fs/cgroup/pids/c1"
    assert m.mode == "hybrid"
    with pytest.raises(SpecError, match=r"\$.linux.cgroupsPath"):
        for_container({"cgroupsPath": ".."}, "c1", layout=HYBRID, own=OWN)
    with pytest.raises(SpecError) as info:
        for_container({"resources": {"memory": {"limit": -5}, "cpu": {"cpus": "1-"}}}, "c1", layout=HYBRID, own=OWN)
    assert [p for p, _ in info.value.problems] == ["$.linux.resources.memory.limit", "$.linux.resources.cpu.cpus"]
    # host-dependent: no hugetlb anywhere on a pure v1 host; unified on v1; rt on v2
    v1only = parse_layout(V1_COMOUNT, ())
    with pytest.raises(CgroupError, match="hugetlb"):
        for_container({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}}, "c", layout=v1only, own={})
    with pytest.raises(CgroupError, match="cgroup v2, which is not enabled"):
        for_container({"resources": {"unified": {"memory.high": "1"}}}, "c", layout=v1only, own={})
    v2 = parse_layout(V2_MOUNTINFO, ("cpu",))
    with pytest.raises(CgroupError, match="real-time"):
        for_container({"resources": {"cpu": {"realtimeRuntime": 5}}}, "c", layout=v2, own={"": "/"})


def test_hybrid_sends_cgroup2_only_controllers_to_the_unified_dir():
    m = for_container({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
                                     "unified": {"cgroup.max.depth": "3"}, "pids": {"limit": 4}}},
                      "c1", layout=HYBRID, own=OWN)
    v1w, v2w, dev = m.plan()
    assert [(w.file, w.value) for w in v1w] == [("pids.max", "4")]
    assert [(w.file, w.value) for w in v2w] == [("hugetlb.2MB.max", "2097152"), ("hugetlb.2MB.rsvd.max", "2097152"),
                                                ("cgroup.max.depth", "3")]
    assert dev[0] == ("devices.deny", "a") and ("devices.allow", "c 1:3 rwm") in dev


def test_json_round_trip():
    m = for_container({"resources": {"pids": {"limit": 5}}}, "c1", layout=HYBRID, own=OWN)
    d = json.loads(json.dumps(m.to_json()))
    again = CgroupManager.from_json(d)
    assert again.paths() == m.paths() and again.resources == m.resources and again.mode == "hybrid"
    assert again.to_json() == d


# ---------------------------------------------------------------- fake cgroupfs trees

def fake_v1(tmp_path, files: dict[str, dict[str, str]]):
    """A v1 layout under tmp_path; files = {controller: {name: content}} made in the leaf 'c1'
    (a real cgroupfs makes them on mkdir; a plain directory cannot)."""
    v1 = {}
    for ctrl, content in files.items():
        mnt = tmp_path / ctrl
        (mnt / "c1").mkdir(parents=True)
        for name, text in content.items():
            (mnt / "c1" / name).write_text(text)
            (mnt / name).write_text(text)
        v1[ctrl] = V1Mount(str(mnt), "/", (ctrl,))
    return CgroupLayout("v1", v1, None)


def test_v1_driver_writes_into_a_fake_tree(tmp_path):
    layout = fake_v1(tmp_path, {
        "memory": {"memory.limit_in_bytes": "", "memory.memsw.limit_in_bytes": "", "memory.swappiness": "",
                   "cgroup.procs": ""},
        "cpu": {"cpu.shares": "", "cpu.cfs_quota_us": "", "cpu.cfs_period_us": "", "cgroup.procs": ""},
        "pids": {"pids.max": "", "cgroup.procs": ""},
        "blkio": {"blkio.bfq.weight": "", "cgroup.procs": ""},
    })
    (tmp_path / "cpuset").mkdir()
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    (tmp_path / "cpuset" / "c1").mkdir()
    (tmp_path / "cpuset" / "c1" / "cpuset.cpus").write_text("")
    (tmp_path / "cpuset" / "c1" / "cpuset.mems").write_text("")
    (tmp_path / "cpuset" / "c1" / "cgroup.procs").write_text("")
    layout.v1["cpuset"] = V1Mount(str(tmp_path / "cpuset"), "/", ("cpuset",))
    res = {"memory": {"limit": 1 << 20, "swap": 2 << 20, "swappiness": 0},
           "cpu": {"shares": 100, "quota": 5000, "period": 10000}, "pids": {"limit": -1},
           "blockIO": {"weight": 500}}
    m = for_container({"resources": res}, "c1", layout=layout, own={}, default_devices=False)
    m.create()

    def rd(ctrl, name):
        return (tmp_path / ctrl / "c1" / name).read_text()
    assert rd("memory", "memory.limit_in_bytes") == str(1 << 20)
    assert rd("memory", "memory.memsw.limit_in_bytes") == str(2 << 20)
    assert rd("memory", "memory.swappiness") == "0"
    assert (rd("cpu", "cpu.shares"), rd("cpu", "cpu.cfs_quota_us"), rd("cpu", "cpu.cfs_period_us")) == \
        ("100", "5000", "10000")
    assert rd("pids", "pids.max") == "max"
    assert rd("blkio", "blkio.bfq.weight") == "500"           # blkio.weight absent: BFQ's file
    assert rd("cpuset", "cpuset.cpus") == "0-3" and rd("cpuset", "cpuset.mems") == "0"   # copied down
    m.add(4242)
    assert rd("pids", "cgroup.procs") == "4242"


def test_v1_missing_file_fails_naming_it_and_removes_what_it_made(tmp_path):
    layout = fake_v1(tmp_path, {"pids": {"cgroup.procs": ""}})
    for name in os.listdir(tmp_path / "pids" / "c1"):
        os.unlink(tmp_path / "pids" / "c1" / name)
    os.rmdir(tmp_path / "pids" / "c1")
    m = for_container({"cgroupsPath": "/new/c1", "resources": {"pids": {"limit": 3}}}, "c1", layout=layout,
                      own={}, default_devices=False)
    with pytest.raises(CgroupError) as info:
        m.create()
    assert "pids.max" in str(info.value) and "$.linux.resources.pids.limit" in str(info.value)
    assert not (tmp_path / "pids" / "new").exists()           # the dirs create() made are gone


def test_v2_driver_enables_controllers_and_picks_io_weight(tmp_path):
    root = tmp_path / "unified"
    (root / "c1").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    for name in ("cpu.weight", "cpu.max", "memory.max", "memory.swap.max", "io.weight", "cgroup.procs",
                 "cgroup.freeze"):
        (root / "c1" / name).write_text("")
    layout = CgroupLayout("v2", {}, str(root), "/", ("cpu", "io", "memory", "pids"))
    res = {"cpu": {"shares": 1024, "quota": 50000}, "memory": {"limit": 1000, "swap": 3000},
           "blockIO": {"weight": 100}}
    m = for_container({"resources": res}, "c1", layout=layout, own={"": "/"}, default_devices=False)
    m.create()

    def rd(name):
        return (root / "c1" / name).read_text()
    assert (rd("cpu.weight"), rd("cpu.max")) == ("39", "50000")
    assert (rd("memory.max"), rd("memory.swap.max")) == ("1000", "2000")
    assert rd("io.weight") == "910"                             # no io.bfq.weight here: converted
    # the last controller enabled in the parent (a plain file keeps only the last write)
    assert (root / "cgroup.subtree_control").read_text().startswith("+")
    m.add(99)
    assert rd("cgroup.procs") == "99"


def test_v2_missing_controller_is_an_error(tmp_path):
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu\n")
    (root / "cgroup.subtree_control").write_text("")
    layout = CgroupLayout("v2", {}, str(root), "/", ("cpu",))
    m = for_container({"resources": {"pids": {"limit": 3}}}, "c1", layout=layout, own={"": "/"},
                      default_devices=False)
    with pytest.raises(CgroupError, match="pids controller is not available"):
        m.create()
    assert not (root / "c1").exists()


# ---------------------------------------------------------------- stats parsers

def test_v2_stats_parsers(tmp_path):
    d = tmp_path
    (d / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\n"
                                "nr_throttled 2\nthrottled_usec 30\n")
    (d / "memory.current").write_text("4096\n")
    (d / "memory.max").write_text("max\n")
    (d / "memory.stat").write_text("anon 100\nfile 200\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "io.stat").write_text("254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
    (d / "pids.current").write_text("3\n")
    (d / "pids.max").write_text("max\n")
    assert stats.v2_cpu(str(d)) == {"usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
                                    "throttling": {"periods": 7, "throttledPeriods": 2, "throttledTime": 30000}}
    mem = stats.v2_memory(str(d))
    assert mem["usage"] == {"limit": 2**64 - 1, "usage": 4096, "failcnt": 3}
    assert mem["cache"] == 200 and mem["raw"] == {"anon": 100, "file": 200}
    assert stats.v2_io(str(d)) == {
        "ioServiceBytesRecursive": [{"major": 254, "op": "Read", "value": 100},
                                    {"major": 254, "op": "Write", "value": 200}],
        "ioServicedRecursive": [{"major": 254, "op": "Read", "value": 1}, {"major": 254, "op": "Write", "value": 2}]}
    assert stats.pids_stats(str(d)) == {"current": 3}


def test_v1_blkio_throttle_stats(tmp_path):
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text(
        "254:0 Read 4096\n254:0 Write 0\n254:0 Total 4096\nTotal 4096\n")
    (tmp_path / "blkio.throttle.io_serviced_recursive").write_text("254:0 Read 1\nTotal 1\n")
    got = stats.v1_blkio(str(tmp_path))
    assert got["ioServiceBytesRecursive"][0] == {"major": 254, "op": "Read", "value": 4096}
    assert got["ioServiceBytesRecursive"][1] == {"major": 254, "op": "Write"}   # omitempty like runc
    assert got["ioServicedRecursive"] == [{"major": 254, "op": "Read", "value": 1}]


def test_hugepage_size_names(tmp_path):
    for n in ("hugepages-2048kB", "hugepages-1048576kB", "hugepages-64kB"):
        (tmp_path / n).mkdir()
    assert stats.hugepage_sizes(str(tmp_path)) == ["1GB", "2MB", "64KB"]


# ---------------------------------------------------------------- devices

def test_v1_device_lines():
    rules = devices.container_rules([{"allow": False, "access": "rwm"},
                                     {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "mr"},
                                     {"allow": True, "type": "c", "major": 1, "minor": -1}], default_rules=False)
    assert devices.v1_writes(rules) == [("devices.deny", "a"), ("devices.deny", "a"),
                                        ("devices.allow", "b 8:0 rm"), ("devices.allow", "c 1:* rwm")]
    with_defaults = devices.v1_writes(devices.container_rules([]))
    assert ("devices.allow", "c 136:* rwm") in with_defaults and ("devices.allow", "c *:* m") in with_defaults
    assert len(devices.DEFAULT_RULES) == 11


def test_effective_device_state_follows_the_kernel():
    allow_all, ex = devices.effective([{"allow": False, "access": "rwm"},
                                       {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "r"},
                                       {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "w"},
                                       {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                                       {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rw"}])
    assert not allow_all
    assert ex == [{"type": "c", "major": 1, "minor": 7, "access": "rw", "allow": True},
                  {"type": "c", "major": 1, "minor": 3, "access": "m", "allow": True}]
    allow_all, ex = devices.effective([{"allow": True}, {"allow": False, "type": "b", "access": "w"}])
    assert allow_all and ex == [{"type": "b", "major": None, "minor": None, "access": "w", "allow": False}]
    # an "a" rule that is not everything becomes c + b (the kernel reads any "a" line as everything)
    assert devices.v1_writes([{"allow": True, "type": "a", "access": "m"}])[1:] == [
        ("devices.allow", "c *:* m"), ("devices.allow", "b *:* m")]


def test_device_filter_program_shape():
    import struct
    from nsbox.cgroups.devfilter import EXIT, compile_rules
    code = compile_rules([{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}])
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    # prelude (6) + one exception: type, major, minor, mov/and + access jump, verdict, exit (8) + default (2)
    assert len(insns) == 16
    assert insns[-1][0] == EXIT and insns[-2] == (0xB7, 0, 0, 0)          # default: deny
    assert insns[-4] == (0xB7, 0, 0, 1)                                   # the exception allows
    for i, (op, _, off, _) in enumerate(insns):
        if op in (0x56, 0x5E, 0x16):
            assert i + 1 + off == len(insns) - 2                          # "next" = the default verdict
    everything = compile_rules([{"allow": True, "access": "rwm"}])
    assert len(everything) // 8 == 8 and struct.unpack("<BBhi", everything[-16:-8]) == (0xB7, 0, 0, 1)


def test_oom_watcher_counts_memory_events(tmp_path):
    from nsbox.cgroups.oom import OomWatcher
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    fd = os.open(events, os.O_RDONLY)
    with OomWatcher(fd, str(events), "oom_kill", False) as w:
        assert w.count() == 0 and w.wait(timeout=0.05) is False
        events.write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
        assert w.wait(timeout=0.05) is True and w.count() == 1
        assert w.wait(timeout=0.05) is False          # already reported
