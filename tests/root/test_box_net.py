"""`nsbox run --network ... -p ...` and detached containers (`run -d`, ps, exec, logs, stop, rm), as
root, observed from inside the containers and from the host. Every test has private state dirs
(NSBOX_NET_ROOT, NSBOX_BOX_ROOT): its own bridge, rules and records, all removed afterwards."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

from tests.conftest import require_tool
from tests.fixtures.net_helpers import (ECHO, PYTHON, ask, free_port, in_netns, keep_ip_forward, remove_net_state,
                                       start_in_netns)

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
SERVE_PORT = 7000


@pytest.fixture
def box_env(tmp_path, cleanup):
    """Private network and record dirs; afterwards: every container removed, every attachment
    detached, every network removed, ip_forward restored."""
    require_tool("nft")
    require_tool("conmon")
    env = {**os.environ, "NSBOX_NET_ROOT": str(tmp_path / "nets"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}
    # LIFO: the containers go first, then the networks, then ip_forward is restored
    keep_ip_forward(cleanup)
    cleanup.add(remove_net_state, env["NSBOX_NET_ROOT"])

    def remove_boxes():
        for name in box_names(env):
            box(env, "rm", "-f", name)
    cleanup.add(remove_boxes)
    return env


def box(env, command, *args, timeout=60, check=False):
    """`nsbox COMMAND ARGS` (ps/stop/rm/exec/logs through their module until `nsbox` dispatches them)."""
    if command == "run":
        argv = [NSBOX, "run", *args]
    else:
        argv = [sys.executable, "-m", "nsbox.cli.containers", command, *args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check:
        assert res.returncode == 0, f"{command} {args}: {res.stderr}"
    return res


def box_names(env) -> list[str]:
    root = env["NSBOX_BOX_ROOT"]
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def serve_detached(env, name, *flags):
    """A detached container running the echo server on SERVE_PORT; waits until it answers inside."""
    box(env, "run", "-d", "--name", name, *flags, "--", PYTHON, ECHO, "serve", str(SERVE_PORT), check=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "ready" in box(env, "logs", name).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start: {box(env, 'logs', name)}")


def leftovers(env) -> dict:
    from nsbox.net import bridge, nat
    from nsbox.net.attach import Attachments, root_key
    from nsbox.net.ipam import Ipam
    root = env["NSBOX_NET_ROOT"]
    key = root_key(root)
    return {"veths": bridge.links_with_prefix(f"nv{key[:4]}"),
            "rules": [r["comment"] for r in nat.rules_with_prefix(f"nsbox:{key}:ct:")],
            "leases": {n: l for n, l in Ipam(root).all_leases().items() if l},
            "attachments": [a.container_id for a in Attachments(root).all()],
            "records": box_names(env)}


def test_none_has_only_lo_and_its_own_etc_files(box_env):
    res = box(box_env, "run", "--network", "none", "--hostname", "quiet", "--", "/bin/sh", "-c",
              "ls /sys/class/net; cat /etc/hostname; grep -c localhost /etc/hosts")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lo", "quiet", "2"]


def test_host_network_sees_host_interfaces(box_env):
    res = box(box_env, "run", "--network", "host", "--", "/bin/ls", "/sys/class/net")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == sorted(os.listdir("/sys/class/net"))
    res = box(box_env, "run", "--network", "host", "--", "/bin/readlink", "/proc/self/ns/net")
    assert res.stdout.strip() == os.readlink("/proc/self/ns/net")


def test_two_containers_talk_by_address_and_by_name(box_env):
    serve_detached(box_env, "srv", "--network", "bridge")
    from nsbox.net.attach import Attachments
    srv_ip = Attachments(box_env["NSBOX_NET_ROOT"]).get("srv").ip
    res = box(box_env, "run", "--network", "bridge", "--name", "cli", "--", "/bin/sh", "-c",
              f"{PYTHON} {ECHO} ask {srv_ip} {SERVE_PORT} by-ip; {PYTHON} {ECHO} ask srv {SERVE_PORT} by-name; "
              "cat /etc/hostname; ip -4 -o addr show eth0")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    cli_ip = lines[3].split()[3].split("/")[0]
    assert lines[0] == f"{cli_ip} by-ip" and lines[1] == f"{cli_ip} by-name"   # the server saw the client's address
    assert lines[2] == "cli"
    # the server's /etc/hosts learned the client's name while it ran, and lost it afterwards
    hosts = box(box_env, "exec", "srv", "cat", "/etc/hosts", check=True).stdout
    assert f"{srv_ip}\tsrv" in hosts and "cli" not in hosts


def test_published_port_answers_on_host_loopback(box_env):
    port = free_port()
    serve_detached(box_env, "pub", "--network", "bridge", "-p", f"127.0.0.1:{port}:{SERVE_PORT}")
    answer = ask(None, "127.0.0.1", port, "hello")
    assert answer.endswith(" hello")
    ps = json.loads(box(box_env, "ps", "--format", "json", check=True).stdout)
    assert [(c["name"], c["status"], c["ports"]) for c in ps] == [("pub", "running", [f"127.0.0.1:{port}:{SERVE_PORT}"])]


@pytest.fixture
def outside_host(cleanup):
    """Another netns standing for a host on the outside, reachable from the host over a veth."""
    n = random.randint(1, 250)
    host_end, inside = f"nbh{os.getpid() % 10000}{n}"[:15], f"nbp{os.getpid() % 10000}{n}"[:15]
    proc = start_in_netns(cleanup, ["serve", str(SERVE_PORT)])
    subprocess.run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", inside, "netns", str(proc.pid)],
                   check=True, timeout=30)
    cleanup.add(lambda: subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30))
    subprocess.run(["ip", "addr", "add", f"10.124.{n}.1/30", "dev", host_end], check=True, timeout=30)
    subprocess.run(["ip", "link", "set", host_end, "up"], check=True, timeout=30)
    for argv in (["ip", "addr", "add", f"10.124.{n}.2/30", "dev", inside], ["ip", "link", "set", inside, "up"],
                 ["ip", "link", "set", "lo", "up"]):
        in_netns(proc.pid, argv)
    return f"10.124.{n}.1", f"10.124.{n}.2"


def test_nat_egress_to_an_outside_host(box_env, outside_host):
    host_side, outside = outside_host
    res = box(box_env, "run", "--network", "bridge", "--", PYTHON, ECHO, "ask", outside, str(SERVE_PORT), "out")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{host_side} out"   # masqueraded: the outside sees the host's address


def test_ns_path_joins_a_persistent_netns(box_env, tmp_path, cleanup):
    from nsbox.net import netns
    path = netns.create(str(tmp_path / "netns" / "shared"))
    cleanup.add(netns.delete, path)
    subprocess.run(["nsenter", f"--net={path}", "ip", "link", "add", "marker0", "type", "veth", "peer", "name", "marker1"],
                   check=True, timeout=30)
    res = box(box_env, "run", "--network", f"ns:{path}", "--", "/bin/sh", "-c",
              "ls /sys/class/net; readlink /proc/self/ns/net")
    assert res.returncode == 0, res.stderr
    assert "marker0" in res.stdout.split()
    assert res.stdout.split()[-1] == f"net:[{os.stat(path).st_ino}]"


def test_container_network_shares_a_running_container(box_env):
    serve_detached(box_env, "first", "--network", "bridge")
    res = box(box_env, "run", "--network", "container:first", "--", PYTHON, ECHO, "ask", "127.0.0.1",
              str(SERVE_PORT), "same-ns")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "127.0.0.1 same-ns"


def test_detached_lifecycle_exec_logs_stop_rm(box_env):
    res = box(box_env, "run", "-d", "--name", "life", "--network", "bridge", "--", "/bin/sh", "-c",
              "echo out-line; echo err-line >&2; trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done")
    assert res.returncode == 0 and res.stdout == "life\n", res.stderr
    # no Python interpreter stays per container: conmon is the monitor
    conmon = int(open(os.path.join(box_env["NSBOX_BOX_ROOT"], "life", "conmon.pid")).read())
    assert os.readlink(f"/proc/{conmon}/exe").endswith("conmon")
    ex = box(box_env, "exec", "life", "/bin/sh", "-c", "cat /etc/hostname; exit 5")
    assert ex.returncode == 5 and ex.stdout == "life\n"
    stopped = box(box_env, "stop", "life", check=True)
    assert stopped.stdout == "life\n"
    logs = box(box_env, "logs", "life", check=True)
    assert logs.stdout == "out-line\nbye\n" and logs.stderr == "err-line\n"
    ps = json.loads(box(box_env, "ps", "-a", "--format", "json", check=True).stdout)
    assert [(c["name"], c["status"]) for c in ps] == [("life", "exited (3)")]
    assert box(box_env, "ps", "-q").stdout == ""   # not running
    deadline = time.monotonic() + 10   # conmon's exit command detaches the network
    while leftovers(box_env)["attachments"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(box_env)["attachments"] == []
    box(box_env, "rm", "life", check=True)
    assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}
    assert not os.path.exists(f"/run/nsbox/life")


def test_rm_refuses_a_running_container_without_force(box_env):
    box(box_env, "run", "-d", "--name", "busy", "--", "/bin/sleep", "60", check=True)
    res = box(box_env, "rm", "busy")
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and "rm -f" in res.stderr
    box(box_env, "rm", "-f", "busy", check=True)
    assert box_names(box_env) == [] and not os.path.exists("/run/nsbox/busy")


@pytest.mark.parametrize("flags,message", [
    (["--network", "nosuch"], "network nosuch does not exist"),
    (["--network", "bridge", "-p", "1:2:3:4"], "invalid port mapping"),
    (["--network", "host", "-p", "8080:80"], "-p is not possible with --network host"),
    (["--memory", "lots"], "invalid --memory 'lots'"),
    (["--network", "container:nosuch"], "no such container"),
])
def test_bad_input_is_one_line_and_leaves_nothing(box_env, flags, message):
    for detach in ([], ["-d", "--name", "bad"]):
        res = box(box_env, "run", *detach, *flags, "--", "/bin/true")
        assert res.returncode != 0
        assert res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
        assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}


def test_port_already_in_use(box_env):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        for detach in ([], ["-d", "--name", "clash"]):
            res = box(box_env, "run", *detach, "--network", "bridge", "-p", f"127.0.0.1:{port}:80", "--", "/bin/true")
            assert res.returncode != 0 and res.stderr.count("\n") == 1 and "already in use" in res.stderr
            assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}


@pytest.mark.timeout(400)
def test_100_bridge_runs_leave_nothing_behind(box_env, unique_id):
    """Host-wide counts move with the other tests running on this machine: count what is ours —
    veths, nft rules, leases and records of our state dirs, and each run's netns, cgroups and
    runtime state (by the container's name)."""
    port = free_port()
    box(box_env, "run", "--rm", "--network", "bridge", "--", "/bin/true", check=True)  # the network exists from here
    assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}
    names = []
    for i in range(100):
        name = f"leak-{unique_id}-{i}"[:60]
        res = box(box_env, "run", "--rm", "--name", name, "--network", "bridge", "-p", f"127.0.0.1:{port}:80",
                  "--memory", "64m", "--pids-limit", "50", "--", "/bin/sh", "-c",
                  "test -e /sys/class/net/eth0")
        assert res.returncode == 0, f"run {i}: {res.stderr}"
        names.append(name)
    assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}
    # a netns that outlived its container would keep its veth's host end: "veths" above is [].
    # (netns inodes are reused at once, so lsns cannot tell ours from another test's namespaces)
    cgroup_dirs = [f"/sys/fs/cgroup/{c}/{n}" for c in ("memory", "pids", "cpu") for n in names]
    assert [d for d in cgroup_dirs if os.path.exists(d)] == []
    assert [n for n in names if os.path.exists(f"/run/nsbox/{n}")] == []


