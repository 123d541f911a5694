"""The one exception hierarchy of nsbox.

    NsboxError                      anything nsbox reports to a user
    ├── UsageError                  bad command-line input (a flag, a value)
    ├── SpecError                   problems in an OCI config, each with its JSON path
    ├── ContainerNotFound
    ├── ContainerExists
    ├── InvalidState                container is <current>, operation needs <wanted>
    ├── InitFailed                  a step inside the new namespaces failed (step, syscall, path, errno)
    ├── ProtocolError               the parent<->child channel broke (dead peer, timeout, bad message)
    │   └── PeerClosed              the peer closed its end (exited, crashed, or exec'd: CLOEXEC)
    ├── IdMapError                  uid/gid mapping could not be set up
    ├── NamespaceError              a namespace could not be made, joined or inspected
    ├── CgroupError
    ├── SecurityError
    ├── ImageError
    ├── NetworkError
    └── Unsupported                 (feature, reason)

L0 (`nsbox.linux`) raises plain ``OSError`` (errno-mapped subclasses such as
``PermissionError``) carrying a ``syscall`` attribute; higher layers wrap with
``raise X(...) from err``.  Only ``nsbox.cli`` turns exceptions into output.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "NsboxError", "UsageError", "SpecError", "ContainerNotFound", "ContainerExists",
    "InvalidState", "InitFailed", "ProtocolError", "PeerClosed", "IdMapError", "NamespaceError",
    "CgroupError", "SecurityError", "ImageError", "NetworkError", "Unsupported",
    "syscall_error", "describe_oserror",
]


def syscall_error(err: int, syscall: str, path: str | None = None) -> OSError:
    """An OSError (errno-mapped subclass) naming the failed call and path."""
    exc = OSError(err, os.strerror(err), path) if path is not None else OSError(err, os.strerror(err))
    exc.syscall = syscall  # type: ignore[attr-defined]
    return exc


def describe_oserror(exc: OSError) -> str:
    """'mount /x/proc: Operation not permitted' from an OSError raised by L0 (or the stdlib)."""
    call = getattr(exc, "syscall", None)
    path = exc.filename
    reason = exc.strerror or str(exc)
    head = " ".join(str(p) for p in (call, path) if p)
    if getattr(exc, "filename2", None):
        head += f" -> {exc.filename2}"
    return f"{head}: {reason}" if head else reason


class NsboxError(Exception):
    """Base of every error nsbox reports; str() is the one line a user sees."""

    exit_code = 1


class UsageError(NsboxError):
    """Bad command-line input."""


class SpecError(NsboxError):
    """Every problem found in an OCI document, each with its JSON path."""

    def __init__(self, problems: list[tuple[str, str]] | str, source: str = "config.json"):
        if isinstance(problems, str):
            problems = [("$", problems)]
        self.problems = list(problems)
        self.source = source
        lines = [f"{path}: {msg}" for path, msg in self.problems]
        if len(lines) == 1:
            text = f"{source}: {lines[0]}"
        else:
            text = f"{source}: {len(lines)} problems: " + "; ".join(lines)
        super().__init__(text)


class ContainerNotFound(NsboxError):
    def __init__(self, container_id: str):
        self.container_id = container_id
        super().__init__(f"container {container_id} does not exist")


class ContainerExists(NsboxError):
    def __init__(self, container_id: str):
        self.container_id = container_id
        super().__init__(f"container with id {container_id} already exists")


class InvalidState(NsboxError):
    def __init__(self, container_id: str, current: str, wanted: str, message: str | None = None):
        self.container_id, self.current, self.wanted = container_id, current, wanted
        super().__init__(message or f"container {container_id} is {current}, not {wanted}")


class InitFailed(NsboxError):
    """A step of container/namespace set-up failed inside the child."""

    def __init__(self, step: str, message: str, syscall: str | None = None,
                 path: str | None = None, errno: int | None = None):
        self.step, self.syscall, self.path, self.errno = step, syscall, path, errno
        self.message = message
        super().__init__(f"{step}: {message}")

    def to_fields(self) -> dict:
        return {"kind": "InitFailed", "step": self.step, "message": self.message,
                "syscall": self.syscall, "path": self.path, "errno": self.errno}

    @classmethod
    def from_oserror(cls, step: str, exc: OSError) -> "InitFailed":
        return cls(step, describe_oserror(exc), getattr(exc, "syscall", None), exc.filename, exc.errno)

    def to_oserror(self) -> OSError:
        """The original OSError shape, for callers that match on errno."""
        return syscall_error(self.errno or _errno.EIO, self.syscall or self.step, self.path)


class ProtocolError(NsboxError):
    """The parent<->child channel broke: a peer died, timed out or sent garbage."""


class PeerClosed(ProtocolError):
    """The peer closed its end of the channel: it exited, crashed, or exec'd (the fd is CLOEXEC)."""


class IdMapError(NsboxError):
    """uid/gid maps could not be written (ranges, newuidmap, /etc/subuid)."""


class NamespaceError(NsboxError):
    """A namespace could not be created, joined or inspected."""


class CgroupError(NsboxError):
    pass


class SecurityError(NsboxError):
    pass


class ImageError(NsboxError):
    pass


class NetworkError(NsboxError):
    pass


class Unsupported(NsboxError):
    def __init__(self, feature: str, reason: str):
        self.feature, self.reason = feature, reason
        super().__init__(f"{feature} is not supported: {reason}")


def error_from_fields(fields: dict) -> NsboxError:
    """Rebuild an error that crossed the parent<->child channel as plain fields."""
    kind = fields.get("kind")
    if kind == "InitFailed":
        return InitFailed(fields.get("step") or "init", fields.get("message") or "failed",
                          fields.get("syscall"), fields.get("path"), fields.get("errno"))
    cls = {c.__name__: c for c in (UsageError, IdMapError, NamespaceError, CgroupError,
                                   SecurityError, NetworkError, ImageError, ProtocolError)}.get(kind or "")
    if cls is not None:
        return cls(fields.get("message") or kind)
    return NsboxError(fields.get("message") or "child failed")
