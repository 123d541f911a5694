"""mount(2), umount2(2), pivot_root(2) and the new mount API (open_tree, move_mount, mount_setattr)."""

from __future__ import annotations

import ctypes

from . import consts
from ._libc import fsencode, libc, retry, syscall

_mount = libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_umount2 = libc.umount2
_umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2). Errors name the target (and the source for binds)."""
    src, tgt, typ = fsencode(source), fsencode(target), fsencode(fstype)
    dat = fsencode(data)
    retry(lambda: _mount(src, tgt, typ, flags, dat), f"mount({fstype or ''}{',bind' if flags & consts.MS_BIND else ''})".replace("(,", "("),
          target, source if source and flags & (consts.MS_BIND | consts.MS_MOVE) else None)


def bind(source: str, target: str, recursive: bool = True) -> None:
    mount(source, target, None, consts.MS_BIND | (consts.MS_REC if recursive else 0))


def make_propagation(target: str, propagation_flag: int, recursive: bool = True) -> None:
    """Set propagation (MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE) of the mount at ``target``."""
    mount(None, target, None, propagation_flag | (consts.MS_REC if recursive else 0))


def umount(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    tgt = fsencode(target)
    retry(lambda: _umount2(tgt, flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    new, old = fsencode(new_root), fsencode(put_old)
    syscall("pivot_root", ctypes.c_char_p(new), ctypes.c_char_p(old), path=new_root, path2=put_old)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """open_tree(2): a detached copy (OPEN_TREE_CLONE) of a mount, as an fd."""
    return syscall("open_tree", ctypes.c_int(dirfd), ctypes.c_char_p(fsencode(path)),
                   ctypes.c_uint(flags), path=path)


def move_mount(from_dirfd: int, from_path: str, to_dirfd: int, to_path: str, flags: int) -> None:
    syscall("move_mount", ctypes.c_int(from_dirfd), ctypes.c_char_p(fsencode(from_path)),
            ctypes.c_int(to_dirfd), ctypes.c_char_p(fsencode(to_path)), ctypes.c_uint(flags),
            path=to_path or from_path)


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(dirfd: int, path: str, flags: int, attr_set: int = 0, attr_clr: int = 0,
                  propagation: int = 0, userns_fd: int = 0) -> None:
    attr = MountAttr(attr_set, attr_clr, propagation, userns_fd)
    syscall("mount_setattr", ctypes.c_int(dirfd), ctypes.c_char_p(fsencode(path)), ctypes.c_uint(flags),
            ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), path=path)
