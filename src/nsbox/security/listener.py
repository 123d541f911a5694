"""Hand a seccomp user-notification fd to the agent at linux.seccomp.listenerPath, as runc does.

One SOCK_STREAM connection; one message: the JSON "container process state" with the fd attached by
SCM_RIGHTS:  {"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state": <state.json>}.
Stdlib only, imported up front, so the child may use it after pivot_root (given a connected socket).
"""

from __future__ import annotations

import struct
from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)

# _socket, not socket: the wrapper module costs ~2 ms of every container start (this module is preloaded
# for stage 2); the plain socket object has connect/sendmsg/detach/close, which is all that is used here
import _socket as socket

from ..errors import SecurityError

SECCOMP_FD_NAME = "seccompFd"
OCI_VERSION = "1.2.0"


def connect(listener_path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(listener_path)
    except OSError as exc:
        sock.close()
        raise SecurityError(f"seccomp listener {listener_path}: connect: {exc.strerror}") from exc
    return sock


def process_state(pid: int, state: dict | None, metadata: str | None) -> bytes:
    msg = {"ociVersion": OCI_VERSION, "fds": [SECCOMP_FD_NAME], "pid": pid, "state": state or {}}
    if metadata:
        msg["metadata"] = metadata
    return json.dumps(msg).encode()


def send_listener_fd(target, notify_fd: int, *, pid: int, state: dict | None = None,
                     metadata: str | None = None) -> None:
    """Send ``notify_fd`` with the process state to ``target`` (a listenerPath, a socket or a socket fd)."""
    own = isinstance(target, str)
    if own:
        sock = connect(target)
    elif isinstance(target, int):
        sock = socket.socket(fileno=target)
    else:
        sock = target
    try:
        sock.sendmsg([process_state(pid, state, metadata)],  # socket.send_fds
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", notify_fd))])
    except OSError as exc:
        raise SecurityError(f"seccomp listener: sendmsg: {exc.strerror}") from exc
    finally:
        if own:
            sock.close()
        elif isinstance(target, int):
            sock.detach()
