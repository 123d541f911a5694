"""`nsbox run` resource and network flags -> OCI config (pure translation, no privileges)."""

from __future__ import annotations

import pytest

from nsbox.engine.box import BoxOptions, box_config
from nsbox.engine.network import NetworkMode, configure_spec, parse_network
from nsbox.engine.resources import parse_size, resources_from_flags
from nsbox.errors import NetworkError, UsageError


@pytest.mark.parametrize("text,value", [("1024", 1024), ("512b", 512), ("4k", 4096), ("256m", 256 << 20),
                                        ("1.5g", 3 << 29), ("2G", 2 << 30), ("64MiB", 64 << 20), ("1t", 1 << 40),
                                        ("8mb", 8 << 20)])
def test_sizes_use_powers_of_1024(text, value):
    assert parse_size(text, "--memory") == value


@pytest.mark.parametrize("text", ["", "m", "12x", "-5m", "1.2.3g", "ten"])
def test_bad_sizes_name_the_flag(text):
    with pytest.raises(UsageError, match="--memory"):
        parse_size(text, "--memory")


def test_memory_alone_gets_twice_as_much_memory_plus_swap():
    assert resources_from_flags(memory="256m") == {"memory": {"limit": 256 << 20, "swap": 512 << 20}}


def test_memory_swap_total_and_unlimited():
    assert resources_from_flags(memory="256m", memory_swap="1g")["memory"] == {"limit": 256 << 20, "swap": 1 << 30}
    assert resources_from_flags(memory="256m", memory_swap="-1")["memory"] == {"limit": 256 << 20, "swap": -1}


@pytest.mark.parametrize("kwargs,match", [
    ({"memory_swap": "1g"}, "needs --memory"),
    ({"memory": "256m", "memory_swap": "128m"}, "at least --memory"),
    ({"memory": "1m"}, "minimum memory limit is 6m"),
    ({"cpus": "0"}, "range is 0.01 to 4"),
    ({"cpus": "5"}, "range is 0.01 to 4"),
    ({"cpus": "lots"}, "--cpus"),
    ({"cpu_shares": 1}, "2 to 262144"),
    ({"pids_limit": -3}, "--pids-limit"),
    ({"pids_limit": "x"}, "--pids-limit"),
])
def test_bad_limits_are_one_clear_usage_error(kwargs, match):
    with pytest.raises(UsageError, match=match):
        resources_from_flags(ncpu=4, **kwargs)


def test_cpus_shares_and_pids():
    res = resources_from_flags(cpus="1.5", cpu_shares=512, pids_limit=100, ncpu=4)
    assert res == {"cpu": {"quota": 150000, "period": 100000, "shares": 512}, "pids": {"limit": 100}}
    assert resources_from_flags(pids_limit=0) == {"pids": {"limit": -1}}
    assert resources_from_flags() == {}


def test_network_modes():
    assert parse_network(None, rootless=False) == NetworkMode("none")
    assert parse_network("host", rootless=True) == NetworkMode("host")
    assert parse_network("bridge", rootless=False) == NetworkMode("bridge", "nsbox")
    assert parse_network("bridge:backend", rootless=False) == NetworkMode("bridge", "backend")
    assert parse_network("default", rootless=False) == NetworkMode("bridge", "nsbox")
    assert parse_network("container:web", rootless=True) == NetworkMode("container", "web")
    with pytest.raises(NetworkError, match="needs root"):
        parse_network("bridge", rootless=True)
    with pytest.raises(UsageError, match="invalid --network"):
        parse_network("ns:", rootless=True)
    with pytest.raises(NetworkError, match="not a network namespace"):
        parse_network("ns:/etc/passwd", rootless=False)


def test_configure_spec_namespaces_and_etc_binds():
    spec = box_config(BoxOptions(args=["true"]), "/", rootless=False)
    host = box_config(BoxOptions(args=["true"]), "/", rootless=False)
    configure_spec(host, NetworkMode("host"), "/x/etc")
    assert "network" not in [n["type"] for n in host["linux"]["namespaces"]]
    assert not [m for m in host["mounts"] if m["destination"].startswith("/etc/")]
    configure_spec(spec, NetworkMode("ns", "/run/netns/a"), "/x/etc")
    assert {"type": "network", "path": "/run/netns/a"} in spec["linux"]["namespaces"]
    binds = {m["destination"]: m["source"] for m in spec["mounts"] if m["destination"].startswith("/etc/")}
    assert binds == {"/etc/hosts": "/x/etc/hosts", "/etc/resolv.conf": "/x/etc/resolv.conf",
                     "/etc/hostname": "/x/etc/hostname"}
