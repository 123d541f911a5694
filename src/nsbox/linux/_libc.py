"""The one place that loads libc and turns a C failure into an OSError naming the call.

Only modules under ``nsbox.linux`` import this.
"""

from __future__ import annotations

import ctypes
import errno
import os

from ..errors import syscall_error

libc = ctypes.CDLL(None, use_errno=True)

_c_syscall = libc.syscall
_c_syscall.restype = ctypes.c_long

# Syscall numbers that glibc 2.36 has no wrapper for (or only a recent one).
_MACHINE = os.uname().machine  # not platform.machine(): importing platform costs ~3 ms
_NUMBERS = {
    "x86_64": {"pivot_root": 155, "setns": 308, "unshare": 272},
    "aarch64": {"pivot_root": 41, "setns": 268, "unshare": 97},
}.get(_MACHINE, {})
# The "unified" numbers, the same on every architecture since Linux 5.1.
_NUMBERS.update({
    "pidfd_send_signal": 424, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "close_range": 436, "openat2": 437, "pidfd_getfd": 438, "mount_setattr": 442,
})


def check(result: int, call: str, path: str | None = None, path2: str | None = None) -> int:
    """Raise OSError(call, path) when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        exc = syscall_error(err, call, path)
        if path2 is not None:
            exc.filename2 = path2
        raise exc
    return result


def retry(fn, call: str, path: str | None = None, path2: str | None = None) -> int:
    """Run ``fn()`` (a libc call), retrying on EINTR; raise OSError(call, path) on failure."""
    while True:
        result = fn()
        if result != -1:
            return result
        err = ctypes.get_errno()
        if err == errno.EINTR:
            continue
        exc = syscall_error(err, call, path)
        if path2 is not None:
            exc.filename2 = path2
        raise exc


def syscall(name: str, *args, path: str | None = None, path2: str | None = None) -> int:
    """Invoke a raw syscall by name (numbers above), with EINTR retry and named errors."""
    try:
        number = _NUMBERS[name]
    except KeyError:
        raise syscall_error(errno.ENOSYS, name, path) from None
    return retry(lambda: _c_syscall(ctypes.c_long(number), *args), name, path, path2)


def fsencode(path: str | bytes | os.PathLike | None) -> bytes | None:
    return None if path is None else os.fsencode(path)
