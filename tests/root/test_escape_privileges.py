"""Privileges a container must not have: syscalls under the default seccomp profile, the exact
capability sets, and no_new_privs against a setuid binary.

Each strong case is also run weakened (every capability, no seccomp, every device, no
no_new_privs) and must then see the privilege, so a broken detector cannot pass silently.
"""

import errno
import os
import shutil

import pytest

from tests.fixtures.escape_bundles import (PROBE, attack_args, cap_mask, default_seccomp,  # noqa: F401
                                         host_caps, make_bundle, runc_default_spec, runtime, weaken)
from nsbox.security.capabilities import DEFAULT_CAPS

CAP_SETS = {
    "runc-default": lambda: list(runc_default_spec()["process"]["capabilities"]["bounding"]),
    "docker-default": lambda: list(DEFAULT_CAPS),  # holds CAP_MKNOD: the devices cgroup must stop mknod
}
DENIED = (-errno.EPERM, -errno.EACCES)


def host_disk() -> str:
    """MAJOR:MINOR of a host block device that host root can open: loop0. (The root disk itself
    is closed even to host root on this machine, so it could not show the weakened escape.)"""
    return "7:0"


def set_caps(config: dict, caps: list[str]) -> None:
    config["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}


@pytest.mark.parametrize("caps", sorted(CAP_SETS))
def test_default_profile_denies_privileged_syscalls(runtime, tmp_path, unique_id, caps):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("syscalls.py", host_disk()))
    cap_list = CAP_SETS[caps]()
    set_caps(bundle.config, cap_list)
    bundle.config["linux"]["seccomp"] = default_seccomp(cap_list)
    seen = runtime.run_json(bundle, unique_id)
    # creating the node is allowed with CAP_MKNOD (runc's default device rules include "b *:* m");
    # opening the host's disk through it is the escape, and must fail
    if seen.pop("mknod_block") == 0:
        assert seen["open_block"] in DENIED, f"{runtime.name} ({caps}): opened the host disk: {seen}"
    seen.pop("open_block")
    allowed = {name: rc for name, rc in seen.items() if rc not in DENIED}
    assert not allowed, f"{runtime.name} ({caps}): allowed {allowed}; all: {seen}"


def test_syscalls_go_through_when_weakened(runtime, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("syscalls.py", host_disk()))
    weaken(bundle.config)
    seen = runtime.run_json(bundle, unique_id)
    assert seen["mknod_block"] == 0 and seen["open_block"] == 0 and seen["mount"] == 0, seen
    assert seen["ptrace_attach_pid1"] == 0 and seen["unshare_user"] == 0, seen
    assert seen["keyctl"] > 0, seen  # a keyring serial


def caps_of(report: dict) -> dict[str, int]:
    return {k: int(v, 16) for k, v in report["caps"].items()}


def expected_caps(config: dict) -> dict[str, int]:
    """What capabilities(7) leaves after the runtime's capset and the payload's execve (a file
    without file capabilities). Ambient holds only what is also permitted and inheritable (a raise
    of anything else fails). uid 0: P' = bounding | inheritable, cut down to the old permitted set
    under no_new_privs, plus ambient; E' = P'. Other uids: P' = E' = ambient."""
    proc = config["process"]
    caps = proc.get("capabilities", {})
    bnd, inh, amb, prm = (cap_mask(caps.get(k)) for k in ("bounding", "inheritable", "ambient", "permitted"))
    amb &= inh & prm
    if proc["user"].get("uid", 0) == 0:
        new = bnd | inh
        if proc.get("noNewPrivileges"):
            new &= prm
        new |= amb
    else:
        new = amb
    return {"CapBnd": bnd, "CapInh": inh, "CapAmb": amb, "CapPrm": new, "CapEff": new}


CAP_CONFIGS = {
    "runc-default-root": (0, None),
    "custom-root": (0, {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
                        "permitted": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN"],
                        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}),
    "custom-root-no-nnp": (0, {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
                               "permitted": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN"],
                               "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}),
    "ambient-user": (1000, {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
                            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                            "ambient": ["CAP_NET_BIND_SERVICE"]}),
}


@pytest.mark.parametrize("name", sorted(CAP_CONFIGS))
def test_capabilities_exactly_as_configured(runtime, tmp_path, unique_id, name):
    uid, caps = CAP_CONFIGS[name]
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("probe.py", "caps", "no_new_privs"))
    bundle.process["user"] = {"uid": uid, "gid": uid}
    if caps is not None:
        bundle.process["capabilities"] = caps
    bundle.process["noNewPrivileges"] = not name.endswith("no-nnp")
    seen = caps_of(runtime.run_json(bundle, unique_id))
    want = expected_caps(bundle.config)
    assert seen == want, f"{runtime.name}: {({k: hex(v) for k, v in seen.items()})} != " \
                         f"{({k: hex(v) for k, v in want.items()})}"


def test_caps_detector_sees_extra_caps_when_weakened(runtime, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("probe.py", "caps"))
    strong = expected_caps(bundle.config)
    weaken(bundle.config)
    seen = caps_of(runtime.run_json(bundle, unique_id))
    assert seen["CapEff"] & ~strong["CapEff"], seen
    assert seen["CapEff"] == cap_mask(host_caps()), seen


def suid_bundle(tmp_path):
    """uid 1000 in a rootfs holding a root-owned setuid copy of python3 (a copy, never a hard link:
    chmod u+s must not touch the host's binary)."""
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("suid_gain.py", "/suid/python3"))
    os.makedirs(os.path.join(bundle.rootfs, "suid"))
    target = os.path.join(bundle.rootfs, "suid", "python3")
    shutil.copyfile(os.path.realpath("/usr/bin/python3"), target)
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    return bundle


def test_no_new_privs_stops_setuid(runtime, tmp_path, unique_id):
    bundle = suid_bundle(tmp_path)
    assert bundle.process["noNewPrivileges"] is True
    seen = runtime.run_json(bundle, unique_id)
    assert seen["no_new_privs"] == "1", seen
    assert seen["after"] == "(1000, 1000, 1000)", seen


def test_setuid_gains_root_when_weakened(runtime, tmp_path, unique_id):
    bundle = suid_bundle(tmp_path)
    bundle.process["noNewPrivileges"] = False
    seen = runtime.run_json(bundle, unique_id)
    assert seen["no_new_privs"] == "0", seen
    assert seen["after"] == "(1000, 0, 0)", seen
