"""keyctl(2) operations for session keyrings (no libkeyutils: the raw syscall via glibc's syscall())."""

from __future__ import annotations

import ctypes
import os

from ..errors import syscall_error
from ._libc import libc, retry

KEYCTL_DESCRIBE = 6
KEYCTL_SETPERM = 5
KEYCTL_JOIN_SESSION_KEYRING = 1
KEY_SPEC_SESSION_KEYRING = -3

_NR_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)  # platform.machine(), without platform

_syscall = libc.syscall
_syscall.restype = ctypes.c_long


def _keyctl(call: str, *args) -> int:
    if _NR_KEYCTL is None:
        import errno
        raise syscall_error(errno.ENOSYS, call)
    return retry(lambda: _syscall(ctypes.c_long(_NR_KEYCTL), *args), call)


def join_session_keyring(name: str | None) -> int:
    """Create and join a new session keyring (anonymous when ``name`` is None); return its serial."""
    arg = ctypes.c_char_p(name.encode()) if name else ctypes.c_char_p(None)
    return _keyctl(f"keyctl(KEYCTL_JOIN_SESSION_KEYRING, {name or '<anonymous>'})",
                   ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), arg)


def describe(serial: int) -> str:
    """'type;uid;gid;perm;description' of a key."""
    buf = ctypes.create_string_buffer(512)
    n = _keyctl("keyctl(KEYCTL_DESCRIBE)", ctypes.c_long(KEYCTL_DESCRIBE), ctypes.c_long(serial),
                buf, ctypes.c_long(len(buf)))
    return buf.raw[:max(n - 1, 0)].decode(errors="replace")


def setperm(serial: int, perm: int) -> None:
    _keyctl("keyctl(KEYCTL_SETPERM)", ctypes.c_long(KEYCTL_SETPERM), ctypes.c_long(serial),
            ctypes.c_ulong(perm))
