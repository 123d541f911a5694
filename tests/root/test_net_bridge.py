"""Bridge networking as root, observed from inside the "containers" (processes in network
namespaces this test makes): traffic between two containers, published ports (loopback, the
bridge address, another host), NAT egress to a test host, /etc/hosts names, persistent netns,
bad input leaving nothing behind, crash clean-up, and 100 attach/detach cycles without leaks."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time

import pytest

from nsbox.errors import NetworkError, UsageError
from nsbox.net import bridge, nat, netns as persistent
from nsbox.net.attach import (Attachments, attach, cleanup_stale, default_network, detach, remove_network,
                              root_key)
from nsbox.net.ipam import Ipam
from nsbox.net.store import NetworkStore
from tests.conftest import require_tool
from tests.fixtures.net_helpers import PYTHON, ECHO, ask, free_port, in_netns, private_net_root, start_in_netns

SERVE_PORT = 7000


@pytest.fixture
def net_root(tmp_path, cleanup):
    require_tool("nft")
    return private_net_root(tmp_path, cleanup)


def leftovers(root: str) -> dict:
    """What of ours exists on the host: veths, nft rules, leases, records."""
    key = root_key(root)
    return {"veths": bridge.links_with_prefix(f"nv{key[:4]}"),
            "rules": [r["comment"] for r in nat.rules_with_prefix(f"nsbox:{key}:ct:")],
            "leases": {n: l for n, l in Ipam(root).all_leases().items() if l},
            "records": [a.container_id for a in Attachments(root).all()]}


def mounts_under(directory: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == directory or p.startswith(directory + "/")]


NOTHING = {"veths": [], "rules": [], "leases": {}, "records": []}


def addresses_inside(pid: int) -> dict:
    out = json.loads(in_netns(pid, ["ip", "-j", "addr"]).stdout)
    return {i["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in i["addr_info"] if a["family"] == "inet"]
            for i in out}


def default_route_inside(pid: int) -> str:
    routes = json.loads(in_netns(pid, ["ip", "-j", "route"]).stdout)
    return next(r["gateway"] for r in routes if r["dst"] == "default")


def test_two_containers_talk_and_know_each_others_names(net_root, cleanup, tmp_path):
    net = NetworkStore(net_root).create("n1")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    c2 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    f1, f2 = str(tmp_path / "f1"), str(tmp_path / "f2")
    a1 = attach("n1", netns=c1.pid, container_id="c1", hostname="alpha", root=net_root, files_dir=f1)
    a2 = attach("n1", netns=c2.pid, container_id="c2", hostname="beta", root=net_root, files_dir=f2)

    # What the containers see: eth0 with their lease, loopback up, default route via the gateway.
    seen1, seen2 = addresses_inside(c1.pid), addresses_inside(c2.pid)
    assert seen1["eth0"] == [a1.address] and seen2["eth0"] == [a2.address]
    assert seen1["lo"] == ["127.0.0.1/8"]
    assert default_route_inside(c1.pid) == net.gateway
    assert a1.address != a2.address and a1.address.startswith(net.subnet.rsplit(".", 1)[0])

    # TCP both ways over the bridge; the server sees the real peer address (no NAT inside a network).
    assert ask(c2.pid, a1.ip, SERVE_PORT, "ping") == f"{a2.ip} ping"
    assert ask(c1.pid, a2.ip, SERVE_PORT, "pong") == f"{a1.ip} pong"

    # Names: c2 got c1's name at attach; c1's hosts file was refreshed in place when c2 came.
    assert f"{a1.ip}\talpha" in open(os.path.join(f2, "hosts")).read()
    assert f"{a2.ip}\tbeta" in open(os.path.join(f1, "hosts")).read()
    assert open(os.path.join(f2, "hostname")).read() == "beta\n"
    # ... and a resolver inside c2 that uses that file resolves "alpha" and connects by name.
    res = in_netns(c2.pid, ["unshare", "-m", "sh", "-c",
                            f"mount --bind {f2}/hosts /etc/hosts && {PYTHON} {ECHO} ask alpha {SERVE_PORT} byname"])
    assert res.stdout.strip() == f"{a2.ip} byname"

    detach("c2", net_root)
    assert "beta" not in open(os.path.join(f1, "hosts")).read()  # c1 forgot the departed name
    assert not bridge.link_exists(a2.host_interface)
    assert "eth0" not in addresses_inside(c2.pid)  # the peer went with the host end


def test_published_port_answers_on_loopback_bridge_and_host_addresses(net_root, cleanup):
    net = NetworkStore(net_root).create("n2")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    p_lo, p_all = free_port(), free_port()
    a1 = attach("n2", netns=c1.pid, container_id="web", root=net_root,
                ports=[f"127.0.0.1:{p_lo}:{SERVE_PORT}", f"{p_all}:{SERVE_PORT}/tcp"])
    assert len(a1.nft_handles) == 4
    # 127.0.0.1 -> output-chain DNAT; the container sees the gateway (loopback source masqueraded).
    assert ask(None, "127.0.0.1", p_lo, "lo") == f"{net.gateway} lo"
    assert ask(None, "127.0.0.1", p_all, "all") == f"{net.gateway} all"
    # The host's own bridge address.
    assert ask(None, net.gateway, p_all, "gw") == f"{net.gateway} gw"
    # The port bound to 127.0.0.1 is not published on the bridge address.
    with pytest.raises(AssertionError):
        ask(None, net.gateway, p_lo, "no", timeout=10)
    # Hairpin: another container of the network reaches the published port through the host address.
    c2 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    attach("n2", netns=c2.pid, container_id="client", root=net_root)
    assert ask(c2.pid, net.gateway, p_all, "hairpin") == f"{net.gateway} hairpin"
    # UDP.
    u1 = start_in_netns(cleanup, ["userve", str(SERVE_PORT)])
    p_udp = free_port()
    attach("n2", netns=u1.pid, container_id="udp", root=net_root, ports=[f"127.0.0.1:{p_udp}:{SERVE_PORT}/udp"])
    res = subprocess.run([PYTHON, ECHO, "uask", "127.0.0.1", str(p_udp), "dgram"], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{net.gateway} dgram"


@pytest.fixture
def test_host(cleanup):
    """Another netns standing for a host on the outside: veth nth<rand> 10.123.N.1/30 (host end) <->
    10.123.N.2/30 (inside), running the echo server."""
    n = random.randint(1, 250)
    host_end, inside = f"nth{os.getpid() % 10000}{n}"[:15], f"ntp{os.getpid() % 10000}{n}"[:15]
    proc = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    subprocess.run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", inside, "netns", str(proc.pid)],
                   check=True, timeout=30)
    cleanup.add(lambda: subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30))
    subprocess.run(["ip", "addr", "add", f"10.123.{n}.1/30", "dev", host_end], check=True, timeout=30)
    subprocess.run(["ip", "link", "set", host_end, "up"], check=True, timeout=30)
    in_netns(proc.pid, ["ip", "addr", "add", f"10.123.{n}.2/30", "dev", inside])
    in_netns(proc.pid, ["ip", "link", "set", inside, "up"])
    in_netns(proc.pid, ["ip", "link", "set", "lo", "up"])
    return proc, f"10.123.{n}.1", f"10.123.{n}.2"


def test_nat_egress_and_published_port_from_another_host(net_root, cleanup, test_host):
    th, host_side, th_addr = test_host
    NetworkStore(net_root).create("n3")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    port = free_port()
    attach("n3", netns=c1.pid, container_id="egress", root=net_root, ports=[f"{port}:{SERVE_PORT}"])
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    # Egress: the test host sees the host's address, not the container's (masquerade).
    assert ask(c1.pid, th_addr, SERVE_PORT, "out") == f"{host_side} out"
    # Ingress from the test host to the host's address: prerouting DNAT, the container sees the real peer.
    in_netns(th.pid, ["ip", "route", "add", "default", "via", host_side])
    assert ask(th.pid, host_side, port, "in") == f"{th_addr} in"
    detach("egress", net_root)
    with pytest.raises(AssertionError):
        ask(th.pid, host_side, port, "gone", timeout=10)


def test_attach_a_persistent_netns_by_path(net_root, cleanup, tmp_path):
    directory = str(tmp_path / "netns")
    path = persistent.create("box1", directory)
    cleanup.add(lambda: persistent.delete(path) if os.path.exists(path) else None)
    assert persistent.list_all(directory) == [path]
    NetworkStore(net_root).create("n4")
    att = attach("n4", netns=path, container_id="bypath", root=net_root)
    res = subprocess.run(["nsenter", f"--net={path}", "ip", "-j", "addr", "show", "eth0"], capture_output=True,
                         text=True, timeout=30, check=True)
    assert json.loads(res.stdout)[0]["addr_info"][0]["local"] == att.ip
    detach("bypath", net_root)
    assert mounts_under(directory) == [path]
    persistent.delete(path)
    assert persistent.list_all(directory) == [] and not os.path.exists(path)
    assert mounts_under(directory) == []


def test_bad_input_leaves_nothing(net_root, cleanup):
    NetworkStore(net_root).create("n5")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError, match=f"host port 127.0.0.1:{port}/tcp is already in use"):
            attach("n5", netns=c1.pid, container_id="x1", root=net_root, ports=[f"127.0.0.1:{port}:80"])
    assert leftovers(net_root) == NOTHING
    with pytest.raises(NetworkError, match="network ghost does not exist"):
        attach("ghost", netns=c1.pid, container_id="x2", root=net_root)
    with pytest.raises(NetworkError, match="host's network namespace"):
        attach("n5", netns=os.getpid(), container_id="x3", root=net_root)
    with pytest.raises(NetworkError, match="/etc/hostname is not a network namespace"):
        attach("n5", netns="/etc/hostname", container_id="x4", root=net_root)
    with pytest.raises(NetworkError, match=f"/proc/{c1.pid}/ns/uts is not a network namespace"):
        attach("n5", netns=f"/proc/{c1.pid}/ns/uts", container_id="x4", root=net_root)
    with pytest.raises(NetworkError, match="/nonexistent"):
        attach("n5", netns="/nonexistent/netns", container_id="x4", root=net_root)
    with pytest.raises(UsageError, match="invalid port mapping"):
        attach("n5", netns=c1.pid, container_id="x5", root=net_root, ports=["80"])
    assert leftovers(net_root) == NOTHING
    # Two containers cannot publish one host port; a second attach of one id is refused.
    port = free_port()
    attach("n5", netns=c1.pid, container_id="x6", root=net_root, ports=[f"{port}:80"])
    c2 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    with pytest.raises(NetworkError, match=f"host port {port}/tcp is already published by container x6"):
        attach("n5", netns=c2.pid, container_id="x7", root=net_root, ports=[f"{port}:80"])
    with pytest.raises(NetworkError, match="already attached"):
        attach("n5", netns=c2.pid, container_id="x6", root=net_root)
    # A failure half-way (the namespace already has the interface name) is rolled back.
    with pytest.raises(NetworkError, match="already has an interface eth0"):
        attach("n5", netns=c1.pid, container_id="x8", root=net_root, ifname="eth0")
    assert leftovers(net_root)["records"] == ["x6"] and list(leftovers(net_root)["leases"]["n5"]) == ["x6"]
    with pytest.raises(NetworkError, match="in use by 1 container"):
        remove_network("n5", net_root)
    detach("x6", net_root)
    assert leftovers(net_root) == NOTHING


def test_cleanup_stale_after_container_death_and_attach_crash(net_root, cleanup):
    NetworkStore(net_root).create("n6")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    dead = attach("n6", netns=c1.pid, container_id="dies", root=net_root, ports=[f"{free_port()}:80"])
    c1.kill()
    c1.wait(timeout=10)
    # An attach that crashes after creating the veth (the process dies mid-way).
    c2 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    code = ("import os, sys; from nsbox.net import bridge, attach;"
            "bridge.configure_inside = lambda *a, **k: os._exit(3);"
            f"attach.attach('n6', netns={c2.pid}, container_id='crash', root=sys.argv[1], ports=['{free_port()}:80'])")
    res = subprocess.run([sys.executable, "-c", code, net_root], capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stderr
    assert "crash" in leftovers(net_root)["records"]
    # a dead netns (and the veth in it) goes away asynchronously: slowly when the host tears down many
    deadline = time.monotonic() + 30
    while bridge.link_exists(dead.host_interface) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not bridge.link_exists(dead.host_interface), "the dead container's netns outlived 30 s"
    removed = cleanup_stale(net_root)
    assert sorted(removed["attachments"]) == ["crash", "dies"]
    assert leftovers(net_root) == NOTHING
    assert "eth0" not in addresses_inside(c2.pid)


def test_cli_connect_disconnect(net_root, cleanup):
    env = dict(os.environ, NSBOX_NET_ROOT=net_root)
    cli = [sys.executable, "-m", "nsbox.cli.main", "network"]
    assert subprocess.run(cli + ["create", "n7"], env=env, capture_output=True, timeout=60).returncode == 0
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    port = free_port()
    res = subprocess.run(cli + ["connect", "n7", "--netns", str(c1.pid), "--id", "cli1", "-p", f"127.0.0.1:{port}:{SERVE_PORT}"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    att = json.loads(res.stdout)
    assert addresses_inside(c1.pid)["eth0"] == [att["address"]]
    assert ask(None, "127.0.0.1", port, "cli").endswith(" cli")
    res = subprocess.run(cli + ["disconnect", "cli1"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(cli + ["disconnect", "cli1"], env=env, capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stderr) == (1, "nsbox network: container cli1 is not attached to any network\n")
    bridge_if = NetworkStore(net_root).get("n7").bridge
    assert bridge.link_exists(bridge_if)
    res = subprocess.run(cli + ["rm", "n7"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert not bridge.link_exists(bridge_if) and not nat.rules_with_prefix(f"nsbox:{root_key(net_root)}:")


@pytest.mark.timeout(300)
def test_100_attach_detach_cycles_leak_nothing(net_root, cleanup, tmp_path):
    NetworkStore(net_root).create("n8")
    directory = str(tmp_path / "netns")
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    port = free_port()
    t0 = time.perf_counter()
    for i in range(100):
        # Alternate a container process and a persistent netns made and removed each cycle.
        if i % 2:
            target = persistent.create(f"cyc{i}", directory)
        else:
            target = c1.pid
        att = attach("n8", netns=target, container_id=f"cyc{i}", root=net_root, ports=[f"{port}:{SERVE_PORT}"])
        assert att.ip == NetworkStore(net_root).get("n8").subnet.rsplit(".", 1)[0] + ".2"  # the lease came back
        detach(f"cyc{i}", net_root)
        if i % 2:
            persistent.delete(target)
    per_cycle_ms = (time.perf_counter() - t0) * 10
    print(f"attach+detach cycle: {per_cycle_ms:.1f} ms")
    assert leftovers(net_root) == NOTHING
    assert persistent.list_all(directory) == [] and os.listdir(directory) == []
    assert mounts_under(directory) == []
    assert addresses_inside(c1.pid).keys() == {"lo"}
    remove_network("n8", net_root)
    assert not nat.rules_with_prefix(f"nsbox:{root_key(net_root)}:")


def test_default_network_is_created_once(net_root, cleanup):
    assert default_network(net_root) == "nsbox"
    first = NetworkStore(net_root).get("nsbox")
    assert default_network(net_root) == "nsbox" and NetworkStore(net_root).list() == [first]
    c1 = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    att = attach(default_network(net_root), netns=c1.pid, container_id="dflt", root=net_root)
    assert addresses_inside(c1.pid)["eth0"] == [att.address]
