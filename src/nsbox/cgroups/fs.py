"""Reading and writing cgroupfs interface files, with errors that name the file.

Shared by the v1 and v2 drivers. Writes use one write(2) per value, as the kernel expects.
"""

from __future__ import annotations

import errno
import os
import time

from ..errors import CgroupError, describe_oserror
from .convert import Write



# A caller that logs warnings itself (the runtime: runc's log format) sets this to its warn(msg).
sink = None


def warn(msg: str) -> None:
    """One warning line through the ``nsbox.cgroups`` logger (logging is imported only when needed)."""
    if sink is not None:
        sink(msg)
        return
    import logging
    logging.getLogger("nsbox.cgroups").warning("%s", msg)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_int(path: str, default: int = 0) -> int:
    """An integer file; "max" -> -1; missing -> default."""
    try:
        text = read(path).strip()
    except OSError:
        return default
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(path: str) -> dict[str, int]:
    """'key value' lines (memory.stat, cpu.stat, memory.events) -> dict; missing file -> {}."""
    out: dict[str, int] = {}
    try:
        text = read(path)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def write_raw(path: str, value: str) -> None:
    """Write ``value`` in one write(2); OSError (with .syscall) on failure."""
    data = value.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        exc.syscall = "open"  # type: ignore[attr-defined]
        raise
    try:
        os.write(fd, data)
    except OSError as exc:
        exc.syscall = "write"  # type: ignore[attr-defined]
        exc.filename = path
        raise
    finally:
        os.close(fd)


def write_file(directory: str, name: str, value: str, source: str = "") -> None:
    """Write one cgroup file; CgroupError naming the file (and the spec field) on failure."""
    path = os.path.join(directory, name)
    try:
        write_raw(path, value)
    except OSError as exc:
        what = f" (from {source})" if source else ""
        raise CgroupError(f"cannot write {value!r} to {path}{what}: {exc.strerror}") from exc


def apply_writes(directory: str, writes: list[Write], warnings: list[str] | None = None) -> None:
    """Apply writes in order. A write failing with EINVAL is retried once after the others, which
    resolves ordering constraints (memory limit vs memsw, cfs period vs quota) as runc does."""
    deferred: list[tuple[Write, str, str]] = []
    for w in writes:
        target = _pick(directory, w, warnings)
        if target is None:
            continue
        name, value = target
        try:
            write_raw(os.path.join(directory, name), value)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                deferred.append((w, name, value))
                continue
            write_file(directory, name, value, w.source)  # re-raise as CgroupError
    for w, name, value in deferred:
        write_file(directory, name, value, w.source)


def _pick(directory: str, w: Write, warnings: list[str] | None) -> tuple[str, str] | None:
    for name, value in w.candidates:
        if os.path.exists(os.path.join(directory, name)):
            return name, value
    names = " or ".join(n for n, _ in w.candidates)
    msg = f"{directory}: no {names} (needed for {w.source or w.controller}; controller or kernel feature missing)"
    if w.quiet:
        return None
    if w.optional:
        warn(msg + "; ignored")
        if warnings is not None:
            warnings.append(msg + "; ignored")
        return None
    raise CgroupError(msg)


def read_procs(directory: str) -> list[int]:
    try:
        text = read(os.path.join(directory, "cgroup.procs"))
    except FileNotFoundError:
        return []
    return [int(x) for x in text.split()]


def add_pid(directory: str, pid: int) -> None:
    path = os.path.join(directory, "cgroup.procs")
    try:
        write_raw(path, str(pid))
    except OSError as exc:
        raise CgroupError(f"cannot move pid {pid} into {path}: {exc.strerror}") from exc


def makedirs(path: str, created: list[str]) -> None:
    """mkdir -p, recording each directory we made (parents first) in ``created``."""
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            exc.syscall = "mkdir"  # type: ignore[attr-defined]
            raise
        created.append(d)


def remove_tree(path: str, timeout: float = 2.0) -> None:
    """rmdir a cgroup and any child cgroups (deepest first), retrying while tasks drain (EBUSY).
    Kills nothing. Missing directory: done."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            _rmdir_recursive(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise CgroupError(f"cannot remove cgroup {exc.filename or path}: {describe_oserror(exc)}") from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _rmdir_recursive(path: str) -> None:
    try:
        os.rmdir(path)  # the usual case, without sub-cgroups: no listing of every control file first
        return
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            exc.syscall = "rmdir"  # type: ignore[attr-defined]
            exc.filename = path
            raise
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            _rmdir_recursive(e.path)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        exc.syscall = "rmdir"  # type: ignore[attr-defined]
        exc.filename = path
        raise
