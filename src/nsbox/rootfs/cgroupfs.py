"""The OCI "cgroup" mount: the host's hierarchies, seen from the container.

Planned in the parent from the host's mountinfo (v1 hierarchies, the v2 unified mount), applied in the
child: a tmpfs at the destination and one mount per hierarchy, each a fresh cgroup mount (rooted at the
container's cgroup when it has a cgroup namespace) or, when that is not allowed (user namespace, no
cgroup namespace), a bind of the container's own cgroup directory.
"""

from __future__ import annotations

import os

from ..linux import consts as c
from ..linux.mount import mount
from .resolve import ensure_in_root, fd_path, open_in_root


def host_hierarchies(mountinfo: list[dict]) -> list[dict]:
    """v1 hierarchies, or the cgroup2 mount on a pure v2 host (a hybrid host's "unified" is left out, as
    runc does)."""
    out = []
    for m in mountinfo:
        if m["fstype"] == "cgroup":
            opts = [o for o in m["super_options"].split(",") if o not in ("rw", "ro")]
            subsystems = ",".join(o for o in opts if not o.startswith(("release_agent", "clone_children",
                                                                        "nsdelegate", "noprefix", "xattr")))
            out.append({"host": m["mountpoint"], "fstype": "cgroup", "options": subsystems,
                        "name": os.path.basename(m["mountpoint"])})
        elif m["fstype"] == "cgroup2":
            out.append({"host": m["mountpoint"], "fstype": "cgroup2", "options": None,
                        "name": os.path.basename(m["mountpoint"]) if m["mountpoint"] != "/sys/fs/cgroup" else ""})
    if any(h["fstype"] == "cgroup" for h in out):
        out = [h for h in out if h["fstype"] == "cgroup"]
    return out


def cgroup_op(target: str, flags: int, hierarchies: list[dict]) -> dict:
    return {"op": "cgroup", "target": target, "flags": flags, "hierarchies": hierarchies}


_REMEMBERED: dict[str, str] | None = None


def remember_own_paths() -> None:
    """Read our cgroup paths now, for a child forked later that is in the same v1 cgroups (stage 1 for
    stage 2): reading /proc/self/cgroup takes the kernel's cgroup_mutex, which a concurrent cgroup.procs
    write holds for a whole RCU grace period (~10 ms) -- the launcher's write of the init's unified
    cgroup, which thus overlaps stage 2's mounts instead of stalling them. Only v1 entries are used."""
    global _REMEMBERED
    _REMEMBERED = None
    _REMEMBERED = _own_paths()


def _own_paths(fresh: bool = False) -> dict[str, str]:
    """controller list (or '' for v2) -> the path of this process's cgroup in it. The remembered v1
    paths serve unless ``fresh`` (the v2 entry: the launcher moves the init there after stage 1 read it)."""
    if _REMEMBERED is not None and not fresh:
        return dict(_REMEMBERED)
    paths = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            paths[controllers] = path
    return paths


def apply_cgroup_mount(root_fd: int, op: dict, new_cgroupns: bool) -> None:
    flags = op["flags"] & (c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC | c.MS_RELATIME)
    readonly = bool(op["flags"] & c.MS_RDONLY)
    only_v2 = len(op["hierarchies"]) == 1 and op["hierarchies"][0]["fstype"] == "cgroup2" \
        and not op["hierarchies"][0]["name"]
    target = op["target"]
    fd = ensure_in_root(root_fd, target)
    try:
        if only_v2:
            if _mount_one(fd_path(fd), op["hierarchies"][0], flags | (c.MS_RDONLY if readonly else 0), new_cgroupns):
                from .apply import remount_bind
                rfd = open_in_root(root_fd, target)
                try:
                    remount_bind(fd_path(rfd), flags | (c.MS_RDONLY if readonly else 0))
                finally:
                    os.close(rfd)
            return
        mount("tmpfs", fd_path(fd), "tmpfs", flags, "mode=755")
    finally:
        os.close(fd)
    for h in op["hierarchies"]:
        sub = os.path.join(target, h["name"])
        sfd = ensure_in_root(root_fd, sub)
        try:
            bound = _mount_one(fd_path(sfd), h, flags | (c.MS_RDONLY if readonly else 0), new_cgroupns)
        finally:
            os.close(sfd)
        if bound:
            from .apply import remount_bind
            sfd = open_in_root(root_fd, sub)
            try:
                remount_bind(fd_path(sfd), flags | (c.MS_RDONLY if readonly else 0))
            finally:
                os.close(sfd)
        if h["options"] and "," in h["options"]:
            for alias in h["options"].split(","):
                try:
                    dfd = open_in_root(root_fd, target, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.symlink(h["name"], alias, dir_fd=dfd)
                    finally:
                        os.close(dfd)
                except OSError:
                    pass
    # the tmpfs itself stays writable, as runc leaves it (the hierarchies below are read-only)


def _mount_one(where: str, h: dict, flags: int, new_cgroupns: bool) -> bool:
    """A cgroup mount (False), or a bind the caller must remount with ``flags`` (True)."""
    if new_cgroupns:
        try:
            mount("cgroup", where, h["fstype"], flags, h["options"])
            return False
        except PermissionError:
            pass
        except OSError as err:
            err.filename = f"{h['host']} ({h['fstype']} {h['options'] or ''})"
            raise
    key = h["options"] or ""
    own_paths = _own_paths(fresh=not key)  # only when binding: with a new cgroupns the mount above serves
    own = own_paths.get(key, own_paths.get(key.split(",")[0], "/")) or "/"
    source = h["host"] + (own if own != "/" else "")
    try:
        mount(source, where, None, c.MS_BIND | c.MS_REC)
    except OSError as err:
        err.filename = f"{h['host']} ({h['fstype']} {h['options'] or ''})"
        raise
    return True
