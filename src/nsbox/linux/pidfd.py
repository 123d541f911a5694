"""pidfd_open(2) and pidfd_send_signal(2)."""

from __future__ import annotations

import ctypes

from ._libc import syscall


def pidfd_open(pid: int, flags: int = 0) -> int:
    return syscall("pidfd_open", ctypes.c_int(pid), ctypes.c_uint(flags), path=f"pid {pid}")


def pidfd_send_signal(pidfd: int, sig: int, pid_for_errors: int | None = None) -> None:
    syscall("pidfd_send_signal", ctypes.c_int(pidfd), ctypes.c_int(sig), None, ctypes.c_uint(0),
            path=f"pid {pid_for_errors}" if pid_for_errors is not None else None)
