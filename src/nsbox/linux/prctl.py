"""prctl(2) operations nsbox needs, each its own function."""

from __future__ import annotations

import ctypes

from . import consts
from ._libc import libc, retry

_prctl = libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0, name: str = "prctl") -> int:
    return retry(lambda: _prctl(option, arg2, arg3, arg4, arg5), name)


def set_pdeathsig(sig: int) -> None:
    prctl(consts.PR_SET_PDEATHSIG, sig, name="prctl(PR_SET_PDEATHSIG)")


def set_dumpable(dumpable: bool) -> None:
    prctl(consts.PR_SET_DUMPABLE, int(dumpable), name="prctl(PR_SET_DUMPABLE)")


def get_dumpable() -> bool:
    return bool(prctl(consts.PR_GET_DUMPABLE, name="prctl(PR_GET_DUMPABLE)"))


def set_keepcaps(keep: bool) -> None:
    prctl(consts.PR_SET_KEEPCAPS, int(keep), name="prctl(PR_SET_KEEPCAPS)")


def set_no_new_privs() -> None:
    prctl(consts.PR_SET_NO_NEW_PRIVS, 1, name="prctl(PR_SET_NO_NEW_PRIVS)")


def get_no_new_privs() -> bool:
    return bool(prctl(consts.PR_GET_NO_NEW_PRIVS, name="prctl(PR_GET_NO_NEW_PRIVS)"))


def set_child_subreaper(on: bool = True) -> None:
    prctl(consts.PR_SET_CHILD_SUBREAPER, int(on), name="prctl(PR_SET_CHILD_SUBREAPER)")


def set_name(name: str) -> None:
    buf = ctypes.create_string_buffer(name.encode()[:15])
    prctl(consts.PR_SET_NAME, ctypes.addressof(buf), name="prctl(PR_SET_NAME)")


def capbset_read(cap: int) -> bool:
    return bool(prctl(consts.PR_CAPBSET_READ, cap, name="prctl(PR_CAPBSET_READ)"))


def capbset_drop(cap: int) -> None:
    prctl(consts.PR_CAPBSET_DROP, cap, name="prctl(PR_CAPBSET_DROP)")


def ambient_raise(cap: int) -> None:
    prctl(consts.PR_CAP_AMBIENT, consts.PR_CAP_AMBIENT_RAISE, cap, name="prctl(PR_CAP_AMBIENT_RAISE)")


def ambient_clear_all() -> None:
    prctl(consts.PR_CAP_AMBIENT, consts.PR_CAP_AMBIENT_CLEAR_ALL, name="prctl(PR_CAP_AMBIENT_CLEAR_ALL)")


def get_seccomp_mode() -> int:
    return prctl(consts.PR_GET_SECCOMP, name="prctl(PR_GET_SECCOMP)")
