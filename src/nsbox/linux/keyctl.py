"""keyctl(2): KEYCTL_JOIN_SESSION_KEYRING (a fresh session keyring per container)."""

from __future__ import annotations

import ctypes

from ._libc import _MACHINE, fsencode, libc, retry

KEYCTL_JOIN_SESSION_KEYRING = 1
_syscall = libc.syscall
_syscall.restype = ctypes.c_long
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}


def join_session_keyring(name: str | None) -> int:
    number = _SYS_KEYCTL.get(_MACHINE, 250)
    raw = fsencode(name)
    return retry(lambda: _syscall(ctypes.c_long(number), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING),
                                  ctypes.c_char_p(raw)), "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")
