"""Child side: apply the planned rootfs ops, pivot into the new root, mask and protect paths.

Runs inside the new mount namespace (stage 2); stdlib + L0 only; nothing here imports after the pivot.
"""

from __future__ import annotations

import os
import stat

from ..errors import InitFailed
from ..linux import consts as c
from ..linux.mount import mount, mount_setattr, pivot_root, umount
from ..linux.statfs import PROC_SUPER_MAGIC, fs_type
from .cgroupfs import apply_cgroup_mount
from .resolve import ensure_in_root, fd_path, open_in_root

# statvfs f_flag bits -> mount flags, to keep locked flags when remounting (user namespaces)
_ST_TO_MS = ((os.ST_RDONLY, c.MS_RDONLY), (os.ST_NOSUID, c.MS_NOSUID), (os.ST_NODEV, c.MS_NODEV),
             (os.ST_NOEXEC, c.MS_NOEXEC), (os.ST_NOATIME, c.MS_NOATIME),
             (os.ST_NODIRATIME, c.MS_NODIRATIME), (os.ST_RELATIME, c.MS_RELATIME))


def current_mount_flags(path: str) -> int:
    flags = 0
    st_flags = os.statvfs(path).f_flag
    for st, ms in _ST_TO_MS:
        if st_flags & st:
            flags |= ms
    return flags


def remount_bind(path: str, add: int, clear: int = 0) -> None:
    """Remount a bind mount with extra flags, keeping the flags already set (locked in a userns)."""
    flags = (current_mount_flags(path) | add) & ~clear
    mount(None, path, None, c.MS_BIND | c.MS_REMOUNT | flags)


def prepare_root(root: str, propagation: int, readonly: bool = False, source: str | None = None) -> None:
    """Stop mount events leaking to the host, then make the rootfs a mount point of its own.

    With a read-only root, mounts already below the rootfs (a host "/" has many) are made read-only
    recursively now; the top stays writable until the end so mount points can still be created."""
    mount(None, "/", None, (propagation or (c.MS_SLAVE | c.MS_REC)))
    mount(source or root, root, None, c.MS_BIND | c.MS_REC)
    if readonly:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            mount_setattr(fd, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, attr_set=c.MOUNT_ATTR_RDONLY)
            mount_setattr(fd, "", c.AT_EMPTY_PATH, attr_clr=c.MOUNT_ATTR_RDONLY)
        finally:
            os.close(fd)


# runc's checkProcMount: under /proc only these files (the ones lxcfs emulates) may be mounted over
PROC_MOUNT_ALLOWED = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                      "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev")


def _is_procfs(source) -> bool:
    try:
        return bool(source) and fs_type(source) == PROC_SUPER_MAGIC
    except OSError:
        return False


def check_proc_mount(op: dict, dest: str) -> None:
    """As runc: over /proc only a procfs (a proc mount, or a bind of one); inside /proc nothing but
    PROC_MOUNT_ALLOWED. ``dest`` is the destination inside the rootfs (symlinks resolved)."""
    if op["fstype"] in ("proc", "sysfs") and not op["bind"]:
        return  # runc mounts these without the check
    dest = os.path.normpath("/" + dest.lstrip("/"))
    if dest == "/proc":
        if _is_procfs(op["source"]):
            return
        reason = "it is not of type proc"
    elif dest.startswith("/proc/") and dest not in PROC_MOUNT_ALLOWED:
        reason = "it is inside /proc"
    else:
        return
    source = op["source"] or op["fstype"]
    raise InitFailed("mount rootfs", f'mounting "{source}" at "{dest}": "{dest}" cannot be mounted because {reason}',
                     "mount", dest, 1)


def _dest_in_root(root_fd: int, target_fd: int) -> str:
    root = os.readlink(fd_path(root_fd))
    return "/" + os.path.relpath(os.readlink(fd_path(target_fd)), root)


