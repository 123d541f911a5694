"""The nsfs ioctls: NS_GET_USERNS, NS_GET_PARENT, NS_GET_NSTYPE, NS_GET_OWNER_UID."""

from __future__ import annotations

import ctypes

from . import consts
from ._libc import libc, retry

_ioctl = libc.ioctl
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


def get_userns(fd: int, path: str | None = None) -> int:
    """An fd for the user namespace owning the namespace ``fd`` (EPERM at the top of what we may see)."""
    return retry(lambda: _ioctl(fd, consts.NS_GET_USERNS, None), "ioctl(NS_GET_USERNS)", path)


def get_parent(fd: int, path: str | None = None) -> int:
    """An fd for the parent of a pid or user namespace."""
    return retry(lambda: _ioctl(fd, consts.NS_GET_PARENT, None), "ioctl(NS_GET_PARENT)", path)


def get_nstype(fd: int, path: str | None = None) -> int:
    """The CLONE_NEW* flag of the namespace ``fd``."""
    return retry(lambda: _ioctl(fd, consts.NS_GET_NSTYPE, None), "ioctl(NS_GET_NSTYPE)", path)


def get_owner_uid(fd: int, path: str | None = None) -> int:
    """The uid (in the caller's user namespace) that created the user namespace ``fd``."""
    uid = ctypes.c_uint32()
    retry(lambda: _ioctl(fd, consts.NS_GET_OWNER_UID, ctypes.addressof(uid)), "ioctl(NS_GET_OWNER_UID)", path)
    return uid.value
