"""The fd-forward pieces that need no namespace: the JSON info, argument checks, the splice flow
between two real TCP connections on the host loopback (half-close included) and the relay's
bind errors."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest

from nsbox.errors import NetworkError, UsageError
from nsbox.net import fdrelay
from nsbox.net.fdforward import ForwardInfo, forward_alive, start_forward, stop_forward
from nsbox.net.ports import PortMapping


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        a = socket.create_connection(lst.getsockname())
        b, _ = lst.accept()
    return a, b


def test_info_json_round_trip():
    info = ForwardInfo(pid=123, start_time=456, source_pid=124, target_pid=99, target_ip="127.0.0.1",
                       ports=[PortMapping(8080, 80, "tcp", "127.0.0.1"), PortMapping(9090, 90)])
    data = json.loads(json.dumps(info.to_json()))
    assert data["driver"] == "fdforward" and data["ports"][0]["host_port"] == 8080
    assert ForwardInfo.from_json(data) == info


def test_dead_relay_is_not_alive_and_stop_is_a_no_op():
    info = ForwardInfo(pid=2 ** 22 + 1, start_time=1, source_pid=0, target_pid=1, target_ip="127.0.0.1")
    assert not forward_alive(info)
    stop_forward(info)   # nothing to do, no error
    stop_forward(info.to_json())


@pytest.mark.parametrize("pid, ports, message", [
    (os.getpid(), ["1234:80", "1234:81"], "use the same host port"),
    (os.getpid(), [], "no ports to publish"),
    (0, ["1234:80"], "is not a process id"),
    (2 ** 22 + 1, ["1234:80"], f"process {2 ** 22 + 1} does not exist"),
])
def test_bad_arguments_are_one_clear_error(pid, ports, message):
    with pytest.raises((NetworkError, UsageError), match=message):
        start_forward(pid, ports)


def test_flow_splices_both_ways_with_half_close():
    client, relay_front = tcp_pair()      # client <-> relay (host side)
    relay_back, server = tcp_pair()       # relay <-> server (container side)
    for s in (relay_front, relay_back):
        s.setblocking(False)
    up, down = fdrelay.Flow(relay_front, relay_back), fdrelay.Flow(relay_back, relay_front)
    try:
        payload = os.urandom(3 * 1024 * 1024 + 17)
        sent = 0
        got = hashlib.sha256()
        received = 0
        server.setblocking(False)
        client.setblocking(False)
        while received < len(payload):
            if sent < len(payload):
                try:
                    sent += client.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    client.shutdown(socket.SHUT_WR)
            up.pump()
            try:
                data = server.recv(1 << 16)
                got.update(data)
                received += len(data)
            except BlockingIOError:
                pass
        assert got.hexdigest() == hashlib.sha256(payload).hexdigest()
        server.setblocking(True)
        server.settimeout(5)
        up.pump()
        assert up.eof and up.done and server.recv(10) == b""   # the client's FIN reached the server
        server.sendall(b"answer")
        server.shutdown(socket.SHUT_WR)
        client.setblocking(True)
        client.settimeout(5)
        for _ in range(100):
            down.pump()
            if down.done:
                break
        assert client.recv(100) == b"answer" and client.recv(10) == b""
    finally:
        up.close()
        down.close()
        for s in (client, relay_front, relay_back, server):
            s.close()


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_relay_reports_a_busy_port(proto):
    busy = socket.socket(type=socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    if proto == "tcp":
        busy.listen(1)
    port = busy.getsockname()[1]
    relay = fdrelay.Relay({"pid": os.getpid(), "ports": [{"host_port": port, "container_port": 80,
                                                           "host_ip": "127.0.0.1", "protocol": proto}]})
    try:
        with pytest.raises(fdrelay.StartError, match=f"host port 127.0.0.1:{port}/{proto} is already in use"):
            relay.listen()
    finally:
        busy.close()
        relay.shutdown()
