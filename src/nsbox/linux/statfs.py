"""statfs(2): which filesystem a path is on (f_type, e.g. PROC_SUPER_MAGIC)."""

from __future__ import annotations

import ctypes

from ._libc import libc, retry

PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
TMPFS_MAGIC = 0x01021994

_STATFS_SIZE = 256  # struct statfs is 120 bytes on 64-bit Linux; f_type (a long) comes first


def fs_type(path: str) -> int:
    """statfs(path).f_type. Raises OSError naming statfs and the path."""
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    retry(lambda: libc.statfs(path.encode(), buf), "statfs", path)
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
