"""The socket source: a forked child of the relay that lives in the container's network namespace
and hands out fresh, unconnected TCP sockets created there (SCM_RIGHTS).

A socket keeps the network namespace it was created in, whoever holds it later: the relay (in the
host namespace) connect()s these sockets to the container's port, so the connection is made inside
the container, by the container's kernel stack, while the relay never leaves the host namespace. The
source is needed because a rootless process that joined the container's user+net namespaces cannot
go back to the host's (it has no CAP_SYS_ADMIN in the initial user namespace).

Protocol on a SOCK_SEQPACKET socketpair (one datagram each):

    relay                                   source (in the container netns)
      |  <--- b"S" + N sockets (first batch)  |   ready
      |  <--- b"E" + message                  |   setns or set-up failed; the source exits
      |  --- b"<N>" --->                      |   make N more
      |  <--- b"S" + N sockets                |
      |  --- b"U<N>" --->                     |   make N datagram sockets
      |  <--- b"U" + N sockets                |
      |  --- EOF --->                         |   the source exits

Child-side rules (DESIGN §4): not dumpable before joining, pdeathsig, every other fd closed,
os._exit only (the caller forks it through proc.fork.fork_child).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct

from ..linux.consts import CLONE_NEWNET, CLONE_NEWUSER
from ..linux.fd import close_fds_except
from ..linux.prctl import set_dumpable, set_pdeathsig
from ..linux.sched import setns

MAX_BATCH = 64
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sh22x"


def join_netns(userns_fd: int, netns_fd: int, path: str) -> None:
    """setns into the net namespace; first into its user namespace if we lack the capability (rootless)."""
    try:
        setns(netns_fd, CLONE_NEWNET, f"{path}/net")
        return
    except OSError as err:
        if err.errno != 1 or userns_fd < 0:   # EPERM: rootless, join the owning user namespace first
            raise
    setns(userns_fd, CLONE_NEWUSER, f"{path}/user")
    setns(netns_fd, CLONE_NEWNET, f"{path}/net")


def loopback_up() -> bool:
    """Bring ``lo`` up (a fresh netns has it down). Returns True if it had to be changed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(_IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0)))[1]
        if flags & IFF_UP:
            return False
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
        return True


def make_sockets(n: int, kind: int = socket.SOCK_STREAM) -> list[socket.socket]:
    return [socket.socket(socket.AF_INET, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC) for _ in range(n)]


def send_batch(chan: socket.socket, n: int, udp: bool = False) -> None:
    socks = make_sockets(n, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        socket.send_fds(chan, [b"U" if udp else b"S"], [s.fileno() for s in socks])
    finally:
        for s in socks:
            s.close()


def serve(chan_fd: int, userns_fd: int, netns_fd: int, ns_path: str, first_batch: int, bring_up_lo: bool,
          parent_pid: int) -> int:
    """Body of the forked source. Never returns to the caller's code (fork_child _exits)."""
    set_dumpable(False)
    set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent_pid:   # the relay died before pdeathsig was armed
        return 1
    close_fds_except({chan_fd, userns_fd, netns_fd} - {-1})
    chan = socket.socket(fileno=chan_fd)
    try:
        join_netns(userns_fd, netns_fd, ns_path)
        for fd in (userns_fd, netns_fd):
            if fd >= 0:
                os.close(fd)
        if bring_up_lo:
            loopback_up()
        send_batch(chan, first_batch)
    except OSError as err:
        what = getattr(err, "syscall", None) or "set-up"
        where = f" {err.filename}" if err.filename else ""
        chan.send(f"E{what}{where}: {err.strerror or err}".encode())
        return 1
    while True:
        try:
            data = chan.recv(16)
        except InterruptedError:
            continue
        if not data:
            return 0
        try:
            udp = data.startswith(b"U")
            send_batch(chan, max(1, min(MAX_BATCH, int(data[1:] if udp else data))), udp)
        except (OSError, ValueError) as err:
            chan.send(f"Esocket: {err}".encode())
            return 1
