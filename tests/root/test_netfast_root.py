"""The fd-passing forward as root: into a plain ``unshare -n`` namespace (no user namespace: the
source joins the netns directly), into a rootless-style ``unshare -Urn`` one, and into a real
``nsbox run -d --network none`` container; traffic intact, nothing left after stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nsbox.net.fdforward import start_forward, stop_forward
from tests.conftest import require, require_tool
from tests.fixtures.net_helpers import free_port
from tests.fixtures.netfast_helpers import (SERVER, SERVE_PORT, download, echo_duplex, gone, listening_ports,
                                            pattern_hash, ping, start_server, upload)

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
MB = 1 << 20


@pytest.fixture
def root():
    require(os.geteuid() == 0, "root")


def ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def check_traffic(port: int) -> None:
    for _ in range(100):
        assert ping(port) == "pong 127.0.0.1"
    n = 32 * MB + 3
    assert upload(port, 11, n) == ("127.0.0.1", n, pattern_hash(11, n))
    assert download(port, 12, n) == (n, pattern_hash(12, n))
    assert echo_duplex(port, 13, 8 * MB) == (8 * MB, pattern_hash(13, 8 * MB))


def check_stopped(info, port: int) -> None:
    stop_forward(info)
    assert gone(info.pid) and gone(info.source_pid)
    assert port not in listening_ports()


@pytest.mark.parametrize("unshare", [("-n",), ("-Urn",)], ids=["netns", "userns+netns"])
def test_forward_into_namespace_as_root(root, cleanup, unshare):
    server = start_server(cleanup, unshare)
    port = free_port()
    info = start_forward(server.pid, [f"{port}:{SERVE_PORT}"])   # every host address
    cleanup.add(stop_forward, info)
    assert ns(info.source_pid, "net") == ns(server.pid, "net") != ns(info.pid, "net") == ns(os.getpid(), "net")
    # root needs no user namespace to join a netns: the source stays in the host's
    assert ns(info.source_pid, "user") == ns(os.getpid(), "user")
    with open(f"/proc/{info.source_pid}/status") as f:
        assert "\nUid:\t0\t0\t0\t0\n" in f.read()
    check_traffic(port)
    check_stopped(info, port)


def test_forward_into_nsbox_run_container(root, cleanup, tmp_path):
    require_tool("conmon")
    env = {**os.environ, "NSBOX_NET_ROOT": str(tmp_path / "nets"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}
    name = f"nf{os.getpid()}"

    def box(*args, check=True):
        argv = [NSBOX, "run", *args[1:]] if args[0] == "run" else [sys.executable, "-m", "nsbox.cli.containers", *args]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert not check or res.returncode == 0, res.stderr
        return res
    cleanup.add(box, "rm", "-f", name, check=False)
    box("run", "-d", "--name", name, "--network", "none", "--", "/usr/bin/python3", SERVER, str(SERVE_PORT))
    deadline = time.monotonic() + 20
    while "ready" not in box("logs", name).stdout:
        assert time.monotonic() < deadline, box("logs", name)
        time.sleep(0.05)
    with open(tmp_path / "boxes" / name / "pidfile") as f:
        pid = int(f.read())
    port = free_port()
    info = start_forward(pid, [f"127.0.0.1:{port}:{SERVE_PORT}"])
    cleanup.add(stop_forward, info)
    assert ns(info.source_pid, "net") == ns(pid, "net")
    check_traffic(port)
    # removing the container ends the forward by itself (the relay watches the init's pidfd)
    box("rm", "-f", name)
    deadline = time.monotonic() + 10
    while not (gone(info.pid) and gone(info.source_pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(info.pid) and gone(info.source_pid) and port not in listening_ports()
