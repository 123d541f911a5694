"""The eight namespace types: their names, clone flags, /proc/PID/ns files and util-linux letters."""

from __future__ import annotations

import enum

from ..linux import consts


class NamespaceType(enum.Enum):
    # value: (name in /proc/PID/ns and lsns, CLONE_* flag, util-linux short option, long option)
    MNT = ("mnt", consts.CLONE_NEWNS, "m", "mount")
    UTS = ("uts", consts.CLONE_NEWUTS, "u", "uts")
    IPC = ("ipc", consts.CLONE_NEWIPC, "i", "ipc")
    NET = ("net", consts.CLONE_NEWNET, "n", "net")
    PID = ("pid", consts.CLONE_NEWPID, "p", "pid")
    USER = ("user", consts.CLONE_NEWUSER, "U", "user")
    CGROUP = ("cgroup", consts.CLONE_NEWCGROUP, "C", "cgroup")
    TIME = ("time", consts.CLONE_NEWTIME, "T", "time")

    @property
    def ns_name(self) -> str:
        return self.value[0]

    @property
    def clone_flag(self) -> int:
        return self.value[1]

    @property
    def short_opt(self) -> str:
        return self.value[2]

    @property
    def long_opt(self) -> str:
        return self.value[3]

    @property
    def proc_name(self) -> str:
        """The entry in /proc/PID/ns that names this process's own namespace."""
        return self.ns_name

    @property
    def for_children_name(self) -> str:
        """The entry a persistent pid/time namespace is bound from (it applies to children only)."""
        return f"{self.ns_name}_for_children" if self in (NamespaceType.PID, NamespaceType.TIME) else self.ns_name

    def proc_path(self, pid: int | str = "self") -> str:
        return f"/proc/{pid}/ns/{self.ns_name}"

    @classmethod
    def from_name(cls, name: str) -> "NamespaceType":
        """'net', 'mnt', 'mount', 'user', 'cgroup', ... (lsns -t and OCI names) to the enum."""
        key = name.strip().lower()
        aliases = {"mount": "mnt", "network": "net"}
        key = aliases.get(key, key)
        for t in cls:
            if t.ns_name == key:
                return t
        raise ValueError(f"unknown namespace type: {name}")

    @classmethod
    def from_clone_flag(cls, flag: int) -> "NamespaceType":
        for t in cls:
            if t.clone_flag == flag:
                return t
        raise ValueError(f"no namespace type has clone flag {flag:#x}")


# The order util-linux's nsenter joins in (user first when it grants privilege; mnt last so
# /proc paths of the target stay reachable while joining the others).
NSENTER_ORDER = (NamespaceType.USER, NamespaceType.CGROUP, NamespaceType.IPC, NamespaceType.UTS,
                 NamespaceType.NET, NamespaceType.PID, NamespaceType.MNT, NamespaceType.TIME)


def flags_of(types) -> int:
    flags = 0
    for t in types:
        flags |= t.clone_flag
    return flags
