#!/usr/bin/env python3
"""Network paths side by side: throughput (iperf3) and connection set-up latency to a published port.

    bench/net_bench.py [--time SECONDS] [--runs N] [--conns N] [--paths a,b,...] [--json]

Needs iperf3 (Debian package ``iperf3``; idempotent: ``dpkg -s iperf3 >/dev/null 2>&1 || apt-get install -y
iperf3``), pasta (passt) and slirp4netns for their rows. Only loopback and namespaces created here.

Paths (a "container" is a process in its own network namespace running ``iperf3 -s`` and the tests'
netfast_server on fixed ports; the client always runs on the host):
  loopback     both ends on the host's 127.0.0.1 (the floor)
  veth         root only: an ``unshare -n`` namespace joined by a veth pair; the client dials its address
  pasta        ``unshare -Urn`` namespace, ports published by pasta (nsbox.net.rootless; its spliced path)
  slirp4netns  ``unshare -Urn`` namespace, ports published through slirp4netns's API (user-mode TCP stack)
  fdforward    ``unshare -Urn`` namespace, ports published by nsbox.net.fdforward (splice relay, SCM_RIGHTS)

Per path: setup (ms to publish the ports), host->container and container->host throughput (iperf3 -t T,
median of N runs, Gbit/s), the forwarder process's CPU time (user+sys) per GB moved during the iperf3
runs, and connect+1 round trip+close latency (median and p90 of --conns, µs).
Ratios are against loopback. Run as root: veth needs it, and the rootless rows (pasta, slirp4netns,
fdforward) are then measured as ``--user`` (default nsbox-test, from tests/rootless-env setup) through
runuser, as an unprivileged user would run them (pasta run by root drops to nobody and cannot join a
root-owned user namespace). Run as a user: every row but veth, as that user.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from nsbox.net import rootless  # noqa: E402
from nsbox.net.fdforward import start_forward, stop_forward  # noqa: E402
from nsbox.net.ports import PortMapping  # noqa: E402
from tests.fixtures.netfast_helpers import SERVER  # noqa: E402

IPERF_PORT, ECHO_PORT = 5201, 7100
PATHS = ("loopback", "veth", "pasta", "slirp4netns", "fdforward")
ROOTLESS = ("pasta", "slirp4netns", "fdforward")
VETH_HOST, VETH_NS = "10.213.77.1", "10.213.77.2"
PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """iperf3 -s and the echo server in a new network namespace (or on the host for 'loopback')."""

    def __init__(self, unshare: tuple[str, ...] | None, iperf_port=IPERF_PORT, echo_port=ECHO_PORT):
        script = (f"ip link set lo up 2>/dev/null; iperf3 -s -p {iperf_port} >/dev/null 2>&1 & "
                  f"exec {PYTHON} {SERVER} {echo_port}")
        argv = ["sh", "-c", script]
        if unshare:
            argv = ["unshare", *unshare, *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not r or self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the bench container did not start")
        self.pid = self.proc.pid
        time.sleep(0.1)   # iperf3 -s binding

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def cpu_seconds(pid: int | None) -> float:
    """utime+stime of a forwarder process (what moving the bytes cost it)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def iperf(host: str, port: int, seconds: float, reverse: bool) -> tuple[float, int]:
    argv = ["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
    res = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    data = json.loads(res.stdout or "{}")
    if res.returncode or "error" in data:
        raise RuntimeError(f"iperf3 {host}:{port}: {data.get('error') or res.stderr.strip()}")
    return data["end"]["sum_received"]["bits_per_second"] / 1e9, data["end"]["sum_received"]["bytes"]


def connect_latency(host: str, port: int, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with socket.create_connection((host, port), timeout=10) as c:
            c.sendall(b"ping\n")
            while c.recv(64):
                pass
        times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


# ---- paths: each returns (host, iperf port, echo port, setup ms, teardown, forwarder pid) ----------
def path_loopback(c_ports):
    ip_port, echo_port = c_ports
    box = Container(None, ip_port, echo_port)
    return "127.0.0.1", ip_port, echo_port, 0.0, box.stop, None


def path_veth(_):
    if os.geteuid() != 0:
        raise RuntimeError("veth needs root")
    box = Container(("-n",))
    host_if, ns_if = f"nfb{os.getpid() % 10000}h", f"nfb{os.getpid() % 10000}c"
    t = time.perf_counter()
    cmds = [["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", str(box.pid)],
            ["ip", "addr", "add", f"{VETH_HOST}/30", "dev", host_if], ["ip", "link", "set", host_if, "up"],
            ["nsenter", "-t", str(box.pid), "-n", "ip", "addr", "add", f"{VETH_NS}/30", "dev", ns_if],
            ["nsenter", "-t", str(box.pid), "-n", "ip", "link", "set", ns_if, "up"]]
    for cmd in cmds:
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)
    setup = (time.perf_counter() - t) * 1e3

    def teardown():
        box.stop()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
    return VETH_NS, IPERF_PORT, ECHO_PORT, setup, teardown, None


def _published(start, stop, helper_pid):
    box = Container(("-Urn",))
    hp_iperf, hp_echo = free_port(), free_port()
    # every host address: nsbox.net.rootless passes several "127.0.0.1/P:Q" specs to one pasta -t,
    # which pasta refuses ("Invalid port specifier")
    ports = [PortMapping(hp_iperf, IPERF_PORT), PortMapping(hp_echo, ECHO_PORT)]
    t = time.perf_counter()
    try:
        info = start(box.pid, ports)
    except BaseException:
        box.stop()
        raise
    setup = (time.perf_counter() - t) * 1e3

    def teardown():
        stop(info)
        box.stop()
    return "127.0.0.1", hp_iperf, hp_echo, setup, teardown, helper_pid(info)


def path_pasta(_):
    return _published(lambda pid, ports: rootless.start("pasta", pid, ports), rootless.stop,
                      lambda info: info["helper_pid"])


def path_slirp4netns(_):
    return _published(lambda pid, ports: rootless.start("slirp4netns", pid, ports), rootless.stop,
                      lambda info: info["helper_pid"])


def path_fdforward(_):
    return _published(start_forward, stop_forward, lambda info: info.pid)


def measure(name: str, args) -> dict:
    fn = globals()[f"path_{name}"]
    host, iperf_port, echo_port, setup, teardown, helper = fn((free_port(), free_port()))
    try:
        connect_latency(host, echo_port, 20)   # warm-up
        cpu0 = cpu_seconds(helper)
        up = [iperf(host, iperf_port, args.time, False) for _ in range(args.runs)]
        down = [iperf(host, iperf_port, args.time, True) for _ in range(args.runs)]
        cpu = cpu_seconds(helper) - cpu0
        lat = [connect_latency(host, echo_port, args.conns) for _ in range(args.runs)]
    finally:
        teardown()
    gigabytes = sum(n for _, n in up + down) / 1e9
    return {"path": name, "setup_ms": round(setup, 1),
            "to_container_gbps": round(statistics.median(g for g, _ in up), 2),
            "from_container_gbps": round(statistics.median(g for g, _ in down), 2),
            "forwarder_cpu_ms_per_gb": round(cpu * 1e3 / gigabytes, 1) if helper else None,
            "connect_us": round(statistics.median(m for m, _ in lat), 1),
            "connect_p90_us": round(statistics.median(p for _, p in lat), 1)}


def run_as_user(args, names: list[str]) -> list[dict]:
    """The rootless rows measured by this script run as ``args.user`` (runuser), merged as JSON."""
    argv = ["runuser", "-u", args.user, "--", "env", f"PYTHONPATH={os.path.join(HERE, '..', 'src')}",
            sys.executable, os.path.abspath(__file__), "--json", "--time", str(args.time), "--runs", str(args.runs),
            "--conns", str(args.conns), "--paths", ",".join(names)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise RuntimeError(f"as {args.user}: {res.stderr.strip() or res.stdout.strip()}")
    rows = json.loads(res.stdout)
    for r in rows:
        r["user"] = args.user
    return rows


def table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["path"] == "loopback"), None)
    out = [f"{'path':<12} {'setup ms':>9} {'->ctr Gbit/s':>13} {'ctr-> Gbit/s':>13} {'connect µs':>11} "
           f"{'p90 µs':>8} {'fwd cpu ms/GB':>13}   ratios vs loopback (->ctr, ctr->, connect)"]
    for r in rows:
        if "error" in r:
            out.append(f"{r['path']:<12} skipped: {r['error']}")
            continue
        ratio = ""
        if base:
            ratio = (f"   x{r['to_container_gbps'] / base['to_container_gbps']:.2f}  "
                     f"x{r['from_container_gbps'] / base['from_container_gbps']:.2f}  "
                     f"x{r['connect_us'] / base['connect_us']:.2f}")
        name = r["path"] + (" *" if r.get("user") else "")
        out.append(f"{name:<12} {r['setup_ms']:>9.1f} {r['to_container_gbps']:>13.2f} "
                   f"{r['from_container_gbps']:>13.2f} {r['connect_us']:>11.1f} {r['connect_p90_us']:>8.1f} "
                   f"{'-' if r['forwarder_cpu_ms_per_gb'] is None else r['forwarder_cpu_ms_per_gb']:>13}{ratio}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=int, default=3, help="iperf3 -t whole seconds per run (default 3)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; medians (default 3)")
    ap.add_argument("--conns", type=int, default=300, help="connections per latency run (default 300)")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--user", default="nsbox-test",
                    help="as root: run the rootless rows as this user ('' = as root; default nsbox-test)")
    args = ap.parse_args()
    if not shutil.which("iperf3"):
        print("net_bench: iperf3 is not installed (apt-get install -y iperf3)", file=sys.stderr)
        return 2
    rows = []
    names = args.paths.split(",")
    for name in names:
        if name not in PATHS:
            print(f"net_bench: unknown path {name!r} (one of {', '.join(PATHS)})", file=sys.stderr)
            return 2
    as_user = [n for n in names if n in ROOTLESS] if os.geteuid() == 0 and args.user else []
    for name in names:
        try:
            if name in as_user:
                if name == as_user[0]:
                    user_rows = {r["path"]: r for r in run_as_user(args, as_user)}
                rows.append(user_rows[name])
            else:
                rows.append(measure(name, args))
        except Exception as err:  # noqa: BLE001 - a missing tool skips its row, the others still run
            rows.append({"path": name, "error": str(err)})
        if not args.json:
            print(table(rows).splitlines()[-1] if len(rows) > 1 else table(rows), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print()
        print(table(rows))
        print(f"\n(iperf3 -t {args.time:g}, median of {args.runs}; latency: median of {args.runs} runs of "
              f"{args.conns} connect+ping+pong+close; {os.cpu_count()} CPUs; kernel {os.uname().release})")
        if any(r.get("user") for r in rows):
            print(f"* measured as {args.user} (rootless: unshare -Urn namespaces owned by that user)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
