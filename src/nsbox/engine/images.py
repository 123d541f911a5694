"""The unpacked images and tarballs behind `nsbox run --rootfs`, and which containers use them.

    for entry in list_images(): print(entry.id, entry.kind, entry.in_use)
    remove_images(["c0a7aa32"], force=False)    # refused while a container uses it
    prune_images()                              # every entry no container uses
"""

from __future__ import annotations

import os

from ..errors import ImageError
from ..paths import runtime_state_root


def rootfs_in_use() -> dict[str, list[str]]:
    """rootfs directory -> ids of the containers (running, created or stopped-not-deleted) on it."""
    from ..runtime.container import Runtime
    root = runtime_state_root()
    if not os.path.isdir(root):
        return {}
    users: dict[str, list[str]] = {}
    for doc in Runtime(root, rootless=os.geteuid() != 0).list():
        users.setdefault(os.path.realpath(doc.get("rootfs", "")), []).append(doc["id"])
    return users


def list_images() -> list[tuple[object, list[str]]]:
    """(cache entry, ids of the containers using it), oldest first."""
    from ..image.store import cached
    users = rootfs_in_use()
    return [(e, users.get(os.path.realpath(e.rootfs), [])) for e in cached()]


def remove_images(refs: list[str], force: bool = False) -> list[str]:
    """Remove cache entries by id (prefix); refused for one a container uses unless ``force``."""
    from ..image.store import find_cached, remove_cached
    entries = [find_cached(ref) for ref in refs]   # every ref resolved before anything is removed
    users = rootfs_in_use()
    for entry in entries:
        using = users.get(os.path.realpath(entry.rootfs))
        if using and not force:
            raise ImageError(f"{entry.id} is used by container {', '.join(using)}: remove it first, or use -f")
    for entry in entries:
        remove_cached(entry)
    return [e.id for e in entries]


def prune_images() -> list[str]:
    """Remove every entry no container uses; the ids removed."""
    from ..image.store import remove_cached
    removed = []
    for entry, using in list_images():
        if not using:
            remove_cached(entry)
            removed.append(entry.id)
    return removed
