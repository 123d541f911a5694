"""pause/resume, kill --all, --no-pivot, rootfsPropagation, startContainer hooks, a launcher that dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.probe_bundle import probe_bundle, run_probe
from tests.fixtures.runtimes import Runtime
from tests.fixtures.procs import proc_state


@pytest.fixture
def rt(tmp_path):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_pause_resume_and_kill_all(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "sleep 100 & sleep 100 & wait"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("run", "-d", "--bundle", bundle, unique_id)
    assert wait_for(lambda: len(json.loads(rt.ok("ps", "-f", "json", unique_id).stdout)) == 3)
    pids = json.loads(rt.ok("ps", "-f", "json", unique_id).stdout)
    rt.ok("pause", unique_id)
    assert rt.state(unique_id)["status"] == "paused"
    assert wait_for(lambda: all(proc_state(p) in ("D", "S", "T") for p in pids))
    res = rt.run("delete", unique_id)
    assert res.returncode == 1 and "paused" in res.stderr
    rt.ok("resume", unique_id)
    assert rt.state(unique_id)["status"] == "running"
    rt.ok("kill", "--all", unique_id, "KILL")
    assert wait_for(lambda: all(proc_state(p) in (None, "Z") for p in pids))
    assert wait_for(lambda: rt.state(unique_id)["status"] == "stopped")
    rt.ok("delete", unique_id)


def test_delete_force_paused(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("run", "-d", "--bundle", bundle, unique_id)
    pid = rt.state(unique_id)["pid"]
    rt.ok("pause", unique_id)
    rt.ok("delete", "-f", unique_id)
    assert wait_for(lambda: proc_state(pid) in (None, "Z"))
    assert rt.run("state", unique_id).returncode == 1


def test_no_pivot(rt, tmp_path, unique_id, cleanup):
    bundle = probe_bundle(str(tmp_path / "b"), ["mountinfo", "cwd"])
    cleanup.add(rt.force_delete, unique_id)
    seen = run_probe(rt, bundle, unique_id, "--no-pivot")
    roots = [line.split()[4] for line in seen["mountinfo"].splitlines()]
    assert "/proc" in roots and "/usr" in roots and seen["cwd"] == "/"


def test_rootfs_propagation_shared(rt, tmp_path, unique_id, cleanup):
    bundle = probe_bundle(str(tmp_path / "b"), ["mountinfo"],
                          lambda c: c["linux"].update(rootfsPropagation="rshared"))
    cleanup.add(rt.force_delete, unique_id)
    seen = run_probe(rt, bundle, unique_id)
    root_line = next(line for line in seen["mountinfo"].splitlines() if line.split()[4] == "/")
    assert "shared:" in root_line


def test_start_container_and_poststart_hooks(rt, tmp_path, unique_id, cleanup):
    out = tmp_path / "out"
    out.mkdir()

    def edit(c):
        # startContainer runs inside the container (its paths are the container's): write to /tmp there,
        # which the payload then prints
        c["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start.json"]}],
                      "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/poststart.json"]}]}
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        c["process"]["args"] = ["/bin/cat", "/tmp/start.json"]
    bundle = probe_bundle(str(tmp_path / "b"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["id"] == unique_id
    assert json.loads((out / "poststart.json").read_text())["status"] == "running"


def test_hook_timeout(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cfg = read_config(bundle)
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    write_config(bundle, cfg)
    cleanup.add(rt.force_delete, unique_id)
    t0 = time.monotonic()
    res = rt.run("create", "--bundle", bundle, unique_id)
    assert res.returncode == 1 and "timed out" in res.stderr
    assert time.monotonic() - t0 < 10
    assert not os.path.exists(os.path.join(rt.root, unique_id))


def test_dead_launcher_leaves_no_half_built_container(rt, tmp_path, unique_id, cleanup):
    marker = tmp_path / "hook-started"
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cfg = read_config(bundle)
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}; exec sleep 30"]}]}
    write_config(bundle, cfg)
    cleanup.add(rt.force_delete, unique_id)
    proc = subprocess.Popen(rt.argv("create", "--bundle", bundle, unique_id), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cleanup.kill(proc.pid)
    assert wait_for(marker.exists, 10)
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout.split()
    inits = [int(p) for p in subprocess.run(["pgrep", "-f", f"nsbox-runc --root {rt.root} create"],
                                            capture_output=True, text=True).stdout.split() if int(p) != proc.pid]
    assert inits, "the container's init (a fork of the launcher) should exist while the hook runs"
    proc.kill()
    proc.wait()
    for hook_pid in children:
        try:
            os.kill(int(hook_pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    # stage 2 (waiting for the launcher to finish the hooks) notices the launcher is gone and exits
    assert wait_for(lambda: all(proc_state(p) in (None, "Z") for p in inits), 10), inits
    # the provisional state lets delete -f clean up what the dead launcher built (its cgroup)
    assert rt.state(unique_id)["status"] == "stopped"
    rt.ok("delete", "-f", unique_id)
    leftover = [root for root, dirs, _ in os.walk("/sys/fs/cgroup/pids") if unique_id in dirs]
    assert leftover == [] and not os.path.exists(os.path.join(rt.root, unique_id))
