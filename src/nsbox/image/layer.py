"""Unpack a tar stream into a root directory, never writing outside it.

A member's parent directory is opened with openat2(RESOLVE_IN_ROOT), so a symlink unpacked earlier
(``a -> /etc``, ``b -> ../../..``) resolves against the new root, never the host's: ``a/passwd`` lands
in ``ROOT/etc/passwd``. The member itself is created relative to that directory fd without following
a final symlink (O_NOFOLLOW, ``follow_symlinks=False``), and a hard link's target is found the same
way. Names with ``..`` are refused. Python's ``tarfile.extractall`` does none of this before 3.11.4.

With ``whiteouts=True`` (OCI image layers) ``.wh.NAME`` removes NAME from the layers below and
``.wh..wh..opq`` empties its directory of them.

As root, owners, modes, device nodes and times are restored. Rootless, files belong to the caller
(root inside the container's user namespace), device nodes are skipped (the container's /dev is its
own), and directories keep owner rwx so that later layers can still change them; that only widens
what the owner - root inside the container, who bypasses file modes anyway - may do.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zlib

from ..errors import ImageError
from ..rootfs.resolve import ensure_in_root, open_in_root

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
COPY_CHUNK = 1 << 20


def member_parts(name: str, source: str) -> list[str]:
    """The path components of a member name, relative to the root; '..' anywhere is refused."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"{source}: unsafe member {name!r} (a '..' component)")
    return parts


