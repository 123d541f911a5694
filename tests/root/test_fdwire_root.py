"""`nsbox run --network none -p ...` as root: the ports are published through the fd-passing
forward into the container's private network namespace (only lo, no route out). Foreground and
detached (-d): a server inside answers on 127.0.0.1:HOSTPORT, bulk data arrives intact both ways,
udp too; `nsbox ps` shows the ports; after exit / stop / rm / a killed front end no relay process
and no listening socket remain; a busy host port is one line with nothing created."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.fdwire_helpers import (MB, RUNC, SERVE_PORT, alive, box, listening, orphan_then_kill_init, refused,
                                           relay_target, relays, server_args, start_foreground, udp_ask, wait_for,
                                           wait_logs)
from tests.fixtures.net_helpers import free_port
from tests.fixtures.netfast_helpers import download, echo_duplex, pattern_hash, ping, upload



@pytest.fixture
def env(tmp_path, cleanup):
    require(os.geteuid() == 0, "root")
    require_tool("conmon")
    env = {**os.environ, "NSBOX_NET_ROOT": str(tmp_path / "nets"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}

    def remove_all():
        root = env["NSBOX_BOX_ROOT"]
        for name in (os.listdir(root) if os.path.isdir(root) else []):
            box(env, "rm", "-f", name)
    cleanup.add(remove_all)
    return env


def check_traffic(port: int, n: int = 16 * MB + 5) -> None:
    assert ping(port) == "pong 127.0.0.1"      # the server sees the connection come from its own lo
    assert upload(port, 21, n) == ("127.0.0.1", n, pattern_hash(21, n))
    assert download(port, 22, n) == (n, pattern_hash(22, n))
    assert echo_duplex(port, 23, 4 * MB) == (4 * MB, pattern_hash(23, 4 * MB))


def nothing_left(*ports: int) -> None:
    for port in ports:
        assert wait_for(lambda: not relays(port)), relays(port)
        assert not listening(port)
    assert refused(ports[0])


def test_foreground_publishes_into_a_private_namespace(env, cleanup):
    port, uport = free_port(), free_port()
    proc, net = start_foreground(env, cleanup, "-p", f"127.0.0.1:{port}:{SERVE_PORT}",
                                 "-p", f"127.0.0.1:{uport}:{SERVE_PORT + 1}/udp")
    assert net == "net lo 0 ENETUNREACH"       # only lo, no route: the container reaches nothing outside
    [relay, source] = relays(port)
    assert relay_target(relay) != os.getpid() and alive(relay_target(relay))
    container_net = os.readlink(f"/proc/{relay_target(relay)}/ns/net")
    assert os.readlink(f"/proc/{relay}/ns/net") == os.readlink("/proc/self/ns/net") != container_net
    check_traffic(port)
    assert udp_ask(uport, b"datagram") == b"127.0.0.1 datagram"
    proc.send_signal(signal.SIGTERM)           # forwarded to the container's init
    assert proc.wait(timeout=30) == 0
    nothing_left(port, uport)
    assert not alive(relay) and not alive(source)


def test_no_network_flag_means_none(env, cleanup):
    port = free_port()
    proc, net = start_foreground(env, cleanup, "-p", f"{port}:{SERVE_PORT}")   # every host address
    assert net == "net lo 0 ENETUNREACH"
    assert ping(port) == "pong 127.0.0.1"
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    nothing_left(port)


def test_detached_ps_stop_rm(env):
    port = free_port()
    box(env, "run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:{SERVE_PORT}", "--", *server_args(), check=True)
    assert wait_logs(env, "web").splitlines()[0] == "net lo 0 ENETUNREACH"
    check_traffic(port)
    [entry] = json.loads(box(env, "ps", "--format", "json", check=True).stdout)
    assert entry["ports"] == [f"127.0.0.1:{port}:{SERVE_PORT}"] and entry["network"] == "none"
    assert f"127.0.0.1:{port}:{SERVE_PORT}" in box(env, "ps", check=True).stdout
    with open(os.path.join(env["NSBOX_BOX_ROOT"], "web", "record.json")) as f:
        forward = json.load(f)["forward"]
    assert relays(port) == sorted([forward["pid"], forward["source_pid"]])
    box(env, "stop", "web", check=True)
    nothing_left(port)
    box(env, "rm", "web", check=True)
    assert not os.path.exists(os.path.join(env["NSBOX_BOX_ROOT"], "web"))


def test_detached_exit_and_rm_f_leave_nothing(env):
    port, port2 = free_port(), free_port()
    # the command ends by itself: conmon's exit command (and the relay's pidfd) end the forward
    box(env, "run", "-d", "--name", "brief", "-p", f"127.0.0.1:{port}:80", "--", "/bin/sleep", "0.5", check=True)
    nothing_left(port)
    box(env, "rm", "brief", check=True)
    # rm -f of a running container
    box(env, "run", "-d", "--name", "long", "-p", f"127.0.0.1:{port2}:{SERVE_PORT}", "--", *server_args(), check=True)
    wait_logs(env, "long")
    assert ping(port2) == "pong 127.0.0.1"
    box(env, "rm", "-f", "long", check=True)
    nothing_left(port2)


def test_a_killed_front_end_leaves_nothing_once_the_container_is_gone(env, cleanup, unique_id):
    """SIGKILL to `nsbox run`: its container keeps running (and its port keeps working); once the
    container is gone the relay ends by itself (it watches the init's pidfd)."""
    name = f"crash-{unique_id}"[:60]
    port = free_port()
    proc, _ = start_foreground(env, cleanup, "--name", name, "-p", f"127.0.0.1:{port}:{SERVE_PORT}")
    proc.kill()
    proc.wait(timeout=10)
    assert ping(port) == "pong 127.0.0.1"
    [relay, _source] = relays(port)
    subprocess.run([RUNC, "delete", "-f", name], capture_output=True, timeout=30, check=True)
    nothing_left(port)
    assert not alive(relay)


@pytest.mark.parametrize("detach", [[], ["-d", "--name", "clash"]], ids=["foreground", "detached"])
def test_busy_host_port_is_one_line_and_leaves_nothing(env, detach):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = box(env, "run", *detach, "-p", f"127.0.0.1:{port}:80", "--", "/bin/true")
        assert res.returncode != 0
        assert res.stderr.count("\n") == 1 and "already in use" in res.stderr, res.stderr
        assert relays(port) == []
    root = env["NSBOX_BOX_ROOT"]
    assert not os.path.isdir(root) or os.listdir(root) == []
    assert not os.path.exists("/run/nsbox/clash")


def test_host_and_container_networks_refuse_p(env):
    for flags, message in ((["--network", "host"], "-p is not possible with --network host"),
                           (["--network", "container:other"], "-p is not possible with --network container:other")):
        res = box(env, "run", *flags, "-p", "8080:80", "--", "/bin/true")
        assert res.returncode != 0 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_ns_path_publishes_into_a_persistent_namespace(env, tmp_path, cleanup):
    from nsbox.net import netns
    path = netns.create(str(tmp_path / "netns" / "pub"))
    cleanup.add(netns.delete, path)
    port = free_port()
    proc, net = start_foreground(env, cleanup, "--network", f"ns:{path}", "-p", f"127.0.0.1:{port}:{SERVE_PORT}")
    assert net == "net lo 0 ENETUNREACH"
    [relay, _source] = relays(port)
    assert os.stat(f"/proc/{relay_target(relay)}/ns/net").st_ino == os.stat(path).st_ino
    assert ping(port) == "pong 127.0.0.1"
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    nothing_left(port)


def test_killed_conmon_and_init_leave_no_relay(env):
    """Nothing cleans up (conmon killed, so no exit command): the relay still ends with the init."""
    port = free_port()
    rec = orphan_then_kill_init(env, port)
    nothing_left(port)
    assert not alive(rec["forward"]["pid"]) and not alive(rec["forward"]["source_pid"])