NSBOX_RUNC = os.path.join(os.path.dirname(NSBOX), "nsbox-runc")


def runtime_status(name: str) -> str | None:
    res = subprocess.run([NSBOX_RUNC, "state", name], capture_output=True, text=True, timeout=30)
    return json.loads(res.stdout)["status"] if res.returncode == 0 else None


def test_a_killed_front_end_is_cleaned_up_by_the_next_command(box_env, unique_id):
    """SIGKILL to a foreground `nsbox run` leaves its attachment; once its container is gone, the
    next command (here `nsbox ps`) removes the veth's record, the DNAT rules and the lease."""
    name = f"crash-{unique_id}"[:60]
    port = free_port()
    proc = subprocess.Popen([NSBOX, "run", "--name", name, "--network", "bridge", "-p", f"127.0.0.1:{port}:80", "--",
                             "/bin/sleep", "60"], env=box_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not leftovers(box_env)["rules"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert leftovers(box_env)["rules"]
        # killed once its container runs (not while the front end is still setting it up)
        while not runtime_status(name) == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runtime_status(name) == "running"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    subprocess.run([NSBOX_RUNC, "delete", "-f", name], capture_output=True, timeout=30)
    assert leftovers(box_env)["attachments"] == [name]      # the crash left it
    box(box_env, "ps", check=True)
    assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}


def test_detached_rm_removes_everything_when_the_container_exits(box_env):
    res = box(box_env, "run", "-d", "--rm", "--name", "brief", "--network", "bridge", "--", "/bin/sleep", "0.3")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 20
    while box_names(box_env) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(box_env) == {"veths": [], "rules": [], "leases": {}, "attachments": [], "records": []}
    assert not os.path.exists("/run/nsbox/brief")
