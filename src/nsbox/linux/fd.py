"""File-descriptor level calls: close_range(2), openat2(2)."""

from __future__ import annotations

import ctypes
import os

from ._libc import fsencode, syscall


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    syscall("close_range", ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags))


def close_fds_except(keep: set[int] | frozenset[int], first: int = 3) -> None:
    """Close every fd >= first that is not in ``keep`` (close_range, falling back to /proc/self/fd)."""
    fds = sorted(fd for fd in keep if fd >= first)
    start = first
    try:
        for fd in fds:
            if fd > start:
                close_range(start, fd - 1)
            start = fd + 1
        close_range(start)
    except OSError:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd >= first and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under RESOLVE_* rules."""
    how = OpenHow(flags, mode, resolve)
    return syscall("openat2", ctypes.c_int(dirfd), ctypes.c_char_p(fsencode(path)), ctypes.byref(how),
                   ctypes.c_size_t(ctypes.sizeof(how)), path=path)
