"""Root tier: escapes attempted from a child after the plan is applied (default profile and docker's
default capabilities), each also run against a weakened plan to prove the test can see an escape."""

import ctypes
import errno
import json
import os

import pytest

from nsbox.linux import mount, sched
from nsbox.linux.consts import CLONE_NEWNS, MS_PRIVATE, MS_REC
from nsbox.security.capabilities import DEFAULT_CAPS
from nsbox.security.plan import plan_security
from nsbox.security.seccomp import syscall_number
from nsbox.security.seccomp_default import default_profile
from tests.fixtures.security_child import apply_plan, run_in_child, run_with_plan
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw(name, *args):
    ctypes.set_errno(0)
    res = _libc.syscall(ctypes.c_long(syscall_number(name)), *[ctypes.c_long(a) for a in args])
    return -ctypes.get_errno() if res == -1 else res


def strong_config(nnp: bool) -> dict:
    caps = list(DEFAULT_CAPS)
    return {"process": {"noNewPrivileges": nnp,
                        "capabilities": {"bounding": caps, "permitted": caps, "effective": caps}},
            "linux": {"seccomp": default_profile(caps)}}


def weak_config() -> dict:
    from nsbox.linux.caps import capget
    from nsbox.security.capabilities import mask_to_names
    caps = mask_to_names(capget().permitted)  # everything this root holds
    return {"process": {"capabilities": {"bounding": caps, "permitted": caps, "effective": caps}}}


def private_mount_ns():
    sched.unshare(CLONE_NEWNS)
    mount.make_propagation("/", MS_PRIVATE, recursive=True)


def attack(config, target_dir, cleanup) -> dict:
    plan = plan_security(config)
    target = ctypes.create_string_buffer(target_dir.encode())
    tmpfs = ctypes.create_string_buffer(b"tmpfs")

    def body():
        apply_plan(plan, setup=private_mount_ns)
        out = {  # in this order: after a successful unshare(CLONE_NEWUSER) mount would fail anyway
            "mount": raw("mount", ctypes.addressof(tmpfs), ctypes.addressof(target), ctypes.addressof(tmpfs), 0, 0),
            "keyctl": raw("keyctl", 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
            "ptrace_attach": raw("ptrace", 16, 0x3FFFFFFF, 0, 0),
            "bpf": raw("bpf", 5, 0, 0),
            "unshare_user": raw("unshare", 0x10000000),
        }
        os.write(1, json.dumps(out).encode())
    code, out, err = run_in_child(body, cleanup=cleanup)
    assert code == 0, err.decode()
    return json.loads(out)


@pytest.mark.parametrize("nnp", [False, True], ids=["seccomp-early", "seccomp-late"])
def test_default_profile_stops_escapes(nnp, tmp_path, cleanup):
    seen = attack(strong_config(nnp), str(tmp_path), cleanup)
    assert seen == {"unshare_user": -errno.EPERM, "keyctl": -errno.EPERM, "mount": -errno.EPERM,
                    "ptrace_attach": -errno.EPERM, "bpf": -errno.EPERM}


def test_weakened_plan_lets_the_same_attacks_through(tmp_path, cleanup):
    seen = attack(weak_config(), str(tmp_path), cleanup)
    assert seen["unshare_user"] == 0
    assert seen["keyctl"] > 0  # a keyring serial
    assert seen["mount"] == 0  # (in the child's private mount namespace)
    assert seen["ptrace_attach"] == -errno.ESRCH  # allowed; no such pid
    assert seen["bpf"] != -errno.EPERM


def test_probe_sees_the_filter_and_the_sets(probe_path, cleanup):
    from nsbox.security.capabilities import names_to_mask
    plan = plan_security(strong_config(False))
    code, out, err = run_with_plan(plan, ["/usr/bin/python3", "-S", probe_path, "caps", "seccomp",
                                          "seccomp_filters", "no_new_privs"], cleanup=cleanup)
    assert code == 0, err.decode()
    seen = json.loads(out)
    assert seen["seccomp"] == "2" and seen["seccomp_filters"] == "1" and seen["no_new_privs"] == "0"
    mask = f"{names_to_mask(DEFAULT_CAPS):016x}"
    assert seen["caps"] == {"CapInh": "0" * 16, "CapPrm": mask, "CapEff": mask, "CapBnd": mask,
                            "CapAmb": "0" * 16}
