"""capget(2)/capset(2) for the calling thread (version 3, 64-bit sets)."""

from __future__ import annotations

import ctypes
from collections import namedtuple

from ._libc import libc, retry

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_capget = libc.capget
_capget.argtypes = [ctypes.POINTER(_Header), ctypes.POINTER(_Data)]
_capset = libc.capset
_capset.argtypes = [ctypes.POINTER(_Header), ctypes.POINTER(_Data)]


class CapSets(namedtuple("CapSets", "effective permitted inheritable")):
    """Bit masks: bit N set = capability N. (A namedtuple: dataclasses costs ~15 ms to import.)"""
    __slots__ = ()


def capget(pid: int = 0) -> CapSets:
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    retry(lambda: _capget(ctypes.byref(hdr), data), "capget")
    join = lambda field: getattr(data[0], field) | (getattr(data[1], field) << 32)  # noqa: E731
    return CapSets(join("effective"), join("permitted"), join("inheritable"))


def capset(sets: CapSets) -> None:
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (sets.effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (sets.permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (sets.inheritable >> shift) & 0xFFFFFFFF
    retry(lambda: _capset(ctypes.byref(hdr), data), "capset")


def last_cap() -> int:
    """The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap)."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())
