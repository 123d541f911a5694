"""Published ports without a user-space TCP stack: the fd-passing forward (rootless fast path).

    info = start_forward(pid, [PortMapping(8080, 80)])   # 127.0.0.1:8080 / *:8080 -> port 80 inside pid's netns
    json.dumps(info.to_json()); ForwardInfo.from_json(...)
    stop_forward(info)                                   # no process, no listening socket left

How (see ``fdrelay`` and ``fdsource``): a detached relay process stays in the host network namespace
and listens on the host ports. A forked child of it joins the container's user+net namespaces
(rootless: it cannot come back, so it stays there) and sends the relay fresh TCP sockets created in
the container's namespace over a socketpair (SCM_RIGHTS). A socket keeps its namespace, so the relay
connect()s it to the container port *inside* the container; each accepted host connection is joined
to one such socket with splice(2) through a pipe per direction. The kernel's TCP stacks on both
sides do the work (compare pasta's spliced loopback path, and slirp4netns's user-mode stack).

UDP: per client address, a datagram socket created in the container's namespace and connected to the
container port; datagrams are copied both ways (splice has no datagram path); idle flows end after
60 s. The forward ends on stop_forward, or by itself when ``pid`` exits. Inside the namespace,
``lo`` is brought up if it is down (a fresh netns has it down; the default target is 127.0.0.1).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field

from ..errors import NetworkError
from .fdrelay import format_args
from .ports import PortMapping, parse_ports

START_TIMEOUT = 20.0


@dataclass(frozen=True)
class ForwardInfo:
    pid: int                  # the relay
    start_time: int | None    # field 22 of /proc/<relay>/stat: a reused pid is never signalled
    source_pid: int           # the relay's child inside the container netns
    target_pid: int
    target_ip: str
    ports: list[PortMapping] = field(default_factory=list)
    driver: str = "fdforward"

    def to_json(self) -> dict:
        return {"driver": self.driver, "pid": self.pid, "start_time": self.start_time,
                "source_pid": self.source_pid, "target_pid": self.target_pid, "target_ip": self.target_ip,
                "ports": [p.to_json() for p in self.ports]}

    @classmethod
    def from_json(cls, data: dict) -> "ForwardInfo":
        return cls(pid=int(data["pid"]), start_time=data.get("start_time"), source_pid=int(data["source_pid"]),
                   target_pid=int(data["target_pid"]), target_ip=data["target_ip"],
                   ports=[PortMapping.from_json(p) for p in data["ports"]], driver=data.get("driver", "fdforward"))


def _start_time(pid: int) -> int | None:
    """Start time of a live pid (None if gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def forward_alive(info: ForwardInfo) -> bool:
    st = _start_time(info.pid)
    return st is not None and (info.start_time is None or st == info.start_time)


def _check(pid: int, ports: list[PortMapping]) -> None:
    if not isinstance(pid, int) or pid <= 0:
        raise NetworkError(f"fd forward: {pid!r} is not a process id")
    if not os.path.lexists(f"/proc/{pid}/ns/net"):
        raise NetworkError(f"fd forward: process {pid} does not exist")
    if not ports:
        raise NetworkError("fd forward: no ports to publish")


def _spawn(args: list[str]) -> tuple[int, int]:
    """posix_spawn a fresh ``python -I -S`` relay (safe from a threaded caller) with the status pipe on fd 3."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = f"import sys; sys.path.insert(0, {pkg_parent!r}); from nsbox.net.fdrelay import main; sys.exit(main())"
    r, w = os.pipe2(os.O_CLOEXEC)
    if w == 3:   # dup2(3, 3) would keep O_CLOEXEC
        w2 = os.dup(w)
        os.close(w)
        w = w2
    try:
        actions = [(os.POSIX_SPAWN_DUP2, w, 3),
                   (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
                   (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", code, *args],
                             os.environ, file_actions=actions, setsid=True)
    except OSError as err:
        os.close(r)
        raise NetworkError(f"fd forward: starting the relay ({sys.executable}): {err.strerror}") from None
    finally:
        os.close(w)
    return pid, r


def _read_status(pid: int, r: int, timeout: float) -> str:
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                _kill_and_reap(pid)
                raise NetworkError(f"fd forward: the relay did not report ready within {timeout:.0f} s")
            chunk = os.read(r, 4096)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
    if not buf:
        _, status = os.waitpid(pid, 0)
        raise NetworkError(f"fd forward: the relay exited before it was ready (wait status {status})")
    return buf.decode(errors="replace").strip()


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid, block=True)


def _reap(pid: int, block: bool = False) -> bool:
    try:
        done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False


def start_forward(pid: int, ports, target_ip: str = "127.0.0.1", loopback_up: bool = True,
                  timeout: float = START_TIMEOUT) -> ForwardInfo:
    """Publish ``ports`` (PortMapping or "-p" strings, tcp/udp) of the network namespace of ``pid``.

    Raises NetworkError with one clear line (process gone, host port in use, privileged port,
    namespace not joinable); nothing is left running then.
    """
    mappings = parse_ports(ports)
    _check(pid, mappings)
    relay, r = _spawn(format_args(pid, target_ip, loopback_up, mappings))
    word, _, rest = _read_status(relay, r, timeout).partition(" ")
    if word != "ready":
        _reap(relay, block=True)
        raise NetworkError(f"fd forward: {rest if word == 'error' else word + ' ' + rest}")
    return ForwardInfo(pid=relay, start_time=_start_time(relay), source_pid=int(rest),
                       target_pid=pid, target_ip=target_ip, ports=mappings)


def stop_forward(info: ForwardInfo | dict, timeout: float = 5.0) -> None:
    """End the relay (and with it its source child and every listening socket). Idempotent."""
    if isinstance(info, dict):
        info = ForwardInfo.from_json(info)
    if not forward_alive(info):
        _reap(info.pid)
        return
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(info.pid) or not forward_alive(info):
            return
        time.sleep(0.005)
    try:
        os.kill(info.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(info.pid, block=True)
