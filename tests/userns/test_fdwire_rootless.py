"""`nsbox run --network none -p ...` as an unprivileged user: the container joins the user+net
namespaces of a holder made first (the init is not dumpable before it execs, so its namespaces
cannot be opened between create and start), the fd forward publishes into them, and the holder
follows the init: when the container ends — by itself, stop, rm, or with its front end killed —
holder, relay and listening socket are gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest

from tests.conftest import require
from tests.fixtures.fdwire_helpers import (MB, RUNC, SERVE_PORT, alive, box, holders, listening, orphan_then_kill_init,
                                           refused, relay_target, relays, server_args, start_foreground, udp_ask,
                                           wait_for, wait_logs)
from tests.fixtures.net_helpers import free_port
from tests.fixtures.netfast_helpers import download, echo_duplex, pattern_hash, ping, upload



@pytest.fixture
def env(tmp_path, cleanup):
    require(os.geteuid() != 0, "an unprivileged user (tests/userns runs as nsbox-test)")
    env = {**os.environ, "NSBOX_NET_ROOT": str(tmp_path / "nets"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}

    def remove_all():
        root = env["NSBOX_BOX_ROOT"]
        for name in (os.listdir(root) if os.path.isdir(root) else []):
            box(env, "rm", "-f", name)
    cleanup.add(remove_all)
    return env


def ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def nothing_left(port: int, *pids: int) -> None:
    assert wait_for(lambda: not relays(port)), relays(port)
    assert wait_for(lambda: not any(alive(p) for p in pids)), [p for p in pids if alive(p)]
    assert not listening(port) and refused(port)


def test_foreground_rootless(env, cleanup):
    port, uport = free_port(), free_port()
    proc, net = start_foreground(env, cleanup, "-p", f"127.0.0.1:{port}:{SERVE_PORT}",
                                 "-p", f"127.0.0.1:{uport}:{SERVE_PORT + 1}/udp")
    assert net == "net lo 0 ENETUNREACH"
    [relay, source] = relays(port)
    holder = relay_target(relay)
    # the holder is in a new user+net namespace, which the container joined; the relay stays in ours
    assert ns(holder, "net") != ns(os.getpid(), "net") == ns(relay, "net")
    assert ns(holder, "user") != ns(os.getpid(), "user")
    with open(f"/proc/{holder}/uid_map") as f:
        assert f.read().split()[:2] == ["0", str(os.getuid())]
    n = 16 * MB + 9
    assert ping(port) == "pong 127.0.0.1"
    assert upload(port, 31, n) == ("127.0.0.1", n, pattern_hash(31, n))
    assert download(port, 32, n) == (n, pattern_hash(32, n))
    assert echo_duplex(port, 33, 4 * MB) == (4 * MB, pattern_hash(33, 4 * MB))
    assert udp_ask(uport, b"dgram") == b"127.0.0.1 dgram"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    nothing_left(port, relay, source, holder)
    assert not listening(uport)


def test_detached_rootless_ps_and_rm(env):
    port = free_port()
    box(env, "run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:{SERVE_PORT}", "--", *server_args(), check=True)
    assert wait_logs(env, "web").splitlines()[0] == "net lo 0 ENETUNREACH"
    assert ping(port) == "pong 127.0.0.1"
    [entry] = json.loads(box(env, "ps", "--format", "json", check=True).stdout)
    assert entry["ports"] == [f"127.0.0.1:{port}:{SERVE_PORT}"]
    with open(os.path.join(env["NSBOX_BOX_ROOT"], "web", "record.json")) as f:
        rec = json.load(f)
    assert rec["forward"]["target_pid"] == rec["holder"]["pid"]
    box(env, "rm", "-f", "web", check=True)
    nothing_left(port, rec["forward"]["pid"], rec["forward"]["source_pid"], rec["holder"]["pid"])


def test_detached_rootless_exit_by_itself(env):
    port = free_port()
    box(env, "run", "-d", "--name", "brief", "-p", f"127.0.0.1:{port}:80", "--", "/bin/sleep", "0.5", check=True)
    with open(os.path.join(env["NSBOX_BOX_ROOT"], "brief", "record.json")) as f:
        rec = json.load(f)
    nothing_left(port, rec["forward"]["pid"], rec["holder"]["pid"])
    assert "exited (0)" in box(env, "ps", "-a", check=True).stdout


def test_killed_front_end_rootless(env, cleanup, unique_id):
    """SIGKILL to `nsbox run`: the container still serves; once it is gone, the holder (which follows
    the init) exits, and with it the relay."""
    name = f"crash-{unique_id}"[:60]
    port = free_port()
    proc, _ = start_foreground(env, cleanup, "--name", name, "-p", f"127.0.0.1:{port}:{SERVE_PORT}")
    [relay, source] = relays(port)
    holder = relay_target(relay)
    proc.kill()
    proc.wait(timeout=10)
    assert ping(port) == "pong 127.0.0.1"
    res = subprocess.run([RUNC, "delete", "-f", name], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    nothing_left(port, relay, source, holder)


def test_busy_port_rootless(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        for detach in ([], ["-d", "--name", "clash"]):
            res = box(env, "run", *detach, "-p", f"127.0.0.1:{port}:80", "--", "/bin/true")
            assert res.returncode != 0
            assert res.stderr.count("\n") == 1 and "already in use" in res.stderr, res.stderr
            assert relays(port) == []
    root = env["NSBOX_BOX_ROOT"]
    assert not os.path.isdir(root) or os.listdir(root) == []


def test_privileged_host_port_rootless_leaves_nothing(env):
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        require(int(f.read()) > 80, "net.ipv4.ip_unprivileged_port_start above 80")
    before = holders()
    for detach in ([], ["-d", "--name", "low"]):
        res = box(env, "run", *detach, "-p", "127.0.0.1:80:8080", "--", "/bin/true")
        assert res.returncode != 0
        assert res.stderr.count("\n") == 1 and "needs privilege" in res.stderr, res.stderr
        assert relays(80) == [] and holders() == before
    root = env["NSBOX_BOX_ROOT"]
    assert not os.path.isdir(root) or os.listdir(root) == []


def test_killed_conmon_and_init_rootless(env):
    """No cleanup runs (conmon killed, so no exit command): the holder follows the init, the relay the holder."""
    port = free_port()
    rec = orphan_then_kill_init(env, port)
    nothing_left(port, rec["forward"]["pid"], rec["forward"]["source_pid"], rec["holder"]["pid"])
