"""The plan of an unshare: a frozen, JSON-serialisable description built (and checked) by the parent.

The child side (``ns.stage1``) only executes it. Everything is resolved here: namespace names,
numeric ids, absolute paths, the id map lines, the program to exec. Light on purpose (the child
imports it): stdlib + ``ns.types`` only.
"""

from __future__ import annotations

import os
from collections import namedtuple

from .types import NamespaceType

PROPAGATIONS = ("private", "shared", "slave", "unchanged")
TIME_CLOCKS = {"monotonic": 1, "boottime": 7}  # CLOCK_MONOTONIC, CLOCK_BOOTTIME
# The order namespaces are listed in (and persisted in): user first, like util-linux.
ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "mnt", "time")


# (a namedtuple, not a dataclass: importing dataclasses costs ~10 ms of every nsbox unshare start)
_FIELDS = {
    "namespaces": (), "uid_map": (), "gid_map": (), "setgroups": None, "self_map": False,
    "hostname": None, "mount_proc": None, "propagation": "private", "root": None, "cwd": None,
    "uid": None, "gid": None, "persist": None, "time_offsets": None, "keep_caps": False,
    "fork": False, "kill_signal": None, "program": None, "argv": (), "env": None,
}


class UnshareOptions(namedtuple("UnshareOptions", tuple(_FIELDS), defaults=tuple(_FIELDS.values()))):
    """What to unshare and how to set the result up.

    namespaces      ns names ("user", "mnt", ...), canonical order
    uid_map/gid_map rows [inside, outside, count] to write for a new user namespace
    setgroups       "allow" | "deny" | None (leave)
    self_map        the maps only map the caller's own ids: the unsharing process writes them itself
    persist         {ns name: absolute file} to bind-mount the namespace on (util-linux --ns=FILE)
    fork            run the program in a child (needed to be pid 1 of a new pid namespace)
    kill_signal     PR_SET_PDEATHSIG of that child (util-linux --kill-child)
    program/argv    the file execvp() looks up, and the argv it gets (argv[0] may differ: "-sh")
    persist and time_offsets are dicts (None means empty); the record itself is immutable.
    """
    __slots__ = ()

    # -- derived ------------------------------------------------------------------------------
    @property
    def flags(self) -> int:
        flags = 0
        for name in self.namespaces:
            flags |= NamespaceType.from_name(name).clone_flag
        return flags

    def has(self, name: str) -> bool:
        return name in self.namespaces

    @property
    def needs_map(self) -> bool:
        return bool(self.uid_map or self.gid_map or self.setgroups)

    @property
    def late_persist(self) -> dict:
        """pid and time namespaces are bound from *_for_children, after the first fork."""
        return {k: v for k, v in (self.persist or {}).items() if k in ("pid", "time")}

    @property
    def early_persist(self) -> dict:
        return {k: v for k, v in (self.persist or {}).items() if k not in ("pid", "time")}

    @property
    def needs_outside(self) -> bool:
        """Something must be done from outside the new namespaces (maps via newuidmap, binds)."""
        return bool(self.persist) or (self.needs_map and not self.self_map)

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_json(self) -> dict:
        return self._asdict()

    @classmethod
    def from_json(cls, obj: dict) -> "UnshareOptions":
        obj = {k: v for k, v in obj.items() if k in _FIELDS}
        for key in ("uid_map", "gid_map"):
            obj[key] = tuple(tuple(int(x) for x in row) for row in obj.get(key) or ())
        for key in ("namespaces", "argv"):
            obj[key] = tuple(obj.get(key) or ())
        return cls(**obj)

    def problems(self) -> list[str]:
        """Everything wrong with the plan (empty: fine)."""
        out = []
        for name in self.namespaces:
            if name not in ORDER:
                out.append(f"unknown namespace type {name!r}")
        if self.propagation not in PROPAGATIONS:
            out.append(f"unsupported propagation mode: {self.propagation}")
        if self.setgroups not in (None, "allow", "deny"):
            out.append(f"unsupported --setgroups argument '{self.setgroups}'")
        if (self.uid_map or self.gid_map or self.setgroups) and not self.has("user"):
            out.append("id maps need a new user namespace")
        for name, path in (self.persist or {}).items():
            if name not in self.namespaces:
                out.append(f"cannot persist {name}: it is not being unshared")
            if not os.path.isabs(path):
                out.append(f"persist path {path!r} is not absolute")
        for clock, secs in (self.time_offsets or {}).items():
            if clock not in TIME_CLOCKS:
                out.append(f"unknown clock {clock!r} (monotonic or boottime)")
            elif not isinstance(secs, int) or isinstance(secs, bool):
                out.append(f"{clock} offset must be an integer number of seconds")
        if self.time_offsets and not self.has("time"):
            out.append("options --monotonic and --boottime require unsharing of a time namespace (-T)")
        if self.hostname is not None and not self.has("uts"):
            out.append("setting a hostname needs a new uts namespace")
        if self.keep_caps and not self.has("user"):
            pass  # util-linux silently ignores it without --user
        return out


def ordered(names) -> tuple[str, ...]:
    names = set(names)
    return tuple(n for n in ORDER if n in names)
