"""The fd-passing forward as an unprivileged user: a server inside an ``unshare -Urn`` namespace is
reachable on 127.0.0.1:HOSTPORT; many sequential connections and bulk transfers both ways arrive
intact (sha256); udp flows per client; stop leaves no process and no listening socket; clear errors
for a busy port, a dead pid, a privileged port and a namespace not the user's, with nothing left."""

from __future__ import annotations

import os
import socket
import time

import pytest

from nsbox.errors import NetworkError
from nsbox.net.fdforward import ForwardInfo, forward_alive, start_forward, stop_forward
from nsbox.net.ports import PortMapping
from tests.conftest import require
from tests.fixtures.net_helpers import free_port, start_in_netns
from tests.fixtures.netfast_helpers import (SERVE_PORT, children_of, download, echo_duplex, gone,
                                            listening_ports, pattern_hash, ping, start_server, upload)

pytestmark = pytest.mark.timeout(120)
MB = 1 << 20


@pytest.fixture
def rootless():
    require(os.geteuid() != 0, "an unprivileged user (tests/userns runs as nsbox-test)")


def forward(cleanup, pid, ports, **kw) -> ForwardInfo:
    info = start_forward(pid, ports, **kw)
    cleanup.add(stop_forward, info)
    return info


def test_rootless_forward_connections_and_bulk(rootless, cleanup):
    server = start_server(cleanup)
    port = free_port()
    info = forward(cleanup, server.pid, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    # The relay stays in the host netns. Its source joined the container's user+net ns and is not
    # dumpable (DESIGN §4.6): even its owner cannot look at its namespaces or memory.
    ns = lambda pid, kind: os.readlink(f"/proc/{pid}/ns/{kind}")  # noqa: E731
    assert ns(info.pid, "net") == ns(os.getpid(), "net") != ns(server.pid, "net")
    with pytest.raises(PermissionError):
        ns(info.source_pid, "net")
    # The server sees the connections come from its own loopback: no NAT, no user-mode stack.
    fds = lambda: len(os.listdir(f"/proc/{info.pid}/fd"))  # noqa: E731
    assert ping(port) == "pong 127.0.0.1"
    baseline = fds()
    for _ in range(300):
        assert ping(port) == "pong 127.0.0.1"
    # every connection's two sockets and two pipes are closed (the socket pool refills in batches)
    assert fds() <= baseline + 40
    n = 48 * MB + 12345
    peer, count, digest = upload(port, 1, n)
    assert (peer, count, digest) == ("127.0.0.1", n, pattern_hash(1, n))
    assert download(port, 2, n) == (n, pattern_hash(2, n))
    assert echo_duplex(port, 3, 16 * MB + 7) == (16 * MB + 7, pattern_hash(3, 16 * MB + 7))
    assert port in listening_ports()

    stop_forward(info)
    assert gone(info.pid) and gone(info.source_pid)
    assert port not in listening_ports()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    stop_forward(info)  # idempotent


def test_rootless_forward_concurrent_connections(rootless, cleanup):
    from concurrent.futures import ThreadPoolExecutor
    server = start_server(cleanup)
    port = free_port()
    forward(cleanup, server.pid, [PortMapping(port, SERVE_PORT, host_ip="127.0.0.1")])
    n = 2 * MB + 1
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda seed: download(port, seed, n), range(64)))
    assert results == [(n, pattern_hash(seed, n)) for seed in range(64)]


