"""Container state on disk: <root>/<id>/state.json (atomic writes), a per-container flock, exec.fifo.

The state file is a cache of what the launcher knew; ``runtime.status`` derives the truth from the system.
"""

from __future__ import annotations

import errno
import fcntl
from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)
import os

from ..errors import ContainerExists, ContainerNotFound, UsageError

STATE_FILE = "state.json"
FIFO_NAME = "exec.fifo"
LOCK_FILE = "lock"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> str:
    if not container_id:
        raise UsageError("container id cannot be empty")
    if not set(container_id) <= _ID_CHARS or container_id in (".", ".."):
        raise UsageError(f"invalid container id format: {container_id}")
    return container_id


class Store:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def path(self, container_id: str, name: str = "") -> str:
        return os.path.join(self.root, check_id(container_id), name) if name else \
            os.path.join(self.root, check_id(container_id))

    def exists(self, container_id: str) -> bool:
        return os.path.exists(self.path(container_id, STATE_FILE))

    def make_dir(self, container_id: str) -> str:
        """Create the state directory; ContainerExists if it is there already."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        path = self.path(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerExists(container_id) from None
        return path

    def lock(self, container_id: str) -> int:
        """An exclusive flock on the container (blocks); close the fd to release it."""
        path = self.path(container_id, LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise ContainerNotFound(container_id) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def read(self, container_id: str) -> dict:
        try:
            with open(self.path(container_id, STATE_FILE)) as f:
                return json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFound(container_id) from None
        except ValueError as err:
            raise ContainerNotFound(container_id) from err

    def write(self, container_id: str, state: dict) -> None:
        final = self.path(container_id, STATE_FILE)
        tmp = final + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            # no fsync: the state lives on a tmpfs (/run, $XDG_RUNTIME_DIR) and is only a cache of what
            # the system says; rename keeps readers from ever seeing a half-written file
            os.write(fd, json.dumps(state, separators=(",", ":")).encode())
        finally:
            os.close(fd)
        os.rename(tmp, final)

    def remove(self, container_id: str) -> None:
        _remove_tree(self.path(container_id))

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(self.root, n, STATE_FILE)))

    def make_fifo(self, container_id: str, owner_uid: int, owner_gid: int) -> str:
        path = self.path(container_id, FIFO_NAME)
        os.mkfifo(path, 0o622)
        os.chmod(path, 0o622)
        if (owner_uid, owner_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(path, owner_uid, owner_gid)
            except OSError as err:
                if err.errno != errno.EPERM:
                    raise
        return path


def _remove_tree(path: str) -> None:
    """shutil.rmtree(path, ignore_errors=True) without importing shutil (~2 ms of start-up with bz2/lzma):
    symlinks are removed, never followed."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            _remove_tree(entry.path)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass
