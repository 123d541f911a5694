"""Bad input: one clear line (or runc's JSON log line), exit 1, and nothing left behind."""

from __future__ import annotations

import json
import os

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime


@pytest.fixture
def rt(tmp_path):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


def leftovers(rt, cid, bundle):
    """Everything a failed create could leave: state dir, mounts, cgroups, processes."""
    found = []
    if os.path.exists(os.path.join(rt.root, cid)):
        found.append("state dir")
    with open("/proc/self/mountinfo") as f:
        if bundle in f.read():
            found.append("mount")
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"):
        for root, dirs, _ in os.walk(base):
            if cid in dirs:
                found.append(f"cgroup {os.path.join(root, cid)}")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/root").startswith(bundle):
                    found.append(f"process {pid}")
            except OSError:
                pass
    return found


def one_line_error(res):
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_malformed_json(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": ')
    line = one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert "config.json" in line and "JSON" in line
    assert leftovers(rt, unique_id, bundle) == []


def test_schema_violations_listed_together(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cfg = read_config(bundle)
    cfg["process"]["args"] = "not-a-list"
    cfg["process"]["cwd"] = "relative"
    write_config(bundle, cfg)
    line = one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert "process.args" in line and "process.cwd" in line
    assert leftovers(rt, unique_id, bundle) == []


def test_missing_rootfs(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cfg = read_config(bundle)
    cfg["root"]["path"] = "nope"
    write_config(bundle, cfg)
    line = one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert "root" in line and "nope" in line
    assert leftovers(rt, unique_id, bundle) == []


def test_missing_executable_fails_create(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["no-such-binary"])
    line = one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert 'exec: "no-such-binary": executable file not found in $PATH' in line
    assert leftovers(rt, unique_id, bundle) == []


def test_failing_mount_cleans_up(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cfg = read_config(bundle)
    cfg["mounts"].append({"destination": "/bad", "type": "nosuchfs", "source": "x"})
    write_config(bundle, cfg)
    line = one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert "/bad" in line and "mount" in line
    assert leftovers(rt, unique_id, bundle) == []


def test_duplicate_unknown_bad_signal_running(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    assert "does not exist" in one_line_error(rt.run("state", unique_id))
    assert "does not exist" in one_line_error(rt.run("start", unique_id))
    assert "does not exist" in one_line_error(rt.run("kill", unique_id))
    assert "does not exist" in one_line_error(rt.run("delete", unique_id))
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    assert "already exists" in one_line_error(rt.run("create", "--bundle", bundle, unique_id))
    assert rt.state(unique_id)["status"] == "created"          # the duplicate did not disturb it
    assert "signal" in one_line_error(rt.run("kill", unique_id, "SIGNOPE"))
    rt.ok("start", unique_id)
    assert "already running" in one_line_error(rt.run("start", unique_id))
    assert "invalid container id" in one_line_error(rt.run("state", "../etc"))


def test_json_log_lines(rt, tmp_path, unique_id):
    log = tmp_path / "log.json"
    res = rt.run("--log", str(log), "--log-format", "json", "state", unique_id)
    assert res.returncode == 1
    entry = json.loads(log.read_text().strip().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"] and entry["time"].endswith("Z")
    res = rt.run("--log-format", "json", "kill", unique_id)
    entry = json.loads(res.stderr.strip())
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_systemd_cgroup_is_refused(rt, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    line = one_line_error(rt.run("--systemd-cgroup", "create", "--bundle", bundle, unique_id))
    assert "systemd cgroup driver is not supported" in line
    assert leftovers(rt, unique_id, bundle) == []