def test_rootless_forward_info_is_json_and_stops_from_json(rootless, cleanup):
    import json
    server = start_server(cleanup)
    port = free_port()
    info = forward(cleanup, server.pid, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    data = json.loads(json.dumps(info.to_json()))
    assert ForwardInfo.from_json(data) == info and forward_alive(info)
    stop_forward(data)
    assert gone(info.pid) and port not in listening_ports()


def test_rootless_forward_ends_with_the_container(rootless, cleanup):
    server = start_server(cleanup)
    port = free_port()
    info = forward(cleanup, server.pid, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    assert ping(port).startswith("pong")
    server.kill()
    server.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (gone(info.pid) and gone(info.source_pid)):
        time.sleep(0.02)
    assert gone(info.pid) and gone(info.source_pid)
    assert port not in listening_ports()


def test_rootless_refused_connection_closes_the_client(rootless, cleanup):
    server = start_server(cleanup)
    port = free_port()
    forward(cleanup, server.pid, [f"127.0.0.1:{port}:{SERVE_PORT + 1}"])   # nothing listens there
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.settimeout(10)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass


def test_rootless_port_in_use(rootless, cleanup):
    server = start_server(cleanup)
    busy = socket.socket()
    cleanup.add(busy.close)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    free = free_port()
    before = children_of(os.getpid())
    with pytest.raises(NetworkError, match=rf"host port 127.0.0.1:{port}/tcp is already in use"):
        start_forward(server.pid, [f"127.0.0.1:{free}:{SERVE_PORT}", f"127.0.0.1:{port}:{SERVE_PORT}"])
    assert children_of(os.getpid()) == before
    assert free not in listening_ports()


def test_rootless_dead_pid(rootless, cleanup):
    server = start_server(cleanup)
    pid = server.pid
    server.kill()
    server.wait(10)
    port = free_port()
    before = children_of(os.getpid())
    with pytest.raises(NetworkError, match=rf"process {pid} does not exist"):
        start_forward(pid, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    assert children_of(os.getpid()) == before and port not in listening_ports()


def test_rootless_udp_forward(rootless, cleanup):
    """udp: each client address gets its own flow; answers go back to the right client."""
    server = start_in_netns(cleanup, ["userve", str(SERVE_PORT)], unshare=("-Urn",))
    tcp_server = start_server(cleanup)
    uport, tport = free_port(), free_port()
    info = forward(cleanup, server.pid, [f"127.0.0.1:{uport}:{SERVE_PORT}/udp"])
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5)]
    for c in clients:
        cleanup.add(c.close)
        c.settimeout(5)
    for rnd in range(20):
        for i, c in enumerate(clients):
            c.sendto(b"d%d-%d" % (i, rnd), ("127.0.0.1", uport))
        for i, c in enumerate(clients):
            assert c.recvfrom(4096)[0] == b"127.0.0.1 d%d-%d" % (i, rnd)
    big = b"x" * 60000
    clients[0].sendto(big, ("127.0.0.1", uport))
    assert clients[0].recvfrom(65535)[0] == b"127.0.0.1 " + big[:4096]   # the echo reads 4096 bytes
    stop_forward(info)
    assert gone(info.pid) and gone(info.source_pid)
    with open("/proc/net/udp") as f:
        assert f":{uport:04X} " not in f.read()
    # tcp and udp mappings in one forward
    info = forward(cleanup, tcp_server.pid, [f"127.0.0.1:{tport}:{SERVE_PORT}", f"127.0.0.1:{uport}:{SERVE_PORT}/udp"])
    assert ping(tport) == "pong 127.0.0.1"


def test_rootless_privileged_port(rootless, cleanup):
    server = start_server(cleanup)
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        require(int(f.read()) > 80, "net.ipv4.ip_unprivileged_port_start above 80")
    before = children_of(os.getpid())
    with pytest.raises(NetworkError, match=r"127.0.0.1:80/tcp: binding a port below"):
        start_forward(server.pid, [f"127.0.0.1:80:{SERVE_PORT}"])
    with pytest.raises(NetworkError, match=r"127.0.0.1:80/udp: binding a port below"):
        start_forward(server.pid, [f"127.0.0.1:80:{SERVE_PORT}/udp"])
    assert children_of(os.getpid()) == before


def test_rootless_foreign_namespace_is_refused(rootless, cleanup):
    """A namespace the user does not own (pid 1's) cannot be joined: one line, nothing left."""
    port = free_port()
    before = children_of(os.getpid())
    with pytest.raises(NetworkError, match=r"fd forward: open /proc/1/ns/net: Permission denied"):
        start_forward(1, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    assert children_of(os.getpid()) == before and port not in listening_ports()
