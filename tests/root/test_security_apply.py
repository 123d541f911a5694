"""Root tier: apply security plans in a forked child and observe the result with the probe."""

import json
import os

import pytest

from nsbox.errors import SecurityError, SpecError
from nsbox.security.capabilities import names_to_mask
from nsbox.security.plan import plan_security
from tests.fixtures.security_child import run_with_plan
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)

PY = "/usr/bin/python3"


def probe(plan, probe_path, cleanup, *keys):
    code, out, err = run_with_plan(plan, [PY, "-S", probe_path, *keys], cleanup=cleanup)
    assert code == 0, err.decode()
    return json.loads(out)


def caps_hex(names):
    return f"{names_to_mask(names):016x}"


def test_user_caps_nnp_umask_rlimits(probe_path, cleanup):
    keep = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    plan = plan_security({"process": {
        "user": {"uid": 1234, "gid": 2345, "additionalGids": [7, 8], "umask": 0o027},
        "capabilities": {"bounding": keep, "permitted": keep, "effective": keep,
                         "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "noNewPrivileges": True,
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                    {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}],
        "oomScoreAdj": 500,
    }})
    seen = probe(plan, probe_path, cleanup)
    assert seen["uid"] == [1234] * 3 and seen["gid"] == [2345] * 3
    assert sorted(seen["groups"]) == [7, 8]
    assert seen["umask"] == 0o027
    assert seen["no_new_privs"] == "1"
    # After execve as non-root: permitted/effective = ambient (file caps none), bounding as set.
    assert seen["caps"]["CapBnd"] == caps_hex(keep)
    assert seen["caps"]["CapInh"] == caps_hex(["CAP_KILL"])
    assert seen["caps"]["CapAmb"] == caps_hex(["CAP_KILL"])
    assert seen["caps"]["CapPrm"] == caps_hex(["CAP_KILL"])
    assert seen["caps"]["CapEff"] == caps_hex(["CAP_KILL"])
    assert seen["rlimits"]["RLIMIT_NOFILE"] == [512, 1024]
    assert seen["rlimits"]["RLIMIT_CORE"] == [0, 0]
    assert seen["oom_score_adj"] == "500"
    assert seen["seccomp"] == "0"


def test_root_keeps_exactly_the_spec_sets(probe_path, cleanup):
    keep = ["CAP_CHOWN", "CAP_SETUID", "CAP_SYS_CHROOT"]
    plan = plan_security({"process": {"capabilities": {"bounding": keep, "permitted": keep,
                                                       "effective": keep}}})
    seen = probe(plan, probe_path, cleanup, "caps", "uid", "groups", "no_new_privs", "umask")
    assert seen["uid"] == [0, 0, 0] and seen["groups"] == []
    assert seen["caps"] == {"CapInh": "0" * 16, "CapPrm": caps_hex(keep), "CapEff": caps_hex(keep),
                            "CapBnd": caps_hex(keep), "CapAmb": "0" * 16}
    assert seen["no_new_privs"] == "0"
    assert seen["umask"] == 0o022  # runc's default


def test_raising_hard_rlimit_without_cap_sys_resource_is_refused_clearly():
    import resource
    from nsbox.linux.caps import capget
    if capget().effective >> 24 & 1:
        pytest.skip("this root has CAP_SYS_RESOURCE; the refusal cannot be observed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with pytest.raises(SecurityError, match="RLIMIT_NOFILE.*CAP_SYS_RESOURCE"):
        plan_security({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard + 1}]}})


def test_child_side_rlimit_failure_names_the_limit(cleanup):
    import resource
    from nsbox.linux.caps import capget
    from tests.fixtures.security_child import run_in_child, apply_plan
    if capget().effective >> 24 & 1:
        pytest.skip("this root has CAP_SYS_RESOURCE; the refusal cannot be observed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    plan = plan_security({"process": {}})
    plan["rlimits"] = [{"type": "RLIMIT_NOFILE", "resource": 7, "soft": soft, "hard": hard + 1}]
    code, out, err = run_in_child(lambda: apply_plan(plan), cleanup=cleanup)
    assert code == 1
    assert b"rlimits: prlimit(RLIMIT_NOFILE)" in err and b"CAP_SYS_RESOURCE" in err


def test_new_session_keyring(cleanup):
    from nsbox.linux import keyring
    from tests.fixtures.security_child import run_in_child, apply_plan

    def report(plan):
        def body():
            apply_plan(plan)
            os.write(1, keyring.describe(keyring.KEY_SPEC_SESSION_KEYRING).encode())
        code, out, err = run_in_child(body, cleanup=cleanup)
        assert code == 0, err
        return out.decode().split(";")

    parent = keyring.describe(keyring.KEY_SPEC_SESSION_KEYRING).split(";")
    fresh = report(plan_security({"process": {}}, container_id="kr-test"))
    assert fresh[0] == "keyring" and fresh[4] == "_ses.kr-test"
    assert int(fresh[3], 16) & 0x00080000  # user may search it (runc's permission fix-up)
    kept = report(plan_security({"process": {}}, new_keyring=False))
    assert kept == parent


def test_spec_error_before_anything_runs():
    with pytest.raises(SpecError) as info:
        plan_security({"process": {"capabilities": {"bounding": ["CAP_FOO"]}}})
    assert '$.process.capabilities.bounding[0]: unknown capability \'CAP_FOO\'' in str(info.value)


def test_exec_plan_in_a_child(probe_path, cleanup):
    """`exec`: its own user and capabilities from process.json, the container's seccomp and NNP."""
    from nsbox.security.plan import plan_exec_security
    from nsbox.security.seccomp_default import default_profile
    caps = ["CAP_CHOWN", "CAP_KILL"]
    base = plan_security({"process": {"noNewPrivileges": True,
                                      "capabilities": {"bounding": caps, "permitted": caps, "effective": caps}},
                          "linux": {"seccomp": default_profile(caps)}}, container_id="c-exec")
    plan = plan_exec_security({"user": {"uid": 33, "gid": 33, "additionalGids": [4]}, "args": ["x"], "cwd": "/",
                               "capabilities": {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                                                "effective": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                                                "ambient": ["CAP_KILL"]}}, base)
    seen = probe(plan, probe_path, cleanup, "uid", "gid", "groups", "caps", "no_new_privs", "seccomp",
                 "seccomp_filters")
    assert seen["uid"] == [33] * 3 and seen["gid"] == [33] * 3 and seen["groups"] == [4]
    kill = caps_hex(["CAP_KILL"])
    assert seen["caps"] == {"CapInh": kill, "CapPrm": kill, "CapEff": kill, "CapBnd": kill, "CapAmb": kill}
    assert seen["no_new_privs"] == "1" and seen["seccomp"] == "2" and seen["seccomp_filters"] == "1"
