"""nsbox.net pure parts: network store, address leases, -p parsing, hosts/resolv.conf content,
nft rule shapes, and the `nsbox network` CLI on a private state dir (no links are created)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from nsbox.errors import NetworkError, UsageError
from nsbox.net import files, nat
from nsbox.net.attach import Attachment, Attachments, interface_names, root_key
from nsbox.net.ipam import Ipam
from nsbox.net.ports import PortMapping, check_free, parse_port, parse_ports
from nsbox.net.store import NetworkStore, bridge_name


@pytest.fixture
def store(tmp_path):
    return NetworkStore(str(tmp_path / "nets"))


def test_create_picks_free_subnets_and_persists(store):
    a = store.create("a", host_routes=[])
    b = store.create("b", host_routes=["10.89.1.0/24"])
    assert (a.subnet, a.gateway) == ("10.89.0.0/24", "10.89.0.1")
    assert b.subnet == "10.89.2.0/24"  # skips a's subnet and the host route
    again = NetworkStore(store.root)
    assert [n.name for n in again.list()] == ["a", "b"]
    assert again.get("b") == b
    assert len(a.bridge) <= 15 and a.bridge != b.bridge
    with open(os.path.join(store.root, "a.json")) as f:
        assert json.load(f)["subnet"] == "10.89.0.0/24"


def test_bridge_names_differ_between_state_dirs(tmp_path):
    assert bridge_name(str(tmp_path / "x"), "n") != bridge_name(str(tmp_path / "y"), "n")


@pytest.mark.parametrize("subnet,gateway,err", [
    ("10.89.0.0/25", None, "overlaps 10.89.0.0/24 of network a"),
    ("192.168.7.0/24", None, "overlaps 192.168.0.0/16 of a host route"),
    ("10.1.0.1/24", None, "invalid subnet"),
    ("fd00::/64", None, "only IPv4"),
    ("10.2.0.0/30", None, "too small"),
    ("10.3.0.0/24", "10.4.0.1", "not a host address"),
])
def test_create_rejects_bad_subnets(store, subnet, gateway, err):
    store.create("a", host_routes=[])
    with pytest.raises((NetworkError, UsageError), match=err):
        store.create("b", subnet, gateway, host_routes=["192.168.0.0/16"])
    assert [n.name for n in store.list()] == ["a"]  # nothing left behind


def test_names_checked_and_duplicates_refused(store):
    store.create("ok-1.x", host_routes=[])
    for bad in ("", "-x", "a/b", "x" * 64, "pasta"):
        with pytest.raises(UsageError):
            store.create(bad, host_routes=[])
    with pytest.raises(NetworkError, match="already exists"):
        store.create("ok-1.x", host_routes=[])
    with pytest.raises(NetworkError, match="does not exist"):
        store.get("nope")


def test_ipam_leases_lowest_free_and_releases(store):
    net = store.create("n", "10.70.0.0/29", host_routes=[])
    ipam = Ipam(store.root)
    got = [ipam.allocate(net, f"c{i}") for i in range(5)]
    assert got == ["10.70.0.2", "10.70.0.3", "10.70.0.4", "10.70.0.5", "10.70.0.6"]
    assert ipam.allocate(net, "c0") == "10.70.0.2"  # idempotent
    with pytest.raises(NetworkError, match="no free address"):
        ipam.allocate(net, "c9")
    assert ipam.release("n", "c1") == "10.70.0.3"
    assert ipam.allocate(net, "c9") == "10.70.0.3"
    with pytest.raises(NetworkError, match="already in use"):
        ipam.allocate(net, "cx", "10.70.0.1")  # the gateway
    assert set(Ipam(store.root).leases("n")) == {"c0", "c2", "c3", "c4", "c9"}


def test_ipam_is_safe_across_processes(store):
    """Eight processes lease at once: every address is handed out once."""
    net = store.create("p", "10.71.0.0/24", host_routes=[])
    code = ("import sys; from nsbox.net.store import NetworkStore; from nsbox.net.ipam import Ipam;"
            "s=NetworkStore(sys.argv[1]); n=s.get('p');"
            "[Ipam(s.root).allocate(n, f'{sys.argv[2]}-{i}') for i in range(10)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, store.root, f"w{w}"]) for w in range(8)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    leases = Ipam(store.root).leases("p")
    assert len(leases) == 80 and len(set(leases.values())) == 80


@pytest.mark.parametrize("spec,want", [
    ("8080:80", PortMapping(8080, 80, "tcp", "")),
    ("127.0.0.1:8080:80/udp", PortMapping(8080, 80, "udp", "127.0.0.1")),
    ("0.0.0.0:53:5353/UDP", PortMapping(53, 5353, "udp", "")),
])
def test_parse_port(spec, want):
    assert parse_port(spec) == want


@pytest.mark.parametrize("spec", ["80", "x:80", "0:80", "8080:70000", "8080:80/sctp", "1.2.3:80:80",
                                  "[::1]:80:80", "a:b:c:d"])
def test_parse_port_rejects(spec):
    with pytest.raises(UsageError, match="invalid port mapping"):
        parse_port(spec)


def test_parse_ports_refuses_duplicate_host_port():
    with pytest.raises(UsageError, match="same host port"):
        parse_ports(["8080:80", "127.0.0.1:8080:81"])
    assert len(parse_ports(["8080:80", "8080:80/udp"])) == 2


def test_check_free_sees_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(NetworkError, match="already in use"):
            check_free(PortMapping(port, 80, "tcp", "127.0.0.1"))
    check_free(PortMapping(port, 80, "tcp", "127.0.0.1"))  # closed again: free


def test_hosts_and_resolv_content():
    hosts = files.hosts_content(("10.89.0.2", "web"), [("10.89.0.3", "db"), ("10.89.0.2", "web")])
    assert hosts.splitlines()[-2:] == ["10.89.0.2\tweb", "10.89.0.3\tdb"]
    assert "127.0.0.1\tlocalhost" in hosts
    host_conf = "# x\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch example.org\noptions ndots:2\n"
    assert files.resolv_conf_content(host_conf) == \
        "nameserver 10.255.255.53\nsearch example.org\noptions ndots:2\n"
    assert files.resolv_conf_content("nameserver 127.0.0.53\n").startswith("nameserver 8.8.8.8")
    assert files.resolv_conf_content(host_conf, ["10.0.2.3"]).startswith("nameserver 10.0.2.3\n")


def test_write_files_keeps_the_inode(tmp_path):
    files.write_files(str(tmp_path), {"hosts": "a\n" * 10})
    ino = os.stat(tmp_path / "hosts").st_ino
    files.write_files(str(tmp_path), {"hosts": "b\n"})
    assert (tmp_path / "hosts").read_text() == "b\n" and os.stat(tmp_path / "hosts").st_ino == ino


def test_nft_rule_shapes():
    comment = nat.container_comment("k", "c1")
    pre, out = nat.port_rules(comment, PortMapping(8080, 80, "tcp", "127.0.0.1"), "10.89.0.2")
    assert pre["add"]["rule"]["chain"] == "prerouting" and out["add"]["rule"]["chain"] == "output"
    expr = pre["add"]["rule"]["expr"]
    assert expr[-1] == {"dnat": {"addr": "10.89.0.2", "port": 80}}
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}} in expr
    masq = nat.masquerade_rules(nat.network_comment("k", "n"), "10.89.0.0/24", "nsbrx")
    assert all(r["add"]["rule"]["expr"][-1] == {"masquerade": None} for r in masq)
    json.dumps(masq)


def test_interface_names_fit_and_differ(tmp_path):
    h1, p1 = interface_names(str(tmp_path), "c1")
    h2, _ = interface_names(str(tmp_path), "c2")
    assert len(h1) == len(p1) == 15 and h1 != h2 and h1.startswith("nv" + root_key(str(tmp_path))[:4])


def test_attachment_records_roundtrip(tmp_path):
    recs = Attachments(str(tmp_path))
    att = Attachment(container_id="c1", network="n", driver="bridge", netns="/proc/1/ns/net",
                     address="10.89.0.2/24", ports=[PortMapping(1, 2).to_json()])
    recs.save(att)
    assert recs.get("c1") == att and recs.get("c1").ip == "10.89.0.2" and recs.all() == [att]
    recs.remove("c1")
    assert recs.all() == []


def test_lock_serialises_threads(tmp_path):
    from nsbox.net.lock import locked
    inside, overlap = [], []

    def worker():
        for _ in range(50):
            with locked(str(tmp_path)):
                inside.append(1)
                if len(inside) > 1:
                    overlap.append(1)
                with locked(str(tmp_path)):  # re-entrant
                    pass
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not overlap


def nsbox_network(*args, root):
    env = dict(os.environ, NSBOX_NET_ROOT=root)
    return subprocess.run([sys.executable, "-m", "nsbox.cli.main", "network", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_cli_create_ls_inspect_rm(tmp_path):
    root = str(tmp_path / "nets")
    res = nsbox_network("create", "--subnet", "10.72.0.0/24", "--gateway", "10.72.0.254", "front", root=root)
    assert res.returncode == 0, res.stderr
    ls = json.loads(nsbox_network("ls", "--json", root=root).stdout)
    assert [(n["name"], n["subnet"], n["gateway"]) for n in ls] == [("front", "10.72.0.0/24", "10.72.0.254")]
    info = json.loads(nsbox_network("inspect", "front", root=root).stdout)[0]
    assert info["containers"] == {} and info["leases"] == {}
    assert nsbox_network("ls", "-q", root=root).stdout.split() == ["front"]
    res = nsbox_network("rm", "front", root=root)
    assert res.returncode == 0, res.stderr
    assert nsbox_network("ls", "-q", root=root).stdout == ""


@pytest.mark.parametrize("args,message", [
    (["rm", "ghost"], "nsbox network: network ghost does not exist\n"),
    (["inspect", "ghost"], "nsbox network: network ghost does not exist\n"),
    (["create", "--subnet", "10.72.0.0/33", "x"], "nsbox network: invalid subnet '10.72.0.0/33': "),
    (["create", "--gateway", "10.0.0.1", "x"], "nsbox network: --gateway needs --subnet\n"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    root = str(tmp_path / "nets")
    res = nsbox_network(*args, root=root)
    assert res.returncode == 1
    assert res.stderr.startswith(message) and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert nsbox_network("ls", "-q", root=root).stdout == ""


def test_pyroute2_is_imported_lazily_and_layers_hold():
    """Importing the net package, its CLI and running `network ls` loads no pyroute2; net/ imports
    nothing above L2 (no runtime, engine, _init)."""
    code = ("import sys, nsbox.net.attach, nsbox.net.store, nsbox.net.rootless, nsbox.net.netns, nsbox.cli.network;"
            "bad = sorted(m for m in sys.modules if m.startswith(('pyroute2', 'nsbox.runtime', 'nsbox.engine',"
            " 'nsbox._init')));"
            "print(bad)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
