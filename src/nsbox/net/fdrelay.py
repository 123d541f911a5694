"""The fd-passing port-forward relay: a detached, single-threaded process in the HOST network
namespace that listens on the published host ports and joins each accepted connection to a socket
created in the container's namespace (from ``fdsource``), connected there to the container port.
Bytes move between the two kernel sockets with splice(2) through a pipe per direction: no
user-space TCP stack and no copy through Python buffers.

    fdforward.start_forward --posix_spawn--> relay (this module, `python -I -S`)
        relay: open /proc/PID/ns/{user,net} + a pidfd of PID, bind+listen every host port,
               fork the source (it joins the container's user+net ns), wait for its first batch,
               write {"ready": ...} or {"error": ...} on the status fd (3), close it, serve.
        per connection: accept (host ns) -> take a pooled container-ns socket -> connect it to
               TARGET:container_port (non-blocking) -> splice both ways; half-close passes through.
        udp: per client address a pooled container-ns datagram socket connected to TARGET:port;
               datagrams are copied both ways (recv/send: splice has no datagram path); a flow idle
               for UDP_IDLE seconds is closed.
        ends on SIGTERM/SIGINT, when PID exits (pidfd readable) or when the source dies.

Started as ``python -I -S -c '...main()' PID TARGET_IP LO_UP PROTO/HOST_IP/HOST_PORT/CONTAINER_PORT...``
(HOST_IP "-" for every address) with the status pipe on fd 3, where it writes one line:
``ready SOURCE_PID`` or ``error MESSAGE``. (No json here: it costs ~8 ms of start-up through re.)
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import sys
import time

from ..linux.pidfd import pidfd_open
from ..proc.fork import fork_child

STATUS_FD = 3
POOL_LOW, POOL_BATCH = 8, 32
CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
IN, OUT, ERRS = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR | select.EPOLLHUP
PUMP_ROUNDS = 16
UDP_IDLE = 60.0
UDP_BURST = 64
MAX_DATAGRAM = 65535


def _established(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


class Stop(Exception):
    pass


class StartError(Exception):
    pass


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        import fcntl
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # over /proc/sys/fs/pipe-max-size or the user's pipe budget: the default 64 KiB works too
    return r, w


class Flow:
    """One direction src -> dst through a pipe holding ``pending`` bytes."""
    __slots__ = ("src", "dst", "r", "w", "pending", "eof", "done", "blocked")

    def __init__(self, src: socket.socket, dst: socket.socket):
        self.src, self.dst = src, dst
        self.r, self.w = _pipe()
        self.pending = 0
        self.eof = self.done = self.blocked = False

    def pump(self) -> None:
        """Move what can move now. Raises OSError on a reset or broken connection."""
        for _ in range(PUMP_ROUNDS):
            if self.pending:
                try:
                    n = os.splice(self.r, self.dst.fileno(), self.pending, flags=SPLICE_FLAGS)
                except BlockingIOError:
                    self.blocked = True
                    return
                self.pending -= n
                continue
            self.blocked = False
            if self.eof:
                if not self.done:
                    self.done = True
                    try:
                        self.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            try:
                n = os.splice(self.src.fileno(), self.w, CHUNK, flags=SPLICE_FLAGS)
            except BlockingIOError:
                return
            if n == 0:
                self.eof = True
            self.pending += n

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


class Conn:
    __slots__ = ("client", "backend", "flows", "connected", "masks")

    def __init__(self, client: socket.socket, backend: socket.socket):
        self.client, self.backend = client, backend
        self.flows: tuple[Flow, Flow] | None = None
        self.connected = False
        self.masks = {client.fileno(): 0, backend.fileno(): 0}


class UdpFlow:
    __slots__ = ("host", "client", "sock", "last")

    def __init__(self, host: socket.socket, client: tuple, sock: socket.socket):
        self.host, self.client, self.sock, self.last = host, client, sock, time.monotonic()


class Relay:
    def __init__(self, config: dict):
        self.pid = int(config["pid"])
        self.target = config.get("target_ip") or "127.0.0.1"
        self.ports = config["ports"]
        self.lo_up = bool(config.get("loopback_up", True))
        self.ep = select.epoll()
        self.listeners: dict[int, tuple[socket.socket, int]] = {}
        self.udp_listeners: dict[int, tuple[socket.socket, int]] = {}
        self.udp_flows: dict[tuple[int, tuple], "UdpFlow"] = {}     # (listener fd, client) -> flow
        self.udp_by_fd: dict[int, "UdpFlow"] = {}
        self.upool: list[socket.socket] = []
        self.uasked = False
        self.conns: dict[int, Conn] = {}
        self.pool: list[socket.socket] = []
        self.asked = False
        self.source = None
        self.source_pid = 0
        self.pidfd = -1

    # ---- start ------------------------------------------------------------------------------
    def open_target(self) -> tuple[int, int]:
        path = f"/proc/{self.pid}/ns"
        try:
            self.pidfd = pidfd_open(self.pid)
            netns = os.open(f"{path}/net", os.O_RDONLY | os.O_CLOEXEC)
            userns = os.open(f"{path}/user", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            if err.errno in (errno.ESRCH, errno.ENOENT):
                raise StartError(f"process {self.pid} does not exist") from None
            raise StartError(f"open {err.filename or path}: {err.strerror} (the namespaces of process "
                             f"{self.pid} are not the caller's to join)") from None
        return userns, netns

    def listen(self) -> None:
        for m in self.ports:
            addr = m.get("host_ip") or "0.0.0.0"
            udp = m.get("protocol", "tcp") == "udp"
            kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
            s = socket.socket(socket.AF_INET, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            if not udp:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, int(m["host_port"])))
                if not udp:
                    s.listen(512)
            except OSError as err:
                s.close()
                spec = f"{addr}:{m['host_port']}/{'udp' if udp else 'tcp'}"
                if err.errno == errno.EADDRINUSE:
                    raise StartError(f"host port {spec} is already in use") from None
                if err.errno == errno.EACCES:
                    raise StartError(f"host port {spec}: binding a port below "
                                     "net.ipv4.ip_unprivileged_port_start needs privilege") from None
                if err.errno == errno.EADDRNOTAVAIL:
                    raise StartError(f"host port {spec}: {addr} is not an address of this host") from None
                raise StartError(f"bind {spec}: {err.strerror}") from None
            if udp:
                self.udp_listeners[s.fileno()] = (s, int(m["container_port"]))
            else:
                self.listeners[s.fileno()] = (s, int(m["container_port"]))

    def start_source(self, userns: int, netns: int) -> None:
        from . import fdsource
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        path = f"/proc/{self.pid}/ns"
        me = os.getpid()
        self.source_pid = fork_child(lambda: fdsource.serve(theirs.fileno(), userns, netns, path,
                                                            POOL_BATCH, self.lo_up, me))
        theirs.close()
        os.close(userns)
        os.close(netns)
        self.source = mine
        r, _, _ = select.select([mine], [], [], 15)
        if not r:
            raise StartError("the socket source in the container's network namespace did not answer in 15 s")
        self.take_batch(first=True)
        if self.udp_listeners:
            self.ask_more()
            if not select.select([mine], [], [], 15)[0]:
                raise StartError("the socket source did not send datagram sockets in 15 s")
            self.take_batch(first=True)
        mine.setblocking(False)

    def take_batch(self, first: bool = False) -> None:
        try:
            msg, fds, _, _ = socket.recv_fds(self.source, 4096, POOL_BATCH * 2)
        except BlockingIOError:
            return
        if msg.startswith(b"S"):
            self.pool.extend(socket.socket(fileno=fd) for fd in fds)
            self.asked = False
            return
        if msg.startswith(b"U"):
            self.upool.extend(socket.socket(fileno=fd) for fd in fds)
            self.uasked = False
            return
        for fd in fds:
            os.close(fd)
        text = msg[1:].decode(errors="replace") if msg else "exited"
        if first:
            raise StartError(f"joining the network namespace of process {self.pid}: {text}")
        raise Stop(f"socket source: {text}")

    def ask_more(self) -> None:
        if not self.asked and len(self.pool) < POOL_LOW:
            self.source.send(str(POOL_BATCH).encode())
            self.asked = True
        if self.udp_listeners and not self.uasked and len(self.upool) < POOL_LOW:
            self.source.send(f"U{POOL_BATCH}".encode())
            self.uasked = True

    # ---- event loop -------------------------------------------------------------------------
    def register_all(self) -> None:
        for fd in (*self.listeners, *self.udp_listeners):
            self.ep.register(fd, IN)
        self.ep.register(self.source.fileno(), IN)
        self.ep.register(self.pidfd, IN)

    def set_mask(self, conn: Conn, sock: socket.socket, mask: int) -> None:
        fd = sock.fileno()
        old = conn.masks[fd]
        if mask == old:
            return
        if not old:
            self.ep.register(fd, mask)
        elif not mask:
            self.ep.unregister(fd)   # nothing wanted: not even HUP, which would fire in a loop
        else:
            self.ep.modify(fd, mask)
        conn.masks[fd] = mask

    def accept(self, lfd: int) -> None:
        lsock, cport = self.listeners[lfd]
        while self.pool:
            try:
                client, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break   # ECONNABORTED and friends: the next one
            client.setblocking(False)
            backend = self.pool.pop()
            conn = Conn(client, backend)
            err = backend.connect_ex((self.target, cport))
            self.conns[client.fileno()] = self.conns[backend.fileno()] = conn
            if err == errno.EINPROGRESS and _established(backend):
                err = 0   # loopback: the handshake completed inside connect(); skip an epoll round
            if err == 0:
                self.connected(conn)
            elif err == errno.EINPROGRESS:
                self.set_mask(conn, backend, OUT)
            else:
                self.drop(conn)
        self.ask_more()
        # An empty pool: stop accepting until the source refills it (the backlog holds the clients).
        for fd in self.listeners:
            self.ep.modify(fd, IN if self.pool else 0)

    def connected(self, conn: Conn) -> None:
        err = conn.backend.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.drop(conn)
            return
        conn.connected = True
        conn.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.flows = (Flow(conn.client, conn.backend), Flow(conn.backend, conn.client))
        self.pump(conn)

    def pump(self, conn: Conn) -> None:
        up, down = conn.flows
        try:
            up.pump()
            down.pump()
        except OSError:
            self.drop(conn)
            return
        if up.done and down.done:
            self.drop(conn)
            return
        # a socket is read while its outgoing flow is not stuck, and written while its incoming one is
        self.set_mask(conn, conn.client, (0 if up.eof or up.blocked else IN) | (OUT if down.blocked else 0))
        self.set_mask(conn, conn.backend, (0 if down.eof or down.blocked else IN) | (OUT if up.blocked else 0))

    def drop(self, conn: Conn) -> None:
        for sock in (conn.client, conn.backend):
            fd = sock.fileno()
            if conn.masks.get(fd):
                self.ep.unregister(fd)
            self.conns.pop(fd, None)
            sock.close()
        if conn.flows:
            for flow in conn.flows:
                flow.close()
            conn.flows = None

    def serve(self) -> None:
        self.register_all()
        source_fd = self.source.fileno()
        while True:
            events = self.ep.poll(UDP_IDLE / 4 if self.udp_flows else -1)
            if self.udp_flows:
                self.expire_udp()
            for fd, ev in events:
                if fd in self.listeners:
                    self.accept(fd)
                elif fd in self.udp_listeners:
                    self.udp_from_host(fd)
                elif fd in self.udp_by_fd:
                    self.udp_from_container(self.udp_by_fd[fd])
                elif fd == source_fd:
                    self.take_batch()
                    if self.pool:
                        for lfd in self.listeners:
                            self.ep.modify(lfd, IN)
                elif fd == self.pidfd:
                    raise Stop(f"process {self.pid} exited")
                else:
                    conn = self.conns.get(fd)
                    if conn is None:
                        continue
                    if not conn.connected:
                        self.connected(conn)
                    else:
                        self.pump(conn)

    # ---- udp --------------------------------------------------------------------------------
    def udp_from_host(self, lfd: int) -> None:
        lsock, cport = self.udp_listeners[lfd]
        now = time.monotonic()
        for _ in range(UDP_BURST):
            try:
                data, client = lsock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue   # ICMP errors reported on the socket: the next datagram
            flow = self.udp_flows.get((lfd, client))
            if flow is None:
                if not self.upool:
                    self.ask_more()
                    continue   # no socket yet: dropped, as a full queue would (udp is lossy)
                sock = self.upool.pop()
                try:
                    sock.connect((self.target, cport))
                except OSError:
                    sock.close()
                    continue
                flow = UdpFlow(lsock, client, sock)
                self.udp_flows[(lfd, client)] = flow
                self.udp_by_fd[sock.fileno()] = flow
                self.ep.register(sock.fileno(), IN)
            flow.last = now
            try:
                flow.sock.send(data)
            except OSError:
                pass   # ECONNREFUSED from an earlier datagram, EAGAIN: dropped
        self.ask_more()

    def udp_from_container(self, flow: "UdpFlow") -> None:
        flow.last = time.monotonic()
        for _ in range(UDP_BURST):
            try:
                data = flow.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            try:
                flow.host.sendto(data, flow.client)
            except OSError:
                pass

    def expire_udp(self) -> None:
        old = time.monotonic() - UDP_IDLE
        for flow in [f for f in self.udp_by_fd.values() if f.last < old]:
            self.udp_close(flow)

    def udp_close(self, flow: "UdpFlow") -> None:
        fd = flow.sock.fileno()
        self.ep.unregister(fd)
        del self.udp_by_fd[fd]
        self.udp_flows.pop((flow.host.fileno(), flow.client), None)
        flow.sock.close()

    def shutdown(self) -> None:
        for conn in list({id(c): c for c in self.conns.values()}.values()):
            self.drop(conn)
        for flow in list(self.udp_by_fd.values()):
            self.udp_close(flow)
        for sock, _ in (*self.listeners.values(), *self.udp_listeners.values()):
            sock.close()
        for sock in (*self.pool, *self.upool):
            sock.close()
        if self.source is not None:
            self.source.close()
        if self.source_pid:
            try:
                os.kill(self.source_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.source_pid, 0)
            except ChildProcessError:
                pass


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
        os.close(fd)
    except OSError:
        pass


def _on_signal(signum, frame):
    raise Stop(f"signal {signum}")


def parse_args(argv: list[str]) -> dict:
    ports = []
    for spec in argv[3:]:
        proto, host_ip, host_port, container_port = spec.split("/")
        ports.append({"protocol": proto, "host_ip": "" if host_ip == "-" else host_ip,
                      "host_port": int(host_port), "container_port": int(container_port)})
    return {"pid": int(argv[0]), "target_ip": argv[1], "loopback_up": argv[2] == "1", "ports": ports}


def format_args(pid: int, target_ip: str, loopback_up: bool, ports: list) -> list[str]:
    return [str(pid), target_ip, "1" if loopback_up else "0",
            *(f"{m.protocol}/{m.host_ip or '-'}/{m.host_port}/{m.container_port}" for m in ports)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_args(argv)
    os.chdir("/")   # a detached daemon keeps no directory of the caller busy
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    relay = Relay(config)
    try:
        try:
            userns, netns = relay.open_target()
            relay.listen()
            relay.start_source(userns, netns)
        except StartError as err:
            _report(STATUS_FD, f"error {err}")
            return 1
        _report(STATUS_FD, f"ready {relay.source_pid}")
        try:
            relay.serve()
        except Stop:
            pass
        return 0
    except Stop:
        _report(STATUS_FD, "error interrupted while starting")
        return 1
    finally:
        relay.shutdown()
