"""Rootless with a delegated cgroup2 subtree: root delegates a directory to an unprivileged user (chown,
as systemd does for user@.service); the user's runtime then makes, uses, freezes, kills and removes
the container's cgroup inside it, while the v1 hierarchies it may not write are skipped with warnings."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

from nsbox.cgroups import detect
from tests.conftest import require

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")

SCRIPT = r'''
import json, os, signal, subprocess, sys
sys.stdin.readline()
from nsbox.cgroups.manager import for_container
out = {"uid": os.getuid()}
m = for_container({"cgroupsPath": "c1"}, "c1", rootless=True)   # relative: below our own cgroup
m.create()
out["paths"] = m.paths()
out["warnings"] = len(m.warnings)
p = subprocess.Popen(["sleep", "60"])
m.add(p.pid)
out["pids"] = m.pids() == [p.pid]
m.freeze(); out["frozen"] = m.is_frozen(); m.thaw()
m.kill_all(signal.SIGKILL)
out["killed"] = p.wait(timeout=10) == -signal.SIGKILL
m.destroy()
out["gone"] = not os.path.exists(m.paths()[""])
print(json.dumps(out))
'''


def world_readable(path: str) -> bool:
    """Every ancestor searchable by others and the path itself readable by others."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:i]) or "/").st_mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)


def test_rootless_in_a_delegated_cgroup2_subtree(cleanup, unique_id):
    layout = detect.detect()
    require(layout.unified is not None, "a cgroup2 mount")
    try:
        user = pwd.getpwnam("nsbox-test")
    except KeyError:
        require(False, "the nsbox-test user (tests/rootless-env setup)")
    require(world_readable(os.path.abspath(SRC)) and world_readable(os.path.realpath(sys.executable)),
            "a checkout and interpreter that the nsbox-test user can read")
    deleg = os.path.join(layout.unified, unique_id)
    os.mkdir(deleg)
    cleanup.add(lambda: os.path.isdir(deleg) and os.rmdir(deleg))
    for name in ("", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        os.chown(os.path.join(deleg, name), user.pw_uid, user.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.abspath(SRC), "HOME": user.pw_dir}
    p = subprocess.Popen(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                          sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd="/")
    cleanup.add(lambda: p.poll() is None and (p.kill(), p.wait(timeout=10)))
    with open(os.path.join(deleg, "cgroup.procs"), "w") as f:    # the user's session lives in the subtree
        f.write(str(p.pid))
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, err
    got = json.loads(out)
    assert got["uid"] == user.pw_uid
    assert got["paths"] == {"": os.path.join(deleg, "c1")}       # v1 hierarchies skipped (not writable)
    assert got["warnings"] >= 1 and "rootless" in err             # ... with one warning line each
    assert (got["pids"], got["frozen"], got["killed"], got["gone"]) == (True, True, True, True), (got, err)