def apply_mount(root_fd: int, op: dict) -> None:
    check_proc_mount(op, op["target"])  # before anything is created in the rootfs
    parent_fd = ensure_in_root(root_fd, os.path.dirname(op["target"].rstrip("/")) or "/")
    try:  # the parent through symlinks (/link -> /proc), before the target itself is created
        check_proc_mount(op, os.path.join(_dest_in_root(root_fd, parent_fd), os.path.basename(op["target"])))
    finally:
        os.close(parent_fd)
    target_fd = ensure_in_root(root_fd, op["target"], is_file=op["file"])
    try:
        check_proc_mount(op, _dest_in_root(root_fd, target_fd))  # and through symlinks
        where = fd_path(target_fd)
        if op["bind"]:
            mount(op["source"], where, None, op["flags"])
            # re-open: the fd still points at the covered directory
            os.close(target_fd)
            target_fd = open_in_root(root_fd, op["target"])
            where = fd_path(target_fd)
            if op["remount"] or op["clear"]:
                remount_bind(where, op["remount"], op["clear"])
        else:
            mount(op["source"] or op["fstype"] or "none", where, op["fstype"], op["flags"], op["data"])
            os.close(target_fd)
            target_fd = open_in_root(root_fd, op["target"])
            where = fd_path(target_fd)
        for prop in op["propagation"]:
            mount(None, where, None, prop)
        if op["attr_set"] or op["attr_clr"]:
            mount_setattr(target_fd, "", c.AT_EMPTY_PATH | c.AT_RECURSIVE, op["attr_set"], op["attr_clr"])
    except OSError as err:
        if getattr(err, "filename", None) and str(err.filename).startswith("/proc/self/fd/"):
            err.filename = op["target"]
        raise
    finally:
        os.close(target_fd)


def apply_device(root_fd: int, op: dict, bind_from_host: bool) -> None:
    """mknod, or (in a user namespace, where mknod is not allowed) a bind of the host's node."""
    path = op["path"]
    if not bind_from_host:
        try:
            return make_device_node(root_fd, op)
        except PermissionError:
            pass  # root of a user namespace we did not create (rootless podman): bind, as runc does
    fd = ensure_in_root(root_fd, path, is_file=True)
    try:
        mount(path, fd_path(fd), None, c.MS_BIND)
    except OSError as err:
        err.filename = path
        raise
    finally:
        os.close(fd)


def make_device_node(root_fd: int, op: dict) -> None:
    path = op["path"]
    parent_fd = ensure_in_root(root_fd, os.path.dirname(path))
    os.close(parent_fd)
    dir_fd = open_in_root(root_fd, os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    name = os.path.basename(path)
    try:
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[op["type"]]
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        try:
            os.mknod(name, kind | op["mode"], os.makedev(op["major"], op["minor"]), dir_fd=dir_fd)
            os.chmod(name, op["mode"], dir_fd=dir_fd)
            if op["uid"] is not None or op["gid"] is not None:
                os.chown(name, op["uid"] if op["uid"] is not None else -1,
                         op["gid"] if op["gid"] is not None else -1, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as err:
            err.syscall = "mknod"  # type: ignore[attr-defined]
            err.filename = path
            raise
    finally:
        os.close(dir_fd)


def apply_symlink(root_fd: int, op: dict) -> None:
    if op.get("if_dir"):
        try:
            os.close(open_in_root(root_fd, op["if_dir"], os.O_RDONLY | os.O_DIRECTORY))
        except OSError:
            return
    dir_fd = open_in_root(root_fd, os.path.dirname(op["path"]), os.O_RDONLY | os.O_DIRECTORY)
    name = os.path.basename(op["path"])
    try:
        try:
            if op.get("if_dir"):  # /dev/ptmx: replace whatever is there
                os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
        try:
            os.symlink(op["link"], name, dir_fd=dir_fd)
        except FileExistsError:
            pass
    finally:
        os.close(dir_fd)


def apply_ops(root: str, ops: list[dict], in_userns: bool, new_cgroupns: bool = False) -> None:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for op in ops:
            kind = op["op"]
            if kind == "mount":
                apply_mount(root_fd, op)
            elif kind == "device":
                apply_device(root_fd, op, bind_from_host=in_userns)
            elif kind == "symlink":
                apply_symlink(root_fd, op)
            elif kind == "cgroup":
                apply_cgroup_mount(root_fd, op, new_cgroupns)
    finally:
        os.close(root_fd)


def enter_root(root: str, no_pivot: bool) -> None:
    """pivot_root into ``root`` and detach the old root (or MS_MOVE + chroot with --no-pivot)."""
    if no_pivot:
        os.chdir(root)
        mount(root, "/", None, c.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        return
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(root, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        pivot_root(".", ".")
        os.fchdir(old)
        mount(None, ".", None, c.MS_SLAVE | c.MS_REC)
        umount(".", c.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def mask_path(path: str) -> None:
    """Hide a file behind /dev/null, a directory behind an empty read-only tmpfs."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        mount("tmpfs", path, "tmpfs", c.MS_RDONLY, None)
    else:
        mount("/dev/null", path, None, c.MS_BIND)


def readonly_path(path: str) -> None:
    if not os.path.exists(path):
        return
    mount(path, path, None, c.MS_BIND | c.MS_REC)
    remount_bind(path, c.MS_RDONLY)


def make_root_readonly() -> None:
    remount_bind("/", c.MS_RDONLY)
