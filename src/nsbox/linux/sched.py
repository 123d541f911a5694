"""unshare(2) and setns(2)."""

from __future__ import annotations

import ctypes
import os

from . import consts
from ..errors import syscall_error
from ._libc import libc, retry

# Python 3.12+ has both; 3.11 goes through libc with ctypes
_HAVE_OS_UNSHARE = hasattr(os, "unshare")
_HAVE_OS_SETNS = hasattr(os, "setns")
_unshare = libc.unshare
_unshare.argtypes = [ctypes.c_int]
_setns = libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]


def flag_names(flags: int) -> str:
    names = [name for bit, name in consts.CLONE_FLAG_NAMES.items() if flags & bit]
    return "|".join(names) or hex(flags)


def _os_call(fn, call: str, path: str | None = None) -> None:
    """Python's own wrapper (3.12+: os.unshare, os.setns), retried on EINTR, failures named as ours."""
    while True:
        try:
            fn()
            return
        except InterruptedError:
            continue
        except OSError as err:
            raise syscall_error(err.errno, call, path) from None


def unshare(flags: int) -> None:
    """unshare(2). Raises OSError('unshare(CLONE_NEWUSER|...)')."""
    if _HAVE_OS_UNSHARE:
        _os_call(lambda: os.unshare(flags), f"unshare({flag_names(flags)})")
    else:
        retry(lambda: _unshare(flags), f"unshare({flag_names(flags)})")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    """setns(2) on an open namespace (or pidfd) fd; ``path`` only names it in errors."""
    if _HAVE_OS_SETNS:
        _os_call(lambda: os.setns(fd, nstype), "setns", path)
    else:
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
