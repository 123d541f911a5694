"""Mounts into /proc, as runc's checkProcMount: over /proc only procfs, inside /proc only the files
lxcfs emulates. Refusals happen at create, name the mount step and the destination, leave nothing."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime, available

RUNTIMES = [name for name in ("nsbox-runc", "runc") if available(name)]


def _bundle(tmp_path, args, mounts, first=False):
    bundle = make_bundle(str(tmp_path / "bundle"), args)
    config = read_config(bundle)
    config["mounts"] = (mounts + config["mounts"]) if first else (config["mounts"] + mounts)
    write_config(bundle, config)
    return bundle


def _refused(rt, bundle, cid):
    try:
        res = rt.run("run", "-b", bundle, cid, timeout=60)
        assert res.returncode != 0, f"{rt.name} accepted: {res.stdout} {res.stderr}"
        assert rt.run("state", cid).returncode != 0, f"{rt.name} left {cid} behind"
        assert "Traceback" not in res.stderr
        return res.stderr
    finally:
        rt.force_delete(cid)


@pytest.mark.parametrize("name", RUNTIMES)
def test_bind_inside_proc_is_refused(name, tmp_path, unique_id):
    fake = tmp_path / "fake-sys"
    fake.mkdir()
    bundle = _bundle(tmp_path, ["true"], [{"destination": "/proc/sys", "type": "bind", "source": str(fake),
                                          "options": ["rbind"]}])
    err = _refused(Runtime(name, str(tmp_path / "state")), bundle, f"pm-{unique_id}")
    assert "/proc/sys" in err and "cannot be mounted because it is inside /proc" in err, err
    if name == "nsbox-runc":
        assert "mount rootfs" in err, err
    assert not os.path.exists(os.path.join(bundle, "rootfs", "proc", "sys"))


@pytest.mark.parametrize("name", RUNTIMES)
def test_bind_inside_proc_through_a_symlink_is_refused(name, tmp_path, unique_id):
    fake = tmp_path / "fake-sys"
    fake.mkdir()
    bundle = _bundle(tmp_path, ["true"], [{"destination": "/link/sys", "type": "bind", "source": str(fake),
                                          "options": ["rbind"]}])
    os.symlink("/proc", os.path.join(bundle, "rootfs", "link"))
    err = _refused(Runtime(name, str(tmp_path / "state")), bundle, f"pm-{unique_id}")
    assert "/proc/sys" in err and "cannot be mounted because it is inside /proc" in err, err
    if name == "nsbox-runc":
        assert not os.path.exists(os.path.join(bundle, "rootfs", "proc", "sys"))


@pytest.mark.parametrize("name", RUNTIMES)
def test_lxcfs_style_file_over_proc_uptime_is_allowed(name, tmp_path, unique_id):
    fake = tmp_path / "uptime"
    fake.write_text("4242.00 1.00\n")
    bundle = _bundle(tmp_path, ["cat", "/proc/uptime"],
                     [{"destination": "/proc/uptime", "type": "bind", "source": str(fake), "options": ["bind", "ro"]}])
    rt = Runtime(name, str(tmp_path / "state"))
    cid = f"pm-{unique_id}"
    try:
        res = rt.run("run", "-b", bundle, cid, timeout=60)
    finally:
        rt.force_delete(cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "4242.00 1.00", res.stdout


@pytest.mark.parametrize("name", RUNTIMES)
def test_bind_of_procfs_over_proc_is_allowed(name, tmp_path, unique_id):
    config_mounts = [{"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}]
    bundle = make_bundle(str(tmp_path / "bundle"), ["sh", "-c", "test -r /proc/self/status && echo procfs"])
    config = read_config(bundle)
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/proc"] + config_mounts
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "pid"]
    write_config(bundle, config)
    rt = Runtime(name, str(tmp_path / "state"))
    cid = f"pm-{unique_id}"
    try:
        res = rt.run("run", "-b", bundle, cid, timeout=60)
    finally:
        rt.force_delete(cid)
    assert res.returncode == 0, res.stderr
    assert "procfs" in res.stdout


def test_tmpfs_over_proc_is_refused_at_create_naming_the_mount(tmp_path, unique_id):
    """Not 'cannot start a container that has stopped' at start: the init's mount error, at create."""
    bundle = make_bundle(str(tmp_path / "bundle"), ["true"])
    config = read_config(bundle)
    config["mounts"] = [{"destination": "/proc", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}] + \
        [m for m in config["mounts"] if m["destination"] != "/proc"]
    write_config(bundle, config)
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    cid = f"pm-{unique_id}"
    try:
        res = rt.run("create", "-b", bundle, cid, timeout=60)
        assert res.returncode == 1, res.stderr
        assert "mount rootfs" in res.stderr and '"/proc"' in res.stderr and "not of type proc" in res.stderr, \
            res.stderr
        assert "has stopped" not in res.stderr
        assert rt.run("state", cid).returncode != 0
    finally:
        rt.force_delete(cid)
