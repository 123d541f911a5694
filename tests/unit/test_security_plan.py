"""Unit: security plans from OCI configs, every problem reported with its JSON path."""

import json

import pytest

from nsbox.errors import SpecError, Unsupported
from nsbox.security import capabilities as capmod
from nsbox.security.capabilities import cap_name, cap_number, names_to_mask, parse_cap_list
from nsbox.security.plan import describe, plan_exec_security, plan_security
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)


def problems_of(config, **kw):
    with pytest.raises(SpecError) as info:
        plan_security(config, **kw)
    return dict(info.value.problems), str(info.value)


def test_cap_names_and_numbers():
    assert cap_number("CAP_SYS_ADMIN") == 21 and cap_number("sys_admin") == 21
    assert cap_name(0) == "CAP_CHOWN" and cap_name(40) == "CAP_CHECKPOINT_RESTORE"
    with pytest.raises(KeyError, match="CAP_FOO"):
        cap_number("CAP_FOO")
    assert parse_cap_list(["CAP_CHOWN", "CAP_KILL"], "$.x") == (1 << 0) | (1 << 5)


def test_parse_cap_list_collects_every_unknown_name():
    with pytest.raises(SpecError) as info:
        parse_cap_list(["CAP_CHOWN", "CAP_FOO", 3, "cap_kill"], "$.process.capabilities.bounding")
    assert info.value.problems == [
        ("$.process.capabilities.bounding[1]", "unknown capability 'CAP_FOO'"),
        ("$.process.capabilities.bounding[2]", "capability must be a string, not 3"),
        ("$.process.capabilities.bounding[3]", "unknown capability 'cap_kill'"),
    ]


def test_caps_beyond_the_kernel_are_ignored_with_a_warning():
    warnings = []
    mask = parse_cap_list(["CAP_CHOWN", "CAP_BPF"], "$.b", last_cap=38, warnings=warnings)
    assert mask == 1
    assert warnings and "CAP_BPF" in warnings[0] and "$.b[1]" in warnings[0]


def test_plan_reads_every_process_field():
    keep = ["CAP_CHOWN", "CAP_KILL"]
    plan = plan_security({"process": {
        "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6, 5], "umask": 0o077},
        "capabilities": {"bounding": keep, "permitted": keep, "effective": ["CAP_KILL"],
                         "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "noNewPrivileges": True,
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
        "oomScoreAdj": 100,
    }}, container_id="abc")
    assert plan["user"] == {"uid": 1000, "gid": 100, "additional_gids": [5, 6], "umask": 0o077}
    assert plan["capabilities"]["bounding"] == names_to_mask(keep)
    assert plan["capabilities"]["effective"] == names_to_mask(["CAP_KILL"])
    assert plan["no_new_privs"] is True
    assert plan["rlimits"] == [{"type": "RLIMIT_NOFILE", "resource": 7, "soft": 10, "hard": 20}]
    assert plan["oom_score_adj"] == 100
    assert plan["keyring_name"] == "_ses.abc" and plan["new_keyring"] is True
    assert plan["seccomp"] is None
    assert json.loads(json.dumps(plan)) == plan  # crosses the channel as data
    assert describe(plan)["capabilities"]["ambient"] == ["CAP_KILL"]


def test_defaults_without_process_fields():
    plan = plan_security({})
    assert plan["user"] == {"uid": 0, "gid": 0, "additional_gids": [], "umask": 0o022}
    assert plan["capabilities"] is None and plan["no_new_privs"] is False
    assert plan["rlimits"] == [] and plan["oom_score_adj"] is None


def test_every_problem_is_collected_with_its_path():
    probs, text = problems_of({"process": {
        "user": {"uid": -1, "gid": "x", "additionalGids": [1, True], "umask": 0o1777},
        "capabilities": {"bounding": ["CAP_FOO"], "effective": ["CAP_CHOWN"], "sideways": []},
        "noNewPrivileges": "yes",
        "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1},
                    {"type": "RLIMIT_NOFILE", "soft": 5, "hard": 4},
                    {"type": "RLIMIT_CORE", "soft": -1, "hard": 1},
                    {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}],
        "oomScoreAdj": 5000,
    }})
    assert "unknown capability 'CAP_FOO'" in probs["$.process.capabilities.bounding[0]"]
    assert "permitted" in probs["$.process.capabilities.effective"]
    assert "$.process.capabilities.sideways" in probs
    assert "$.process.user.uid" in probs and "$.process.user.gid" in probs
    assert "$.process.user.additionalGids[1]" in probs and "$.process.user.umask" in probs
    assert "$.process.noNewPrivileges" in probs
    assert "unknown rlimit type 'RLIMIT_BOGUS'" in probs["$.process.rlimits[0].type"]
    assert "soft limit 5 is above hard limit 4" in probs["$.process.rlimits[1]"]
    assert "$.process.rlimits[2].soft" in probs
    assert "duplicate rlimit type RLIMIT_NOFILE" in probs["$.process.rlimits[3].type"]
    assert "$.process.oomScoreAdj" in probs
    assert text.startswith("config.json: ") and "problems" in text


def test_ambient_outside_permitted_and_inheritable_is_dropped_silently():
    # runc's own default spec does this: ambient caps without inheritable ones; runc raises none and
    # says nothing (the runtime logs plan warnings: this one would be on every default container).
    plan = plan_security({"process": {"capabilities": {
        "bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]}}})
    assert plan["capabilities"]["ambient"] == 0
    assert not any("CAP_KILL" in w for w in plan["warnings"])


def test_lsm_requests_fail_clearly_when_not_enabled(monkeypatch):
    from nsbox.security import plan as planmod
    monkeypatch.setattr(planmod, "lsm_enabled", lambda name: False)
    with pytest.raises(Unsupported, match="AppArmor is not enabled"):
        plan_security({"process": {"apparmorProfile": "docker-default"}})
    with pytest.raises(Unsupported, match="SELinux is not enabled"):
        plan_security({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}})


def test_exec_plan_inherits_seccomp_and_takes_its_own_process_fields():
    base = plan_security({"process": {"noNewPrivileges": True,
                                      "capabilities": {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"]}},
                          "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}}},
                         container_id="c1")
    assert base["seccomp"]["install"] == "late"
    ex = plan_exec_security({"user": {"uid": 5, "gid": 6}, "args": ["sh"], "cwd": "/"}, base)
    assert ex["user"]["uid"] == 5 and ex["seccomp"]["bpf"] == base["seccomp"]["bpf"]
    assert ex["capabilities"] == base["capabilities"] and ex["no_new_privs"] is True
    assert ex["oom_score_adj"] is None
    ex2 = plan_exec_security({"user": {"uid": 0, "gid": 0}, "noNewPrivileges": False,
                              "capabilities": {"bounding": []}}, base)
    assert ex2["no_new_privs"] is False and ex2["seccomp"]["install"] == "early"
    assert ex2["capabilities"]["bounding"] == 0
    with pytest.raises(SpecError) as info:
        plan_exec_security({"capabilities": {"effective": ["CAP_NOPE"]}}, base)
    assert info.value.source == "process.json"
    assert "$.process.capabilities.effective[0]" in dict(info.value.problems)


def test_kernel_last_cap_matches_proc():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert capmod.kernel_last_cap() == int(f.read())
