"""Figures for the report (run with -s to see them): connection set-up latency to a published port
(veth + DNAT) against plain loopback and the container address, and bulk TCP throughput over a
veth pair against loopback, with a Python socket loop. Assertions are generous sanity bounds."""

from __future__ import annotations

import json
import subprocess

import pytest

from nsbox.net.attach import attach
from nsbox.net.store import NetworkStore
from tests.conftest import require_tool
from tests.fixtures.net_helpers import ECHO, PYTHON, free_port, private_net_root, start_in_netns

N = 300


def bench(host: str, port: int, pid: int | None = None) -> dict:
    argv = [PYTHON, ECHO, "bench", host, str(port), str(N)]
    if pid:
        argv = ["nsenter", "-t", str(pid), "-n", *argv]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def blast(host: str, port: int, mb: int = 512) -> float:
    res = subprocess.run([PYTHON, ECHO, "blast", host, str(port), str(mb)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["mb_per_s"]


@pytest.fixture
def net_root(tmp_path, cleanup):
    require_tool("nft")
    return private_net_root(tmp_path, cleanup)


@pytest.mark.timeout(300)
def test_latency_and_throughput_veth_dnat_vs_loopback(net_root, cleanup):
    NetworkStore(net_root).create("perf")
    port = free_port()
    container = start_in_netns(cleanup, ["serve", "7000"])
    sink_ct = start_in_netns(cleanup, ["sink", "7001"])
    att = attach("perf", netns=container.pid, container_id="perf", root=net_root, ports=[f"127.0.0.1:{port}:7000"])
    att2 = attach("perf", netns=sink_ct.pid, container_id="sink", root=net_root)
    lo_port, lo_sink = free_port(), free_port()
    host_srv = subprocess.Popen([PYTHON, ECHO, "serve", str(lo_port), "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    cleanup.add(lambda: (host_srv.kill(), host_srv.wait()))
    host_sink = subprocess.Popen([PYTHON, ECHO, "sink", str(lo_sink), "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    cleanup.add(lambda: (host_sink.kill(), host_sink.wait()))
    assert host_srv.stdout.readline().strip() == "ready" and host_sink.stdout.readline().strip() == "ready"

    figures = {
        "loopback 127.0.0.1 (no netns)": bench("127.0.0.1", lo_port),
        "container address over veth": bench(att.ip, 7000),
        "published port 127.0.0.1 -> veth+DNAT": bench("127.0.0.1", port),
    }
    throughput = {"loopback": blast("127.0.0.1", lo_sink), "veth (host -> container)": blast(att2.ip, 7001)}
    print("\nconnect+echo latency, median/p90 us over", N, "connections:")
    for name, fig in figures.items():
        print(f"  {name:<42} {fig['median_us']:>8} / {fig['p90_us']}")
    print("bulk TCP, Python sendall loop, MB/s:")
    for name, mbs in throughput.items():
        print(f"  {name:<42} {mbs:>8}")
    assert all(f["n"] == N and f["p90_us"] < 100_000 for f in figures.values())
    assert all(v > 10 for v in throughput.values())
