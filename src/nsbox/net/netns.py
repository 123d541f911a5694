"""Persistent network namespaces held by a bind mount at a path, like ``ip netns add``.

create() unshares a new network namespace in a short-lived thread (a network namespace is a
per-thread attribute, so the process itself never moves) and bind-mounts that thread's
/proc/thread-self/ns/net onto an empty file. The directory (/run/nsbox/netns by default, or
$NSBOX_NETNS_DIR) is made a shared mount on itself first, as iproute2 does for /run/netns, so
namespaces added later show up in mount namespaces that were copied from this one (a directory
the caller passes explicitly is left as it is).
"""

from __future__ import annotations

import errno
import os
import threading

from ..errors import NetworkError, describe_oserror
from ..linux import consts
from ..linux.mount import bind, make_propagation, umount
from ..linux.sched import unshare


def netns_dir() -> str:
    return os.environ.get("NSBOX_NETNS_DIR") or "/run/nsbox/netns"


def resolve(name_or_path: str, directory: str | None = None) -> str:
    if "/" in name_or_path:
        return os.path.abspath(name_or_path)
    if not name_or_path or name_or_path in (".", ".."):
        raise NetworkError(f"invalid network namespace name {name_or_path!r}")
    return os.path.join(directory or netns_dir(), name_or_path)


def is_netns(path: str) -> bool:
    """True if ``path`` is a bind-mounted network namespace (an nsfs file)."""
    try:
        st = os.stat(path)
        return st.st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def _make_shared_dir(directory: str) -> None:
    os.makedirs(directory, mode=0o755, exist_ok=True)
    try:
        make_propagation(directory, consts.MS_SHARED, recursive=True)
    except OSError as err:
        if err.errno != errno.EINVAL:  # EINVAL: not a mount point yet
            raise
        bind(directory, directory, recursive=True)
        make_propagation(directory, consts.MS_SHARED, recursive=True)


def create(name_or_path: str, directory: str | None = None) -> str:
    """A new network namespace (loopback down, as the kernel makes it) bound at the returned path."""
    path = resolve(name_or_path, directory)
    parent = os.path.dirname(path)
    try:
        if "/" not in name_or_path and directory is None:
            _make_shared_dir(parent)  # the default directory only: a caller's own directory stays as it is
        else:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0)
        os.close(fd)
    except FileExistsError:
        raise NetworkError(f"network namespace {path} already exists") from None
    except OSError as err:
        raise NetworkError(f"network namespace {path}: {describe_oserror(err)}") from None
    failure: list[OSError] = []

    def in_thread():
        try:
            unshare(consts.CLONE_NEWNET)
            bind("/proc/thread-self/ns/net", path, recursive=False)
        except OSError as err:
            failure.append(err)

    worker = threading.Thread(target=in_thread, name="nsbox-netns")
    worker.start()
    worker.join()
    if failure:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise NetworkError(f"create network namespace {path}: {describe_oserror(failure[0])}")
    return path


def delete(name_or_path: str, directory: str | None = None) -> None:
    """Unmount and remove a persistent network namespace (it dies with its last user)."""
    path = resolve(name_or_path, directory)
    if not os.path.exists(path):
        raise NetworkError(f"network namespace {path} does not exist")
    if is_netns(path):
        try:
            umount(path, consts.MNT_DETACH)
        except OSError as err:
            raise NetworkError(f"delete network namespace {path}: {describe_oserror(err)}") from None
    try:
        os.unlink(path)
    except OSError as err:
        raise NetworkError(f"delete network namespace {path}: {describe_oserror(err)}") from None


def list_all(directory: str | None = None) -> list[str]:
    directory = directory or netns_dir()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names if is_netns(os.path.join(directory, n))]
