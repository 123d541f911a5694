"""The unpacked-rootfs cache: a tarball or an OCI image is unpacked once, then reused.

    root = unpacked_tarball("alpine-minirootfs.tar.gz")      # CACHE/rootfs/<sha256 of the file>
    root, config = unpacked_image("/srv/alpine-oci")          # CACHE/images/<manifest digest>/rootfs

CACHE is /var/lib/nsbox as root, ~/.local/share/nsbox rootless. Unpacking goes to a temporary
directory beside the entry and is renamed into place only when complete, so an interrupted or
failed unpack leaves nothing, and two runs racing for the same entry both end up using one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile

from ..errors import ImageError
from ..paths import cache_root
from .layer import LayerWriter, make_removable, unpack_tar


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unpacked_tarball(path: str) -> str:
    """A rootfs tarball unpacked into the cache (keyed by its sha256); the directory."""
    try:
        key = file_digest(path)[:32]
    except OSError as err:
        raise ImageError(f"cannot read {path}: {err.strerror or err}") from err
    dest = os.path.join(cache_root(), "rootfs", key)
    if not os.path.isdir(dest):
        build(dest, lambda tmp: unpack_tar(path, tmp))
    return dest


def unpacked_image(spec: str) -> tuple[str, dict]:
    """An OCI image (layout directory, oci-archive, either as PATH:REF) unpacked into the cache,
    keyed by its manifest digest: (the rootfs directory, the image config's "config" object)."""
    from .layout import open_image
    with open_image(spec) as image:
        entry = os.path.join(cache_root(), "images", image.manifest_digest.replace(":", "-")[:71])
        rootfs = os.path.join(entry, "rootfs")
        if not os.path.isdir(rootfs):
            def unpack(tmp: str) -> None:
                root = os.path.join(tmp, "rootfs")
                os.mkdir(root, 0o755)
                with LayerWriter(root, image.path) as writer:
                    for layer in image.layers:
                        reader = image.open_blob(layer)
                        try:
                            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                                writer.extract(tar, whiteouts=True)
                            reader.verify()
                        except tarfile.TarError as err:
                            raise ImageError(f"{image.path}: layer {layer.get('digest')} is not a tar archive: {err}") from err
                        finally:
                            reader.close()
                with open(os.path.join(tmp, "config.json"), "w") as f:
                    json.dump(image.config, f)
            build(entry, unpack)
        return rootfs, image.config


def build(dest: str, fill) -> None:
    """Run ``fill(tmpdir)``, then rename tmpdir to ``dest``; on any failure remove tmpdir."""
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
        os.chmod(tmp, 0o755)
    except OSError as err:
        raise ImageError(f"cannot create the rootfs cache in {parent}: {err.strerror or err}") from err
    try:
        fill(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):   # not another run that won the race
                raise
            discard(tmp)
    except OSError as err:
        discard(tmp)
        raise ImageError(f"cannot unpack into {tmp}: {err.strerror or err}") from err
    except BaseException:
        discard(tmp)
        raise


def discard(path: str) -> None:
    if os.geteuid() != 0:   # rootless: read-only directories from an image would stop rmtree
        try:
            parent = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                make_removable(parent, os.path.basename(path))
            finally:
                os.close(parent)
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


class CachedRootfs:
    """One cache entry: an unpacked image (by manifest digest) or tarball (by file digest)."""

    __slots__ = ("kind", "id", "path", "rootfs", "created", "command")

    def __init__(self, kind: str, id: str, path: str, rootfs: str, created: float, command: list[str]) -> None:
        self.kind, self.id, self.path, self.rootfs, self.created, self.command = kind, id, path, rootfs, created, command

    def to_json(self) -> dict:
        return {"kind": self.kind, "id": self.id, "rootfs": self.rootfs, "created": self.created,
                "command": self.command}


def cached() -> list[CachedRootfs]:
    """Every unpacked image and tarball in this user's cache, oldest first."""
    out = []
    for kind, sub in (("image", "images"), ("tarball", "rootfs")):
        top = os.path.join(cache_root(), sub)
        for name in (sorted(os.listdir(top)) if os.path.isdir(top) else []):
            if name.startswith("."):
                continue   # an unpack in progress
            path = os.path.join(top, name)
            rootfs = os.path.join(path, "rootfs") if kind == "image" else path
            command: list[str] = []
            if kind == "image":
                try:
                    with open(os.path.join(path, "config.json")) as f:
                        config = json.load(f)
                    command = [str(a) for a in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])]
                except (OSError, ValueError, TypeError, AttributeError):
                    pass
            try:
                created = os.stat(path).st_mtime
            except OSError:
                continue
            out.append(CachedRootfs(kind, name.replace("sha256-", "sha256:", 1), path, rootfs, created, command))
    return sorted(out, key=lambda e: e.created)


def find_cached(ref: str) -> CachedRootfs:
    """An entry by its id or a unique prefix of it (with or without ``sha256:``)."""
    want = ref.split(":", 1)[1] if ref.startswith("sha256:") else ref
    matches = [e for e in cached() if e.id.split(":")[-1].startswith(want)] if want else []
    if not matches:
        raise ImageError(f"no cached image or rootfs {ref!r}")
    if len(matches) > 1:
        raise ImageError(f"{ref!r} matches {len(matches)} cached entries: give more of the id")
    return matches[0]


def remove_cached(entry: CachedRootfs) -> None:
    discard(entry.path)
    if os.path.lexists(entry.path):
        raise ImageError(f"cannot remove {entry.path} completely")
