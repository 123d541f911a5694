"""prlimit(2): read or set one resource limit of a process (0 = the caller)."""

from __future__ import annotations

import ctypes

from ._libc import libc, retry

RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF


class _Rlimit(ctypes.Structure):
    _fields_ = [("rlim_cur", ctypes.c_uint64), ("rlim_max", ctypes.c_uint64)]


_prlimit = libc.prlimit
_prlimit.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Rlimit), ctypes.POINTER(_Rlimit)]


def prlimit(pid: int, resource: int, new: tuple[int, int] | None = None, *,
            name: str | None = None) -> tuple[int, int]:
    """Set (soft, hard) when ``new`` is given; return the previous (soft, hard).

    ``name`` (e.g. "RLIMIT_NOFILE") is put in the error so a failure says which limit.
    """
    old = _Rlimit()
    new_struct = _Rlimit(*new) if new is not None else None
    call = f"prlimit({name or resource})"
    retry(lambda: _prlimit(pid, resource, ctypes.byref(new_struct) if new_struct is not None else None,
                           ctypes.byref(old)), call)
    return old.rlim_cur, old.rlim_max
