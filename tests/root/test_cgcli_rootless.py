"""Rootless nsbox-runc and cgroups, through the CLI run as the unprivileged nsbox-test user:
- inside a delegated cgroup2 subtree (root chowns a directory to the user, as systemd does) the
  container gets its own cgroup there: ps, pause/resume (cgroup.freeze), kill --all, delete;
- without delegation it warns (one line per hierarchy it may not write) and runs without a cgroup
  (ps falls back to the pid namespace), and a limit it cannot set is a clear error leaving nothing.
Root only sets up the delegation and moves the user's runtime process into it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from nsbox.cgroups import detect
from tests.conftest import require
from tests.fixtures.bundles import busybox_rootfs

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))
PY = os.path.realpath("/usr/bin/python3")


def world_readable(path: str) -> bool:
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:i]) or "/").st_mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)


@pytest.fixture
def user():
    try:
        u = pwd.getpwnam("nsbox-test")
    except KeyError:
        require(False, "the nsbox-test user (tests/rootless-env setup)")
    require(world_readable(SRC), "a checkout the nsbox-test user can read")
    return u


@pytest.fixture
def workdir(user, cleanup):
    d = tempfile.mkdtemp(prefix="cgcli-rootless-")
    cleanup.add(shutil.rmtree, d, True)
    os.chmod(d, 0o755)
    busybox_rootfs(os.path.join(d, "b", "rootfs"))
    os.chown(d, user.pw_uid, user.pw_gid)
    return d


def write_bundle(d: str, user, args, resources=None) -> str:
    from nsbox.oci.defaults import default_spec
    cfg = default_spec(rootless=True)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.pw_uid, "size": 1}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.pw_gid, "size": 1}]
    if resources:
        cfg["linux"]["resources"] = resources
    bundle = os.path.join(d, "b")
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


class UserRunc:
    """nsbox-runc as the user; with ``cgroup`` set, each invocation starts inside that cgroup2 directory."""

    def __init__(self, user, root: str, cgroup: str | None = None):
        self.user, self.root, self.cgroup = user, root, cgroup

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        argv = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups",
                PY, "-m", "nsbox.cli.runc", "--root", self.root, *args]
        if self.cgroup:
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cgroup, *argv]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC, "HOME": "/tmp"}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd="/",
                                 timeout=timeout)
            out.seek(0)
            err.seek(0)
            res.stdout, res.stderr = out.read().decode(), err.read().decode()
        return res

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        res = self.run(*args)
        assert res.returncode == 0, (args, res.stderr)
        return res

    def state(self, cid: str) -> dict:
        return json.loads(self.ok("state", cid).stdout)


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_delegated_cgroup2_subtree_gives_the_container_its_own_cgroup(user, workdir, cleanup, unique_id):
    layout = detect.detect()
    require(layout.unified is not None, "a cgroup2 mount")
    deleg = os.path.join(layout.unified, f"cgcli-{unique_id}")
    os.mkdir(deleg)
    cleanup.add(lambda: os.path.isdir(deleg) and os.rmdir(deleg))
    for name in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        os.chown(os.path.join(deleg, name), user.pw_uid, user.pw_gid)
    rt = UserRunc(user, os.path.join(workdir, "state"), cgroup=deleg)
    cid = "c1"
    cleanup.add(rt.run, "delete", "-f", cid)
    bundle = write_bundle(workdir, user, ["sh", "-c", "sleep 1001 & exec sleep 1002"])
    res = rt.ok("run", "-d", "--bundle", bundle, cid)
    assert res.stderr.count("not writable rootless") == 1      # the v1 hierarchies: one warning, skipped
    mine = os.path.join(deleg, cid)
    init = rt.state(cid)["pid"]
    assert wait_for(lambda: len(json.loads(rt.ok("ps", "-f", "json", cid).stdout) or []) == 2)
    pids = json.loads(rt.ok("ps", "-f", "json", cid).stdout)
    with open(os.path.join(mine, "cgroup.procs")) as f:
        assert sorted(int(x) for x in f.read().split()) == sorted(pids) and init in pids
    rt.ok("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    with open(os.path.join(mine, "cgroup.freeze")) as f:
        assert f.read().strip() == "1"
    rt.ok("resume", cid)
    assert rt.state(cid)["status"] == "running"
    rt.ok("kill", "--all", cid, "KILL")
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt.ok("delete", cid)
    assert not os.path.exists(mine)
    assert not os.path.exists(os.path.join(workdir, "state", cid))


def test_without_delegation_warn_and_run_without_a_cgroup(user, workdir, cleanup):
    rt = UserRunc(user, os.path.join(workdir, "state"))
    cid = "c2"
    cleanup.add(rt.run, "delete", "-f", cid)
    bundle = write_bundle(workdir, user, ["sleep", "1003"])
    res = rt.ok("run", "-d", "--bundle", bundle, cid)
    assert "level=warning" in res.stderr and "Permission denied" in res.stderr
    init = rt.state(cid)["pid"]
    assert json.loads(rt.ok("ps", "-f", "json", cid).stdout) == [init]    # by the pid namespace
    res = rt.run("events", "--stats", cid)
    assert res.returncode == 1 and "no cgroup" in res.stderr
    res = rt.run("update", "--pids-limit", "5", cid)
    assert res.returncode == 1 and "no cgroup" in res.stderr
    rt.ok("kill", "--all", cid, "KILL")
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt.ok("delete", cid)


def test_without_delegation_a_limit_is_a_clear_error_leaving_nothing(user, workdir, cleanup):
    rt = UserRunc(user, os.path.join(workdir, "state"))
    cid = "c3"
    cleanup.add(rt.run, "delete", "-f", cid)
    bundle = write_bundle(workdir, user, ["sleep", "1004"], {"pids": {"limit": 10}})
    res = rt.run("run", "-d", "--bundle", bundle, cid)
    assert res.returncode == 1
    assert "pids" in res.stderr.splitlines()[-1] and "rootless" in res.stderr.splitlines()[-1], res.stderr
    assert not os.path.exists(os.path.join(workdir, "state", cid))
    out = subprocess.run(["pgrep", "-u", str(user.pw_uid), "-f", "sleep 1004"], capture_output=True, timeout=10)
    assert out.stdout == b""
