"""Where `nsbox run`'s root filesystem comes from, and what an OCI image adds to the command.

``--rootfs`` may be a directory, a rootfs tarball, an OCI image layout (a directory with an
``oci-layout`` file), an oci-archive (a tar of one), either of the last two as ``PATH:REF``; or
absent: the host's own filesystem, read-only. An image's config supplies what docker/podman take
from it: Entrypoint and Cmd (the command given replaces Cmd), Env (under ``-e``), WorkingDir
(unless ``-w``) and User (unless ``-u``).
"""

from __future__ import annotations

import dataclasses
import os

from ..errors import ImageError, UsageError


def prepare(opts):
    """(the rootfs directory, ``opts`` with the image's defaults applied)."""
    spec = opts.rootfs
    if spec is None:
        return "/", opts   # the default: nothing to unpack, nothing (tarfile, hashlib, json) to import
    from ..image import layout, store
    if os.path.isdir(spec):
        if not layout.is_layout_dir(spec):
            return os.path.abspath(spec), opts
    elif os.path.isfile(spec):
        if not layout.is_layout_archive(spec):
            return store.unpacked_tarball(spec), opts
    elif layout.split_ref(spec)[1] is None:
        raise ImageError(f"rootfs {spec}: no such directory, tarball or OCI image")
    rootfs, config = store.unpacked_image(spec)
    return rootfs, with_image_config(opts, config, spec)


def with_image_config(opts, config: dict, spec: str):
    entrypoint = string_list(config.get("Entrypoint"))
    cmd = string_list(config.get("Cmd"))
    args = entrypoint + (list(opts.args) if opts.args else cmd)
    if not args:
        raise UsageError(f"no command given, and the image {spec} has no Entrypoint or Cmd")
    env = [e for e in string_list(config.get("Env")) if "=" in e] + list(opts.env)
    workdir = opts.workdir or (config.get("WorkingDir") if isinstance(config.get("WorkingDir"), str) else None)
    user = opts.user or (config.get("User") if isinstance(config.get("User"), str) else None) or None
    return dataclasses.replace(opts, args=args, env=env, workdir=workdir or None, user=user)


def string_list(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def resolve_user(user: str, rootfs: str) -> tuple[int, int, list[int]]:
    """``uid[:gid]`` or ``name[:group]`` -> (uid, gid, additional gids), names looked up in the
    rootfs's /etc/passwd and /etc/group (read without leaving the rootfs). As docker: a uid with no
    passwd entry gets gid 0 and no additional groups."""
    name, _, group = user.partition(":")
    check_user(user)
    passwd = [e for e in read_db(rootfs, "/etc/passwd") if len(e) >= 4 and e[2].isdigit() and e[3].isdigit()]
    entry = next((e for e in passwd if (e[2] == name if name.isdigit() else e[0] == name)), None)
    if entry is None and not name.isdigit():
        raise UsageError(f"user {name!r}: not in the container's /etc/passwd")
    uid = int(name) if name.isdigit() else int(entry[2])
    gid = int(entry[3]) if entry else 0
    groups = [g for g in read_db(rootfs, "/etc/group") if len(g) >= 3 and g[2].isdigit()]
    if group:
        found = next((g for g in groups if (g[2] == group if group.isdigit() else g[0] == group)), None)
        if found is None and not group.isdigit():
            raise UsageError(f"group {group!r}: not in the container's /etc/group")
        gid = int(group) if group.isdigit() else int(found[2])
    extra = sorted({int(g[2]) for g in groups if entry and len(g) > 3 and entry[0] in g[3].split(",")} - {gid})
    return uid, gid, extra


def read_db(rootfs: str, path: str) -> list[list[str]]:
    """The colon-separated lines of a file of the rootfs ([] when it has none)."""
    from ..rootfs.resolve import open_in_root
    try:
        root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = open_in_root(root_fd, path, os.O_RDONLY)
        finally:
            os.close(root_fd)
        with os.fdopen(fd, "rb") as f:
            text = f.read(1 << 22).decode("utf-8", "replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def check_user(user: str) -> None:
    name, _, group = user.partition(":")
    if not name or (":" in group):
        raise UsageError(f"bad --user value {user!r}: expected USER[:GROUP] (names or numbers)")
