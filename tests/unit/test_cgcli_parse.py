"""`nsbox-runc update` / `events` argument handling (pure: no container, no cgroup)."""

from __future__ import annotations

import io
import json

import pytest

from nsbox.errors import CgroupError, SpecError, UsageError
from nsbox.runtime.events import parse_duration
from nsbox.runtime.update import complete, ram_in_bytes, resources_from_file, resources_from_flags


@pytest.mark.parametrize("text, expected", [
    ("100", 100), ("10k", 10 << 10), ("10K", 10 << 10), ("64M", 64 << 20), ("64m", 64 << 20),
    ("64MB", 64 << 20), ("64MiB", 64 << 20), ("1.5g", 3 << 29), ("2 GB", 2 << 30), ("-1", -1), ("1t", 1 << 40),
])
def test_ram_in_bytes_as_go_units(text, expected):
    assert ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["-5", "abc", "10X", "", "1.5.x", "M"])
def test_ram_in_bytes_refuses(text):
    with pytest.raises(ValueError, match="invalid size"):
        ram_in_bytes(text)


def flags(**kw):
    return {k: str(v) for k, v in kw.items()}


def test_flags_map_to_linux_resources():
    res = resources_from_flags(flags(memory="64M", memory_reservation="32M", memory_swap="-1", cpu_share=512,
                                     cpu_quota=50000, cpu_period=100000, cpu_rt_runtime=1000, cpu_rt_period=2000,
                                     cpuset_cpus="0-1", cpuset_mems="0", blkio_weight=300, pids_limit=20))
    assert res == {"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": -1},
                   "cpu": {"shares": 512, "quota": 50000, "period": 100000, "realtimeRuntime": 1000,
                           "realtimePeriod": 2000, "cpus": "0-1", "mems": "0"},
                   "blockIO": {"weight": 300}, "pids": {"limit": 20}}


def test_zero_means_unchanged_and_negative_pids_is_unlimited():
    assert resources_from_flags(flags(memory=0, cpu_share=0, pids_limit=0, cpuset_cpus="")) == {}
    assert resources_from_flags(flags(pids_limit=-2)) == {"pids": {"limit": -1}}
    assert resources_from_flags({"memory": None}) == {}


@pytest.mark.parametrize("kw, words", [
    ({"memory": "-5"}, "invalid value for memory: invalid size: '-5'"),
    ({"cpu_share": "-1"}, "invalid value for cpu-share"),
    ({"cpu_quota": "1.5"}, "invalid value for cpu-quota"),
    ({"blkio_weight": "70000"}, "invalid value for blkio-weight"),
    ({"pids_limit": "many"}, "invalid value for pids-limit"),
])
def test_bad_flag_values_name_the_flag(kw, words):
    with pytest.raises(UsageError, match=words):
        resources_from_flags(kw)


def test_rdt_refused_and_kernel_memory_ignored(capsys):
    with pytest.raises(CgroupError, match="l3 cache schema is not enabled"):
        resources_from_flags({"l3_cache_schema": "L3:0=f"})
    assert resources_from_flags({"kernel_memory": "10M"}) == {}
    assert "Kernel memory settings are ignored" in capsys.readouterr().err


def test_resources_file_from_stdin_is_validated_with_json_paths():
    doc = {"memory": {"limit": 1 << 20}, "pids": {"limit": -5}, "devices": [{"allow": True}]}
    assert resources_from_file("-", io.StringIO(json.dumps(doc))) == {"memory": {"limit": 1 << 20},
                                                                      "pids": {"limit": -1}}
    with pytest.raises(SpecError) as err:
        resources_from_file("-", io.StringIO('{"memory": {"limit": -3}, "cpu": {"cpus": "x"}}'))
    assert ("$.memory.limit", "must be positive (or -1 for unlimited)") in err.value.problems
    assert any(p == "$.cpu.cpus" for p, _ in err.value.problems)
    with pytest.raises(SpecError, match="not valid JSON"):
        resources_from_file("-", io.StringIO("nope"))
    with pytest.raises(SpecError, match="must be a JSON object"):
        resources_from_file("-", io.StringIO("[1]"))
    with pytest.raises(UsageError, match="cannot read resources from /nonexistent"):
        resources_from_file("/nonexistent/res.json")


def test_complete_keeps_the_stored_counterparts():
    stored = {"cpu": {"quota": 20000, "period": 50000}, "memory": {"limit": 100}}
    assert complete({"cpu": {"quota": 30000}}, stored) == {"cpu": {"quota": 30000, "period": 50000}}
    assert complete({"cpu": {"period": 100000}}, stored) == {"cpu": {"period": 100000, "quota": 20000}}
    assert complete({"memory": {"swap": 200}}, stored) == {"memory": {"swap": 200, "limit": 100}}
    assert complete({"pids": {"limit": 3}}, {}) == {"pids": {"limit": 3}}


@pytest.mark.parametrize("text, seconds", [("5s", 5), ("500ms", 0.5), ("1m30s", 90), ("1h", 3600),
                                           ("1.5s", 1.5), ("250us", 0.00025)])
def test_interval_as_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, words", [("abc", "parse error"), ("5", "parse error"), ("5x", "parse error"),
                                         ("0s", "greater than 0"), ("0", "greater than 0")])
def test_bad_interval(text, words):
    with pytest.raises(UsageError, match=words):
        parse_duration(text)
