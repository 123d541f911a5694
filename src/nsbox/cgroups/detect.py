"""Which cgroup hierarchies this host has: v1, v2 (unified) or hybrid, and which controllers where.

Read from /proc/self/mountinfo (pure parsers take text so tests can feed captured copies).

    mode "v2":     one cgroup2 mount (usually /sys/fs/cgroup); controllers from its cgroup.controllers
    mode "v1":     one cgroup (v1) mount per controller set (cpu,cpuacct co-mounted or not), no cgroup2
    mode "hybrid": v1 controller mounts plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified) that holds
                   only the controllers no v1 hierarchy has bound (often none)
"""

from __future__ import annotations

import os
from ..proc.procfs import parse_mountinfo

# Named (controller-less) v1 hierarchies we ignore, except name=systemd which runc joins too.
V1_KNOWN = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
            "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd")


class V1Mount:
    """A v1 hierarchy's mount: mountpoint, root (the mount's root inside the hierarchy, "/" unless a
    cgroup namespace or a bind of a sub-cgroup), controllers (("cpu", "cpuacct") for a co-mount)."""

    __slots__ = ("mountpoint", "root", "controllers")

    def __init__(self, mountpoint: str, root: str, controllers: tuple[str, ...]):
        self.mountpoint, self.root, self.controllers = mountpoint, root, tuple(controllers)

    def _key(self):
        return (self.mountpoint, self.root, self.controllers)

    def __eq__(self, other) -> bool:
        return isinstance(other, V1Mount) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"V1Mount{self._key()!r}"


class CgroupLayout:
    """mode ("v1", "v2", "hybrid", "none"); v1: controller -> V1Mount; unified: the cgroup2 mountpoint;
    unified_root: its root inside the hierarchy; v2_controllers: the cgroup2 root's cgroup.controllers.
    (Plain classes: no dataclasses import on the runtime's start-up path.)"""

    __slots__ = ("mode", "v1", "unified", "unified_root", "v2_controllers")

    def __init__(self, mode: str, v1: dict[str, V1Mount] | None = None, unified: str | None = None,
                 unified_root: str = "/", v2_controllers: tuple[str, ...] = ()):
        self.mode = mode
        self.v1 = dict(v1 or {})
        self.unified = unified
        self.unified_root = unified_root
        self.v2_controllers = tuple(v2_controllers)

    def __eq__(self, other) -> bool:
        return isinstance(other, CgroupLayout) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"CgroupLayout({self.to_json()!r})"

    def to_json(self) -> dict:
        return {"mode": self.mode, "unified": self.unified, "unified_root": self.unified_root,
                "v2_controllers": list(self.v2_controllers),
                "v1": {c: {"mountpoint": m.mountpoint, "root": m.root, "controllers": list(m.controllers)}
                       for c, m in self.v1.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "CgroupLayout":
        return cls(mode=d["mode"], unified=d.get("unified"), unified_root=d.get("unified_root", "/"),
                   v2_controllers=tuple(d.get("v2_controllers", ())),
                   v1={c: V1Mount(m["mountpoint"], m["root"], tuple(m["controllers"]))
                       for c, m in d.get("v1", {}).items()})


def parse_layout(mountinfo_text: str, v2_controllers: tuple[str, ...] | None = None) -> CgroupLayout:
    """The layout described by a mountinfo text. ``v2_controllers`` (if known) is kept as is; otherwise
    the cgroup2 mount's cgroup.controllers is read when it exists."""
    v1: dict[str, V1Mount] = {}
    unified = None
    unified_root = "/"
    for m in parse_mountinfo(mountinfo_text):
        if m["fstype"] == "cgroup2":
            if unified is None:
                unified, unified_root = m["mountpoint"], m["root"]
        elif m["fstype"] == "cgroup":
            opts = m["super_options"].split(",")
            ctrls = tuple(o for o in opts if o in V1_KNOWN)
            if not ctrls:
                continue
            mount = V1Mount(m["mountpoint"], m["root"], ctrls)
            for c in ctrls:
                v1.setdefault(c, mount)
    if v2_controllers is None:
        v2_controllers = ()
        if unified:
            try:
                with open(os.path.join(unified, "cgroup.controllers")) as f:
                    v2_controllers = tuple(f.read().split())
            except OSError:
                pass
    real_v1 = [c for c in v1 if c != "name=systemd"]
    if real_v1:
        mode = "hybrid" if unified else "v1"
    elif unified:
        mode = "v2"
        v1 = {}
    else:
        mode = "none"
    return CgroupLayout(mode, v1, unified, unified_root, tuple(v2_controllers))


_cached: CgroupLayout | None = None


def detect(refresh: bool = False) -> CgroupLayout:
    """The layout of this process's mount namespace (cached)."""
    global _cached
    if _cached is None or refresh:
        with open("/proc/self/mountinfo") as f:
            _cached = parse_layout(f.read())
    return _cached


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup as {controller: path}; "" is the v2 (unified) entry, "name=systemd" kept."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if not ctrls:
            out[""] = path
            continue
        for c in ctrls.split(","):
            out[c] = path
    return out


def own_cgroups(pid: int | str = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return parse_proc_cgroup(f.read())