class LayerWriter:
    """Writes the members of one or more tar layers into ``root`` (an existing directory)."""

    def __init__(self, root: str, source: str) -> None:
        self.root = root
        self.source = source
        self.as_root = os.geteuid() == 0
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.dirs: dict[str, tarfile.TarInfo] = {}   # directories whose metadata is set at the end

    def close(self) -> None:
        os.close(self.root_fd)

    def __enter__(self) -> "LayerWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one layer -------------------------------------------------------------------------------

    def extract(self, tar: tarfile.TarFile, whiteouts: bool = False) -> None:
        """Every member of ``tar`` (a stream is fine: members are read in order, once)."""
        try:
            for member in tar:
                self.member(tar, member, whiteouts)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise ImageError(f"{self.source}: not a valid tar archive: {err}") from err
        self.finish_dirs()

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, whiteouts: bool) -> None:
        parts = member_parts(member.name, self.source)
        if not parts:
            if member.isdir():
                self.dirs["."] = member
            return
        parent, base = "/".join(parts[:-1]), parts[-1]
        if whiteouts and base.startswith(WHITEOUT):
            self.whiteout(parent, base)
            return
        dir_fd = self.open_dir(parent, member.name)
        try:
            self.write(tar, member, dir_fd, base, "/".join(parts))
        except OSError as err:
            raise ImageError(f"{self.source}: cannot unpack {member.name!r}: "
                             f"{err.strerror or err}") from err
        finally:
            os.close(dir_fd)

    def open_dir(self, rel: str, name: str) -> int:
        """A directory fd for ``rel`` inside the root, made (with parents) if missing."""
        try:
            os.close(ensure_in_root(self.root_fd, "/" + rel))
            return open_in_root(self.root_fd, "/" + rel, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            raise ImageError(f"{self.source}: cannot unpack {name!r}: its directory /{rel}: "
                             f"{err.strerror or err}") from err

    def write(self, tar: tarfile.TarFile, m: tarfile.TarInfo, dir_fd: int, base: str, rel: str) -> None:
        existing = lstat_at(dir_fd, base)
        if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
            remove_at(dir_fd, base, existing)
        if m.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(base, 0o700, dir_fd=dir_fd)
            self.dirs[rel] = m
            return
        if m.isreg():
            self.regular(tar, m, dir_fd, base)
            return
        if m.issym():
            os.symlink(m.linkname, base, dir_fd=dir_fd)
        elif m.islnk():
            self.hardlink(m, dir_fd, base)
            return   # a hard link shares its target's inode: owner, mode and times are the target's
        elif m.isfifo():
            os.mkfifo(base, 0o600, dir_fd=dir_fd)
        elif m.ischr() or m.isblk():
            if not self.as_root:
                return
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=dir_fd)
        else:
            return   # other types (e.g. GNU long names are already folded in by tarfile): nothing to make
        self.metadata_at(dir_fd, base, m, symlink=m.issym())

    def regular(self, tar: tarfile.TarFile, m: tarfile.TarInfo, dir_fd: int, base: str) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            src = tar.extractfile(m)
            if src is not None:
                while chunk := src.read(COPY_CHUNK):
                    _write_all(fd, chunk)
            if self.as_root:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, stat.S_IMODE(m.mode))   # after chown, which clears set-id bits
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)

    def hardlink(self, m: tarfile.TarInfo, dir_fd: int, base: str) -> None:
        target = member_parts(m.linkname, self.source)
        if not target:
            raise ImageError(f"{self.source}: hard link {m.name!r} to the root directory")
        tdir = open_in_root(self.root_fd, "/" + "/".join(target[:-1]), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(target[-1], base, src_dir_fd=tdir, dst_dir_fd=dir_fd, follow_symlinks=False)
        finally:
            os.close(tdir)

    def metadata_at(self, dir_fd: int, base: str, m: tarfile.TarInfo, symlink: bool) -> None:
        if self.as_root:
            os.chown(base, m.uid, m.gid, dir_fd=dir_fd, follow_symlinks=False)
        if not symlink:
            os.chmod(base, stat.S_IMODE(m.mode), dir_fd=dir_fd)
        os.utime(base, (m.mtime, m.mtime), dir_fd=dir_fd, follow_symlinks=False)

    # -- whiteouts ------------------------------------------------------------------------------

    def whiteout(self, parent: str, base: str) -> None:
        try:
            dir_fd = open_in_root(self.root_fd, "/" + parent, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return   # nothing below to hide
        try:
            if base == OPAQUE:
                for name in os.listdir(dir_fd):
                    remove_at(dir_fd, name, lstat_at(dir_fd, name))
            else:
                name = base[len(WHITEOUT):]
                if name in ("", ".", ".."):
                    raise ImageError(f"{self.source}: bad whiteout {parent}/{base!r}")
                existing = lstat_at(dir_fd, name)
                if existing is not None:
                    remove_at(dir_fd, name, existing)
                    self.dirs.pop(f"{parent}/{name}".lstrip("/"), None)
        finally:
            os.close(dir_fd)

    # -- directories last -----------------------------------------------------------------------

    def finish_dirs(self) -> None:
        """Owners, modes and times of the layer's directories, deepest first (writing a child
        changes its parent's mtime; a read-only parent would refuse the child)."""
        for rel in sorted(self.dirs, key=lambda r: r.count("/"), reverse=True):
            m = self.dirs[rel]
            mode = stat.S_IMODE(m.mode) if self.as_root else stat.S_IMODE(m.mode) | 0o700
            if rel == ".":
                fd = os.dup(self.root_fd)
            else:
                try:
                    fd = open_in_root(self.root_fd, "/" + rel, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                except OSError:
                    continue   # replaced by a later member (a symlink or a file): its metadata is its own
            try:
                if self.as_root:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, mode)
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)
        self.dirs.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dir_fd: int, name: str, st: os.stat_result | None) -> None:
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        if os.geteuid() != 0:
            make_removable(dir_fd, name)
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def make_removable(dir_fd: int, name: str) -> None:
    """Rootless: give the owner rwx on a directory tree so that rmtree can empty it."""
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) | 0o700)
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                make_removable(fd, entry.name)
    finally:
        os.close(fd)


def unpack_tar(path: str, root: str, whiteouts: bool = False) -> None:
    """Unpack the tar file at ``path`` (any compression tarfile reads) into ``root``."""
    with LayerWriter(root, path) as writer:
        try:
            tar = tarfile.open(path, mode="r|*")
        except (tarfile.TarError, OSError) as err:
            raise ImageError(f"{path}: not a tar archive: {err}") from err
        with tar:
            writer.extract(tar, whiteouts=whiteouts)
