"""`nsbox run` confines like runc/docker by default: runc's default capabilities and the default seccomp
profile (security.seccomp_default), observed from inside: Seccomp: 2, unshare(CLONE_NEWUSER) and keyctl
denied with EPERM, only the default capabilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")

INSIDE = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(fn):
    ctypes.set_errno(0)
    rc = fn()
    return 0 if rc >= 0 else ctypes.get_errno()
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
nr_keyctl = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
print(json.dumps({
    "seccomp": status["Seccomp"].strip(),
    "cap_eff": int(status["CapEff"].strip(), 16), "cap_bnd": int(status["CapBnd"].strip(), 16),
    "unshare_user": call(lambda: libc.unshare(0x10000000)),
    "keyctl": call(lambda: libc.syscall(nr_keyctl, 0, -3, 0)),
    "getpid": call(lambda: libc.getpid()),
}))
"""

# CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29): `runc spec`'s set
RUNC_DEFAULT_CAPS = (1 << 5) | (1 << 10) | (1 << 29)


def test_box_run_has_default_seccomp_and_runc_default_caps():
    res = subprocess.run([NSBOX, "run", "--", "/usr/bin/python3", "-S", "-c", INSIDE], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    assert seen["getpid"] == 0  # an allowed call still works
    assert seen["cap_eff"] == RUNC_DEFAULT_CAPS and seen["cap_bnd"] == RUNC_DEFAULT_CAPS, seen
    assert seen["seccomp"] == "2", seen
    assert seen["unshare_user"] == 1 and seen["keyctl"] == 1, seen  # EPERM from the filter
