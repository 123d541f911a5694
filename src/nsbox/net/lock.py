"""One flock per state directory, re-entrant within a process (so ipam may lock inside attach)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

_held: dict[str, list] = {}  # path -> [fd, depth]
_guard = threading.RLock()


@contextlib.contextmanager
def locked(directory: str, name: str = ".lock"):
    """Hold an exclusive flock on ``directory/name`` for the duration of the block."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, name)
    with _guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            _held[path] = [fd, 1]
        try:
            yield
        finally:
            entry = _held[path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                os.close(entry[0])


def write_json_atomic(path: str, data) -> None:
    """Write JSON to ``path`` through a temporary file and rename (readers never see half a file)."""
    import json
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str, default=None):
    import json
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default
