"""Parent side: OCI mounts, devices and paths -> a list of small JSON-able ops the child applies.

Ops (dicts, applied in order by ``rootfs.apply``):
  {"op": "mount", target, source, fstype, flags, data, bind, rec, remount, propagation, attr_set,
   attr_clr, file}                                         one OCI mount
  {"op": "device", path, type, major, minor, mode, uid, gid}   mknod, or a bind from the host
  {"op": "symlink", path, link}                            /dev/fd -> /proc/self/fd and friends
"""

from __future__ import annotations

import os
import stat

from ..errors import SpecError
from ..linux import consts as c
from .options import parse_mount_options

DEFAULT_DEVICES = (
    # path, major, minor (all character devices, 0666)
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)

DEFAULT_SYMLINKS = (
    ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"),
)

DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _abs_source(source: str | None, bundle: str) -> str | None:
    if source and not os.path.isabs(source) and not source.startswith(("tmpfs", "proc", "sysfs")):
        candidate = os.path.join(bundle, source)
        if os.path.exists(candidate):
            return candidate
    return source


def mount_op(mount: dict, bundle: str, index: int) -> dict:
    """One OCI mount entry -> a mount op. Raises SpecError naming mounts[index]."""
    where = f"mounts[{index}]"
    target = mount.get("destination")
    if not isinstance(target, str) or not target.startswith("/"):
        raise SpecError([(f"{where}.destination", "must be an absolute path")])
    opts = parse_mount_options(mount.get("options") or [])
    if mount.get("type") == "cgroup" and not opts.bind:
        from ..proc.procfs import read_mountinfo
        from .cgroupfs import cgroup_op, host_hierarchies
        return cgroup_op(os.path.normpath(target), opts.flags, host_hierarchies(read_mountinfo()))
    fstype = mount.get("type") or ("bind" if opts.bind else None)
    bind = opts.bind or fstype == "bind"
    source = _abs_source(mount.get("source"), bundle)
    if bind:
        if not source or not os.path.exists(source):
            raise SpecError([(f"{where}.source", f"bind source {source!r} does not exist")])
    is_file = bool(bind and source and not os.path.isdir(source))
    flags = opts.flags
    remount = 0
    if bind:
        # a bind mount ignores flags on the first call: remount to apply them
        remount = flags & ~(c.MS_REMOUNT)
        flags = c.MS_BIND | (c.MS_REC if opts.recursive_bind else 0)
    return {"op": "mount", "target": os.path.normpath(target), "source": source, "fstype": None if bind else fstype,
            "flags": flags, "clear": opts.clear, "data": ",".join(opts.data) or None, "bind": bind,
            "rec": opts.recursive_bind, "remount": remount, "propagation": opts.propagation,
            "attr_set": opts.attr_set, "attr_clr": opts.attr_clr, "file": is_file}


def device_op(dev: dict, index: int) -> dict:
    where = f"linux.devices[{index}]"
    path = dev.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise SpecError([(f"{where}.path", "must be an absolute path")])
    kind = dev.get("type")
    if kind not in DEVICE_TYPES:
        raise SpecError([(f"{where}.type", f"must be one of c, b, u, p, not {kind!r}")])
    return {"op": "device", "path": os.path.normpath(path), "type": kind,
            "major": int(dev.get("major", 0)), "minor": int(dev.get("minor", 0)),
            "mode": int(dev.get("fileMode", 0o666)) & 0o7777, "uid": dev.get("uid"), "gid": dev.get("gid")}


def plan_rootfs_ops(config: dict, bundle: str) -> list[dict]:
    """Every mount, device and /dev symlink, in the order the child applies them."""
    ops: list[dict] = []
    problems: list[tuple[str, str]] = []
    for i, m in enumerate(config.get("mounts") or []):
        try:
            ops.append(mount_op(m, bundle, i))
        except SpecError as err:
            problems += err.problems
    devices = (config.get("linux") or {}).get("devices") or []
    explicit = set()
    dev_ops = []
    for i, d in enumerate(devices):
        try:
            op = device_op(d, i)
            explicit.add(op["path"])
            dev_ops.append(op)
        except SpecError as err:
            problems += err.problems
    if problems:
        raise SpecError(problems)
    for path, major, minor in DEFAULT_DEVICES:
        if path not in explicit:
            ops.append({"op": "device", "path": path, "type": "c", "major": major, "minor": minor,
                        "mode": 0o666, "uid": None, "gid": None})
    ops += dev_ops
    for path, link in DEFAULT_SYMLINKS:
        ops.append({"op": "symlink", "path": path, "link": link})
    ops.append({"op": "symlink", "path": "/dev/ptmx", "link": "pts/ptmx", "if_dir": "/dev/pts"})
    return ops


def rootfs_propagation(config: dict) -> int:
    value = (config.get("linux") or {}).get("rootfsPropagation") or ""
    from .options import PROPAGATION
    if value and value not in PROPAGATION:
        raise SpecError([("linux.rootfsPropagation", f"unknown propagation {value!r}")])
    return PROPAGATION.get(value, 0)
