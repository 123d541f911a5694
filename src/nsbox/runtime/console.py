"""--console-socket: hand the pty master to whoever listens (conmon, containerd-shim, recvtty), as runc."""

from __future__ import annotations

import array
import socket

from ..errors import NsboxError


def send_console(path: str, master_fd: int, name: str = "/dev/ptmx") -> None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            sock.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [master_fd]))])
    except OSError as err:
        raise NsboxError(f"console socket {path}: {err.strerror or err}") from err
