"""setresuid(2)/setresgid(2)/setgroups(2) for the calling thread, each failure naming the call.

glibc's wrappers broadcast the change to every thread (nsbox forks single-threaded), so these are the
POSIX-correct calls; ``-1`` keeps a value unchanged.
"""

from __future__ import annotations

import ctypes

from ._libc import libc, retry

_setresuid = libc.setresuid
_setresuid.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint]
_setresgid = libc.setresgid
_setresgid.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint]
_setgroups = libc.setgroups
_setgroups.argtypes = [ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]

_KEEP = 0xFFFFFFFF  # (uid_t)-1


def _id(value: int) -> int:
    return _KEEP if value == -1 else value


def setresuid(ruid: int, euid: int, suid: int) -> None:
    retry(lambda: _setresuid(_id(ruid), _id(euid), _id(suid)), f"setresuid({ruid}, {euid}, {suid})")


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    retry(lambda: _setresgid(_id(rgid), _id(egid), _id(sgid)), f"setresgid({rgid}, {egid}, {sgid})")


def setgroups(gids: list[int]) -> None:
    arr = (ctypes.c_uint * max(len(gids), 1))(*gids)
    retry(lambda: _setgroups(len(gids), arr), f"setgroups({list(gids)})")
