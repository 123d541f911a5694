"""Userns tier: as an unprivileged user, a child makes a user namespace (the caller mapped to root,
plus the /etc/subuid block when the user has one), applies a security plan and execs the probe."""

import json
import os
import resource

import pytest

from nsbox.errors import SecurityError
from nsbox.linux import sched
from nsbox.linux.consts import CLONE_NEWUSER
from nsbox.ns.idmap import apply_idmap, rootless_default
from nsbox.proc.fork import reset_signals_for_exec
from nsbox.security.capabilities import DEFAULT_CAPS, names_to_mask
from nsbox.security.plan import plan_security
from nsbox.security.seccomp_default import default_profile
from tests.conftest import require, require_no_subids, require_subids
from tests.fixtures.security_child import apply_plan, run_in_child
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)

PY = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _unprivileged():
    require(os.geteuid() != 0, "an unprivileged user (this tier runs as nsbox-test / nsbox-nosub)")


def in_userns(plan, argv, cleanup):
    """Fork; the child unshares a user namespace, the parent maps it, the child applies ``plan``."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def body():
        os.close(ready_r)
        os.close(go_w)
        sched.unshare(CLONE_NEWUSER)
        os.write(ready_w, b"u")
        if os.read(go_r, 1) != b"g":
            return 3
        apply_plan(plan)
        reset_signals_for_exec()
        os.execv(argv[0], argv)

    def map_child(pid):
        os.close(ready_w)
        os.close(go_r)
        try:
            if os.read(ready_r, 1) == b"u":
                apply_idmap(pid, rootless_default())
                os.write(go_w, b"g")
        finally:
            os.close(ready_r)
            os.close(go_w)

    return run_in_child(body, cleanup=cleanup, after_fork=map_child)


def probe_in_userns(plan, probe_path, cleanup):
    code, out, err = in_userns(plan, [PY, "-S", probe_path, "uid", "gid", "groups", "caps", "seccomp",
                                      "seccomp_filters", "no_new_privs", "umask", "rlimits"], cleanup)
    assert code == 0, err.decode()
    return json.loads(out)


def test_root_in_userns_with_default_profile(probe_path, cleanup):
    caps = list(DEFAULT_CAPS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    plan = plan_security({"process": {
        "user": {"uid": 0, "gid": 0, "umask": 0o007},
        "capabilities": {"bounding": caps, "permitted": caps, "effective": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": min(soft, 100), "hard": min(hard, 200)}],
    }, "linux": {"seccomp": default_profile(caps)}}, rootless=True)
    assert plan["seccomp"]["install"] == "early"  # needs CAP_SYS_ADMIN in the user namespace: we have it
    seen = probe_in_userns(plan, probe_path, cleanup)
    assert seen["uid"] == [0, 0, 0] and seen["gid"] == [0, 0, 0]
    mask = f"{names_to_mask(caps):016x}"
    assert seen["caps"] == {"CapInh": "0" * 16, "CapPrm": mask, "CapEff": mask, "CapBnd": mask,
                            "CapAmb": "0" * 16}
    assert seen["seccomp"] == "2" and seen["seccomp_filters"] == "1" and seen["no_new_privs"] == "0"
    assert seen["umask"] == 0o007
    assert seen["rlimits"]["RLIMIT_NOFILE"] == [min(soft, 100), min(hard, 200)]


def test_mapped_user_and_groups_with_subids(probe_path, cleanup):
    require_subids()
    plan = plan_security({"process": {"user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]},
                                      "noNewPrivileges": True}}, rootless=True)
    seen = probe_in_userns(plan, probe_path, cleanup)
    assert seen["uid"] == [1000] * 3 and seen["gid"] == [1000] * 3
    assert sorted(seen["groups"]) == [5, 6]
    assert seen["no_new_privs"] == "1"
    assert seen["caps"]["CapEff"] == "0" * 16  # non-root after execve, no ambient caps


def test_additional_gids_without_setgroups_fail_clearly(probe_path, cleanup):
    require_no_subids()
    plan = plan_security({"process": {"user": {"uid": 0, "gid": 0, "additionalGids": [5]}}}, rootless=True)
    code, out, err = in_userns(plan, [PY, "-S", probe_path, "uid"], cleanup)
    assert code == 1
    assert b"user: cannot set additional gids [5]: setgroups is denied" in err


def test_raising_a_hard_limit_is_refused_before_anything_starts():
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    require(hard != resource.RLIM_INFINITY, "a finite RLIMIT_NPROC hard limit to try to raise")
    with pytest.raises(SecurityError, match="RLIMIT_NPROC: cannot raise the hard limit"):
        plan_security({"process": {"rlimits": [{"type": "RLIMIT_NPROC", "soft": soft, "hard": hard + 1}]}},
                      rootless=True)


def test_lowering_oom_score_adj_unprivileged_fails_clearly(cleanup):
    plan = plan_security({"process": {"oomScoreAdj": -500}}, rootless=True)
    code, out, err = run_in_child(lambda: apply_plan(plan), cleanup=cleanup)
    assert code == 1
    assert b"oom_score_adj: write /proc/self/oom_score_adj" in err and b"CAP_SYS_RESOURCE" in err
