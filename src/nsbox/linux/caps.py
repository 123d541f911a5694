"""capget(2)/capset(2) for the calling thread (version 3, 64-bit sets)."""

from __future__ import annotations

import ctypes
from _collections import _tuplegetter  # what namedtuple's fields are, without collections

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


class CapSets(tuple):
    """Bit masks: bit N set = capability N. The namedtuple CapSets(effective, permitted, inheritable),
    written out: collections (and dataclasses even more) cost milliseconds of every start."""
    __slots__ = ()
    _fields = ("effective", "permitted", "inheritable")

    def __new__(cls, effective, permitted, inheritable):
        return tuple.__new__(cls, (effective, permitted, inheritable))

    effective = _tuplegetter(0, "Alias for field number 0")
    permitted = _tuplegetter(1, "Alias for field number 1")
    inheritable = _tuplegetter(2, "Alias for field number 2")

    def __repr__(self):
        return f"CapSets(effective={self[0]!r}, permitted={self[1]!r}, inheritable={self[2]!r})"

    def __getnewargs__(self):
        return tuple(self)

    def _asdict(self) -> dict:
        return dict(zip(self._fields, self))

    def _replace(self, **changes) -> "CapSets":
        values = {**self._asdict(), **changes}
        if len(values) != 3:
            raise ValueError(f"Got unexpected field names: {sorted(set(changes) - set(self._fields))!r}")
        return CapSets(**values)


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
