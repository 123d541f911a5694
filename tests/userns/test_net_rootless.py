"""Rootless networking as an unprivileged user: pasta and slirp4netns give a rootless network
namespace (an ``unshare -Urn`` child) connectivity and forward a published port into it; clear
errors for a missing tool, a busy port and bridge networks; nothing left after detach or after
the container dies."""

from __future__ import annotations

import os
import socket
import time

import pytest

from nsbox.errors import NetworkError
from nsbox.net import rootless
from nsbox.net.attach import Attachments, attach, cleanup_stale, detach
from nsbox.net.store import NetworkStore
from tests.conftest import require, require_tool
from tests.fixtures.net_helpers import ask, free_port, start_in_netns

SERVE_PORT = 7000
TOOLS = ["pasta", "slirp4netns"]


@pytest.fixture
def net_root(tmp_path, cleanup):
    root = str(tmp_path / "nets")

    def detach_all():
        for att in Attachments(root).all():
            detach(att.container_id, root)
    cleanup.add(detach_all)
    return root


def need(tool: str) -> None:
    require_tool(tool)
    require(os.access("/dev/net/tun", os.R_OK | os.W_OK), "read-write /dev/net/tun (mode 0666)")


def helper_cmdlines_for(pid: int) -> list[str]:
    """Command lines of our pasta/slirp4netns processes that target ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]).decode() in TOOLS and str(pid).encode() in argv:
            out.append(b" ".join(argv).decode())
    return out


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("tool", TOOLS)
def test_published_port_into_rootless_netns(tool, net_root, cleanup, tmp_path):
    need(tool)
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    port = free_port()
    att = attach(tool, netns=c1.pid, container_id=f"rl-{tool}", hostname="rl", root=net_root,
                 ports=[f"127.0.0.1:{port}:{SERVE_PORT}"], files_dir=str(tmp_path / "files"))
    assert att.driver == tool and helper_cmdlines_for(c1.pid)
    answer = ask(None, "127.0.0.1", port, "hello")
    peer, _, text = answer.partition(" ")
    assert text == "hello"
    # What the server inside saw as its peer: pasta splices to the namespace's loopback,
    # slirp4netns connects from its gateway.
    assert peer == ("127.0.0.1" if tool == "pasta" else rootless.SLIRP_GATEWAY)
    # Inside: an interface with an address and a default route (read from the netns's /proc view).
    assert att.address and att.gateway
    with open(f"/proc/{c1.pid}/net/route") as f:
        assert any(line.split()[1] == "00000000" for line in f.read().splitlines()[1:])
    assert open(tmp_path / "files" / "hostname").read() == "rl\n"
    detach(f"rl-{tool}", net_root)
    deadline = time.monotonic() + 5
    while helper_cmdlines_for(c1.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helper_cmdlines_for(c1.pid) == [] and port_closed(port)
    assert Attachments(net_root).all() == []


@pytest.mark.parametrize("tool", TOOLS)
def test_two_published_ports(tool, net_root, cleanup):
    """Each mapping reaches the server: pasta takes one -t per mapping (a comma list of ADDR/PORT:PORT
    is refused), slirp4netns one add_hostfwd each."""
    need(tool)
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    p1, p2 = free_port(), free_port()
    while p2 == p1:
        p2 = free_port()
    attach(tool, netns=c1.pid, container_id="two", root=net_root,
           ports=[f"127.0.0.1:{p1}:{SERVE_PORT}", f"127.0.0.1:{p2}:{SERVE_PORT}"])
    assert ask(None, "127.0.0.1", p1, "one").partition(" ")[2] == "one"
    assert ask(None, "127.0.0.1", p2, "two").partition(" ")[2] == "two"
    detach("two", net_root)


@pytest.mark.parametrize("tool", TOOLS)
def test_dead_container_is_cleaned_up(tool, net_root, cleanup):
    need(tool)
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    port = free_port()
    attach(tool, netns=c1.pid, container_id="dies", root=net_root, ports=[f"127.0.0.1:{port}:{SERVE_PORT}"])
    c1.kill()
    c1.wait(timeout=10)
    assert cleanup_stale(net_root)["attachments"] == ["dies"]
    deadline = time.monotonic() + 5
    while helper_cmdlines_for(c1.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helper_cmdlines_for(c1.pid) == [] and port_closed(port) and Attachments(net_root).all() == []


def test_busy_port_and_missing_tools_are_clear_errors(net_root, cleanup, monkeypatch, tmp_path):
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError, match=f"host port 127.0.0.1:{port}/tcp is already in use"):
            attach("pasta", netns=c1.pid, container_id="busy", root=net_root, ports=[f"127.0.0.1:{port}:80"])
    assert helper_cmdlines_for(c1.pid) == []
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(NetworkError, match="needs pasta \\(package passt\\) or slirp4netns; neither is installed"):
        rootless.start(None, c1.pid, [])
    with pytest.raises(NetworkError, match="with slirp4netns needs slirp4netns, which is not installed"):
        attach("slirp4netns", netns=c1.pid, container_id="nosl", root=net_root)
    assert helper_cmdlines_for(c1.pid) == [] and Attachments(net_root).all() == []


def test_bridge_networks_need_root(net_root, cleanup):
    NetworkStore(net_root).create("mine", "10.77.0.0/24", host_routes=[])  # storing is fine rootless
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    with pytest.raises(NetworkError, match="bridge networks need root"):
        attach("mine", netns=c1.pid, container_id="b", root=net_root)
    assert Attachments(net_root).all() == []


@pytest.mark.parametrize("tool", TOOLS)
def test_published_port_latency(tool, net_root, cleanup):
    """Figures for the report (-s): connect+echo latency and bulk throughput through the forwarder."""
    import json
    import subprocess
    from tests.fixtures.net_helpers import ECHO, PYTHON
    need(tool)
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)], unshare=("-Urn",))
    port = free_port()
    attach(tool, netns=c1.pid, container_id=f"lat-{tool}", root=net_root, ports=[f"127.0.0.1:{port}:{SERVE_PORT}"])
    res = subprocess.run([PYTHON, ECHO, "bench", "127.0.0.1", str(port), "300"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    fig = json.loads(res.stdout)
    sink = start_in_netns(cleanup, ["sink", str(SERVE_PORT)], unshare=("-Urn",))
    sink_port = free_port()
    attach(tool, netns=sink.pid, container_id=f"tput-{tool}", root=net_root,
           ports=[f"127.0.0.1:{sink_port}:{SERVE_PORT}"])
    res = subprocess.run([PYTHON, ECHO, "blast", "127.0.0.1", str(sink_port), "256"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    mbs = json.loads(res.stdout)["mb_per_s"]
    print(f"\n{tool}: published port connect+echo median {fig['median_us']} us, p90 {fig['p90_us']} us; "
          f"bulk TCP into the namespace {mbs} MB/s")
    assert fig["n"] == 300 and fig["p90_us"] < 100_000 and mbs > 1


def test_default_network_rootless_is_pasta_then_slirp4netns(monkeypatch, tmp_path):
    from nsbox.net.attach import default_network
    require_tool("pasta")
    require_tool("slirp4netns")
    assert default_network(str(tmp_path)) == "pasta"
    only_slirp = tmp_path / "bin"
    only_slirp.mkdir()
    os.symlink(require_tool("slirp4netns"), only_slirp / "slirp4netns")
    monkeypatch.setenv("PATH", str(only_slirp))
    assert default_network(str(tmp_path)) == "slirp4netns"
