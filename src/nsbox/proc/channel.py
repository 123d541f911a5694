"""The one parent<->child protocol: small typed JSON messages over a SOCK_SEQPACKET socketpair.

Each datagram is one message: a JSON object with a "type" field, optionally carrying file
descriptors (SCM_RIGHTS). Errors cross as fields and are rebuilt on the receiving side
(``errors.error_from_fields``), never pickled.

    parent                                   child
      |  <--- {"type": "...", ...} [fds] ---   |   (each side documents its own sequence)
      |  --- {"type": "error", kind, step, syscall, path, errno, message}  (either way)

Every receive has a timeout and notices a dead peer (EOF), so a protocol bug is an error, not a hang.
Sockets are used unbuffered; safe to use in a forked child.
"""

from __future__ import annotations

import struct  # not array: array imports collections.abc (and collections) at start-up
from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)
import os
import select

# _socket, not socket: the wrapper module costs ~2 ms of start-up (selectors, enums) and adds nothing
# the channel uses (socketpair, sendmsg/recvmsg with SCM_RIGHTS, select, close)
import _socket as socket

from ..errors import NsboxError, PeerClosed, ProtocolError, error_from_fields

MAX_MESSAGE = 64 * 1024
MAX_FDS = 64
DEFAULT_TIMEOUT = 30.0


_FD_SIZE = struct.calcsize("i")


def _pack_fds(fds) -> bytes:
    return struct.pack(f"{len(fds)}i", *fds)


def _unpack_fds(payload: bytes) -> list[int]:
    """The whole C ints of an SCM_RIGHTS payload (a truncated tail is ignored)."""
    n = len(payload) // _FD_SIZE
    return list(struct.unpack(f"{n}i", payload[: n * _FD_SIZE]))


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    @classmethod
    def from_fd(cls, fd: int) -> "Channel":
        return cls(socket.socket(fileno=fd))

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------
    def send(self, type_: str, fds: list[int] | tuple[int, ...] = (), **fields) -> None:
        data = json.dumps({"type": type_, **fields}, separators=(",", ":")).encode()
        if len(data) > MAX_MESSAGE:
            raise ProtocolError(f"message {type_!r} is {len(data)} bytes, over {MAX_MESSAGE}")
        try:
            if fds:
                self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _pack_fds(fds))])
            else:
                self.sock.send(data)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ProtocolError(f"peer went away while sending {type_!r}") from err

    def send_error(self, exc: BaseException, step: str = "") -> None:
        """Send an exception as fields (best effort: the peer may be gone)."""
        from ..errors import InitFailed
        if isinstance(exc, InitFailed):
            fields = exc.to_fields()
        elif isinstance(exc, OSError):
            fields = InitFailed.from_oserror(step or "child", exc).to_fields()
        elif isinstance(exc, NsboxError):
            fields = {"kind": type(exc).__name__, "message": str(exc)}
        else:
            fields = {"kind": "InitFailed", "step": step or "child",
                      "message": f"{type(exc).__name__}: {exc}"}
        fields.pop("type", None)
        try:
            self.send("error", **fields)
        except (ProtocolError, OSError):
            pass

    # -- receiving --------------------------------------------------------------------------
    def recv(self, timeout: float | None = DEFAULT_TIMEOUT) -> tuple[dict, list[int]]:
        """One message and the fds it carried. An "error" message is raised as an exception."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                raise ProtocolError(f"no message from peer within {timeout:g}s")
        try:
            data, ancdata, flags, _ = self.sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * _FD_SIZE))
        except ConnectionResetError as err:
            raise ProtocolError("peer reset the channel") from err
        received = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received.extend(_unpack_fds(payload))
        for fd in received:
            os.set_inheritable(fd, False)
        if not data:
            for fd in received:
                os.close(fd)
            raise PeerClosed("peer closed the channel (it exited or crashed)")
        if flags & socket.MSG_TRUNC:
            raise ProtocolError("message truncated")
        try:
            msg = json.loads(data)
            if not isinstance(msg, dict) or "type" not in msg:
                raise ValueError("not a typed object")
        except ValueError as err:
            raise ProtocolError(f"malformed message: {err}") from err
        if msg["type"] == "error":
            for fd in received:
                os.close(fd)
            raise error_from_fields(msg)
        return msg, received

    def expect(self, type_: str, timeout: float | None = DEFAULT_TIMEOUT) -> tuple[dict, list[int]]:
        """Receive one message and insist on its type."""
        msg, fds = self.recv(timeout)
        if msg["type"] != type_:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"expected {type_!r} from peer, got {msg['type']!r}")
        return msg, fds
