"""Differential (root): for one config, the probe inside `runc run` and the probe after nsbox's
apply path (forked child, plan applied, execve) report the same capability sets, no_new_privs,
seccomp mode and filter count, ids, groups, umask, rlimits and oom_score_adj."""

import copy
import json
import os
import shutil
import subprocess

import pytest

from nsbox.security.plan import plan_security
from nsbox.security.seccomp_default import default_profile
from tests.conftest import require_tool
from tests.fixtures.security_child import run_with_plan
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)

PY = "/usr/bin/python3"
KEYS = ["caps", "no_new_privs", "seccomp", "seccomp_filters", "uid", "gid", "groups", "umask", "rlimits",
        "oom_score_adj"]


def runc_bundle(path, probe_path):
    """A bundle from `runc spec`: the host's /usr bound read-only, the probe at /probe."""
    os.makedirs(path)
    subprocess.run(["runc", "spec", "--bundle", path], check=True, timeout=30)
    root = os.path.join(path, "rootfs")
    for d in ("proc", "sys", "dev", "tmp", "usr", "probe", "etc"):
        os.makedirs(os.path.join(root, d))
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink("/" + link):
            os.symlink(os.readlink("/" + link), os.path.join(root, link))
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["process"]["terminal"] = False
    config["process"]["args"] = [PY, "-S", "/probe/probe.py", *KEYS]
    config["root"]["readonly"] = False
    config["mounts"] += [
        {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
        {"destination": "/probe", "type": "bind", "source": os.path.dirname(probe_path),
         "options": ["rbind", "ro"]},
    ]
    return config


def run_runc(bundle, config, cid, cleanup):
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    cleanup.add(lambda: subprocess.run(["runc", "delete", "-f", cid], capture_output=True, timeout=30))
    res = subprocess.run(["runc", "run", "--bundle", bundle, cid], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def run_nsbox(config, probe_path, cleanup):
    plan = plan_security(config)
    code, out, err = run_with_plan(plan, [PY, "-S", probe_path, *KEYS], cleanup=cleanup)
    assert code == 0, err.decode()
    return json.loads(out)


CASES = {
    "runc-default-spec": lambda p: p,
    "user-caps-seccomp-early": lambda p: dict(p, user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20],
                                                       "umask": 0o077},
                                              capabilities={"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETPCAP"],
                                                            "permitted": ["CAP_CHOWN", "CAP_KILL"],
                                                            "effective": ["CAP_KILL"],
                                                            "inheritable": ["CAP_KILL"],
                                                            "ambient": ["CAP_KILL"]},
                                              noNewPrivileges=False, oomScoreAdj=300,
                                              rlimits=[{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                                                       {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]),
    "root-default-seccomp-late": lambda p: dict(p, noNewPrivileges=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_observations_as_runc(case, tmp_path, probe_path, unique_id, cleanup):
    require_tool("runc")
    bundle = str(tmp_path / "bundle")
    config = runc_bundle(bundle, probe_path)
    config["process"] = CASES[case](config["process"])
    if case != "runc-default-spec":
        config["linux"]["seccomp"] = default_profile()
    theirs = run_runc(bundle, copy.deepcopy(config), f"sec-{unique_id}", cleanup)
    ours = run_nsbox(config, probe_path, cleanup)
    assert ours == theirs
    if case != "runc-default-spec":
        assert ours["seccomp"] == "2" and ours["seccomp_filters"] == "1"
