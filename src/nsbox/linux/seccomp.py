"""seccomp(2): install a classic-BPF filter given as bytes (an array of struct sock_filter).

No policy here: nsbox.security.seccomp compiles OCI profiles to these bytes in the parent.
"""

from __future__ import annotations

import ctypes
import errno
import os

from ..errors import syscall_error
from ._libc import libc, retry

SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3

SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": SECCOMP_FILTER_FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": SECCOMP_FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_NEW_LISTENER": SECCOMP_FILTER_FLAG_NEW_LISTENER,
    "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

SOCK_FILTER_SIZE = 8  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }

_NR_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine)  # platform.machine(), without platform

_syscall = libc.syscall
_syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def set_mode_filter(bpf: bytes, flags: int = 0) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). Returns the listener fd with NEW_LISTENER, else 0.

    Needs no_new_privs or CAP_SYS_ADMIN in the caller's user namespace (the kernel says EACCES).
    """
    call = f"seccomp(SECCOMP_SET_MODE_FILTER, flags={flags:#x})"
    if _NR_SECCOMP is None:
        raise syscall_error(errno.ENOSYS, call)
    if not bpf or len(bpf) % SOCK_FILTER_SIZE:
        raise syscall_error(errno.EINVAL, call)
    buf = ctypes.create_string_buffer(bytes(bpf), len(bpf))
    prog = _SockFprog(len(bpf) // SOCK_FILTER_SIZE, ctypes.addressof(buf))
    return retry(lambda: _syscall(ctypes.c_long(_NR_SECCOMP), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                                  ctypes.c_ulong(flags), ctypes.byref(prog)), call)


def action_available(action: int) -> bool:
    """seccomp(SECCOMP_GET_ACTION_AVAIL): does the running kernel know this SECCOMP_RET_* action?"""
    if _NR_SECCOMP is None:
        return False
    value = ctypes.c_uint32(action)
    res = _syscall(ctypes.c_long(_NR_SECCOMP), ctypes.c_long(SECCOMP_GET_ACTION_AVAIL), ctypes.c_ulong(0),
                   ctypes.byref(value))
    return res == 0
