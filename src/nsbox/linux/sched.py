"""unshare(2) and setns(2)."""

from __future__ import annotations

import ctypes
import os

from . import consts
from ._libc import libc, retry

_unshare = libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]


def flag_names(flags: int) -> str:
    names = [name for bit, name in consts.CLONE_FLAG_NAMES.items() if flags & bit]
    return "|".join(names) or hex(flags)


def unshare(flags: int) -> None:
    """unshare(2). Raises OSError('unshare(CLONE_NEWUSER|...)')."""
    retry(lambda: _unshare(flags), f"unshare({flag_names(flags)})")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    """setns(2) on an open namespace (or pidfd) fd; ``path`` only names it in errors."""
    retry(lambda: _setns(fd, nstype), "setns", path)


def setns_path(path: str, nstype: int = 0) -> None:
    """Open ``path`` (e.g. /proc/PID/ns/net) and setns(2) into it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        err.syscall = "open"  # type: ignore[attr-defined]
        raise
    try:
        setns(fd, nstype, path)
    finally:
        os.close(fd)
