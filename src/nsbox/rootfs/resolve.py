"""Paths inside the new root resolved without leaving it: openat2(RESOLVE_IN_ROOT).

A symlink in the rootfs (``/etc -> /``, ``/mnt -> ../../host``) resolves against the container's
root, never the host's, so a mount target can never land outside the rootfs.
"""

from __future__ import annotations

import errno
import os

from ..linux import consts as c
from ..linux.fd import openat2

O_PATH = getattr(os, "O_PATH", 0o10000000)


def open_in_root(root_fd: int, path: str, flags: int = O_PATH) -> int:
    rel = path.lstrip("/") or "."
    return openat2(root_fd, rel, flags | os.O_CLOEXEC, 0, c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS)


def ensure_in_root(root_fd: int, path: str, is_file: bool = False, mode: int = 0o755) -> int:
    """Create ``path`` (and parents) inside the root if missing; return an O_PATH fd to it."""
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parent, name = os.path.split(path.rstrip("/"))
    if not name:
        return open_in_root(root_fd, "/")
    parent_fd = ensure_in_root(root_fd, parent or "/")
    try:
        dir_fd = open_in_root(root_fd, parent or "/", os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(parent_fd)
    try:
        try:
            if is_file:
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                                 dir_fd=dir_fd))
            else:
                os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno == errno.ELOOP:
                pass  # a dangling symlink: resolve it in the root below
            else:
                err.syscall = "open(O_CREAT)" if is_file else "mkdir"  # type: ignore[attr-defined]
                err.filename = path
                raise
    finally:
        os.close(dir_fd)
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        # name is a dangling symlink: create what it points to, inside the root
        link = os.readlink(name, dir_fd=open_in_root(root_fd, parent or "/", os.O_RDONLY | os.O_DIRECTORY))
        target = link if link.startswith("/") else os.path.join(parent or "/", link)
        return ensure_in_root(root_fd, os.path.normpath(target), is_file, mode)


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"
