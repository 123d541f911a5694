"""Persistent namespaces: bind-mount /proc/PID/ns/TYPE on a file (util-linux ``unshare --net=FILE``).

The bind keeps the namespace alive without any process; ``umount FILE`` releases it.
pid and time namespaces are bound from ``pid_for_children`` / ``time_for_children``: they only
apply to the children of the process that unshared them.
"""

from __future__ import annotations

import os

from ..linux import consts
from ..linux.mount import mount, umount
from .types import NamespaceType


def source_path(pid: int, ns_name: str) -> str:
    return f"/proc/{pid}/ns/{NamespaceType.from_name(ns_name).for_children_name}"


def bind_namespace(pid: int, ns_name: str, target: str, create: bool = False) -> bool:
    """Bind the namespace of ``pid`` on ``target``.

    Like util-linux, the file must exist unless ``create`` (then an empty file is made, and removed
    again if the bind fails). Returns whether the file was created here.
    """
    created = False
    if create and not os.path.lexists(target):
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
        except OSError as err:
            err.syscall = "open"  # type: ignore[attr-defined]
            raise
        created = True
    try:
        mount(source_path(pid, ns_name), target, None, consts.MS_BIND)
    except OSError:
        if created:
            os.unlink(target)
        raise
    return created


def unbind_namespace(target: str, created: bool) -> None:
    """Undo ``bind_namespace`` (best effort, for clean-up after a failed start)."""
    try:
        umount(target, consts.MNT_DETACH)
    except OSError:
        pass
    if created:
        try:
            os.unlink(target)
        except OSError:
            pass
