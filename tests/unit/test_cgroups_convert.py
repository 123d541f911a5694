"""Conversion tables OCI linux.resources -> cgroup files (values as runc 1.1 / crun write them)."""

from __future__ import annotations

import pytest

from nsbox.cgroups import convert
from nsbox.cgroups.convert import (blkio_weight_to_io_weight, memory_swap_to_v2, parse_cpuset,
                                   shares_to_weight, v1_writes, v2_writes, validate)


def files(writes):
    return [(w.controller, w.file, w.value) for w in writes]


@pytest.mark.parametrize("shares,weight", [
    (0, 0), (2, 1), (1024, 39), (512, 20), (100, 4), (262144, 10000), (256, 10), (3, 1), (2048, 79),
])
def test_shares_to_weight_matches_runc(shares, weight):
    # runc libcontainer/cgroups.ConvertCPUSharesToCgroupV2Value: 1 + ((shares-2)*9999)/262142
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio,io", [(0, 0), (10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize("swap,limit,out", [
    (0, 0, 0),            # nothing set
    (0, -1, -1),          # unlimited memory, swap unset -> swap unlimited too
    (-1, 100, -1),        # unlimited swap
    (0, 100, 0),          # swap unset
    (300, 100, 200),      # OCI swap is memory+swap: v2 wants the swap part alone
    (100, 100, 0),        # memory+swap == memory: no swap
])
def test_memory_swap_to_v2(swap, limit, out):
    assert memory_swap_to_v2(swap, limit) == out


@pytest.mark.parametrize("swap,limit", [(300, 0), (300, -1), (50, 100)])
def test_memory_swap_to_v2_rejects(swap, limit):
    with pytest.raises(ValueError):
        memory_swap_to_v2(swap, limit)


def test_parse_cpuset():
    assert parse_cpuset("0-2,5") == [0, 1, 2, 5]
    assert parse_cpuset("3") == [3]
    assert parse_cpuset("") == []
    for bad in ("1-", "a", "2-1", "1,,2", "-1", "1 2"):
        with pytest.raises(ValueError):
            parse_cpuset(bad)


FULL = {
    "memory": {"limit": 100 << 20, "swap": 200 << 20, "reservation": 50 << 20, "kernelTCP": 8 << 20,
               "swappiness": 10, "disableOOMKiller": True, "kernel": 64 << 20},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
            "realtimePeriod": 1000000, "realtimeRuntime": 950000, "idle": 0},
    "pids": {"limit": 50},
    "blockIO": {"weight": 300, "leafWeight": 200,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 400, "leafWeight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
}


def test_v1_table_full():
    assert validate(FULL) == []
    got = files(v1_writes(FULL))
    assert got == [
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.rt_period_us", "1000000"),
        ("cpu", "cpu.rt_runtime_us", "950000"),
        ("cpu", "cpu.idle", "0"),
        ("memory", "memory.limit_in_bytes", str(100 << 20)),
        ("memory", "memory.memsw.limit_in_bytes", str(200 << 20)),   # v1 memsw = OCI swap as is
        ("memory", "memory.soft_limit_in_bytes", str(50 << 20)),
        ("memory", "memory.kmem.tcp.limit_in_bytes", str(8 << 20)),
        ("memory", "memory.swappiness", "10"),
        ("memory", "memory.oom_control", "1"),
        ("pids", "pids.max", "50"),
        ("blkio", "blkio.weight", "300"),
        ("blkio", "blkio.leaf_weight", "200"),
        ("blkio", "blkio.weight_device", "8:0 400"),
        ("blkio", "blkio.leaf_weight_device", "8:0 100"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio", "blkio.throttle.write_bps_device", "8:0 2097152"),
        ("blkio", "blkio.throttle.read_iops_device", "8:0 100"),
        ("blkio", "blkio.throttle.write_iops_device", "8:0 200"),
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"),
        ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),     # where it exists (quiet otherwise)
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
        ("rdma", "rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
    ]
    # kernel memory (kmem.limit_in_bytes) is deprecated: ignored as runc >= 1.0 does
    assert "memory.kmem.limit_in_bytes" not in [f for _, f, _ in got]


def test_v1_blkio_weight_falls_back_to_bfq_and_is_optional():
    w = [w for w in v1_writes({"blockIO": {"weight": 300}})][0]
    assert w.candidates == (("blkio.weight", "300"), ("blkio.bfq.weight", "300"))
    assert w.optional


def test_v2_table_full():
    res = {k: v for k, v in FULL.items() if k != "network"}
    res["cpu"] = {k: v for k, v in res["cpu"].items() if not k.startswith("realtime")}
    res["unified"] = {"memory.high": "90000000", "cgroup.max.depth": "4"}
    got = [(w.controller, w.candidates) for w in v2_writes(res)]
    assert got == [
        ("cpu", (("cpu.weight", "20"),)),
        ("cpu", (("cpu.max", "50000 100000"),)),
        ("cpu", (("cpu.idle", "0"),)),
        ("cpuset", (("cpuset.cpus", "0-1"),)),
        ("cpuset", (("cpuset.mems", "0"),)),
        ("memory", (("memory.swap.max", str(100 << 20)),)),   # 200M total - 100M memory
        ("memory", (("memory.max", str(100 << 20)),)),
        ("memory", (("memory.low", str(50 << 20)),)),
        ("pids", (("pids.max", "50"),)),
        ("io", (("io.bfq.weight", "300"), ("io.weight", str(blkio_weight_to_io_weight(300))))),
        ("io", (("io.bfq.weight", "8:0 400"), ("io.weight", f"8:0 {blkio_weight_to_io_weight(400)}"))),
        ("io", (("io.max", "8:0 rbps=1048576"),)),
        ("io", (("io.max", "8:0 wbps=2097152"),)),
        ("io", (("io.max", "8:0 riops=100"),)),
        ("io", (("io.max", "8:0 wiops=200"),)),
        ("hugetlb", (("hugetlb.2MB.max", "4194304"),)),
        ("hugetlb", (("hugetlb.2MB.rsvd.max", "4194304"),)),
        ("rdma", (("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),)),
        ("memory", (("memory.high", "90000000"),)),
        ("cgroup", (("cgroup.max.depth", "4"),)),
    ]
    assert convert.v2_controllers_needed(v2_writes(res)) == ["cpu", "cpuset", "memory", "pids", "io",
                                                              "hugetlb", "rdma"]


@pytest.mark.parametrize("res,v1,v2", [
    # -1: unlimited. v1 writes -1, v2 writes max
    ({"memory": {"limit": -1}}, [("memory.limit_in_bytes", "-1")], [("memory.swap.max", "max"), ("memory.max", "max")]),
    ({"memory": {"limit": 100, "swap": -1}}, [("memory.limit_in_bytes", "100"), ("memory.memsw.limit_in_bytes", "-1")],
     [("memory.swap.max", "max"), ("memory.max", "100")]),
    ({"memory": {"limit": 100, "swap": 100}}, [("memory.limit_in_bytes", "100"), ("memory.memsw.limit_in_bytes", "100")],
     [("memory.max", "100")]),
    # 0 = unset: nothing written
    ({"memory": {"limit": 0, "swap": 0, "reservation": 0}}, [], []),
    ({"cpu": {"shares": 0, "quota": 0, "period": 0}}, [], []),
    # pids: 0 and -1 -> max
    ({"pids": {"limit": 0}}, [("pids.max", "max")], [("pids.max", "max")]),
    ({"pids": {"limit": -1}}, [("pids.max", "max")], [("pids.max", "max")]),
    # cpu.max: quota -1 is "max"; the period alone keeps the quota as max
    ({"cpu": {"quota": -1, "period": 50000}}, [("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "-1")],
     [("cpu.max", "max 50000")]),
    ({"cpu": {"quota": 20000}}, [("cpu.cfs_quota_us", "20000")], [("cpu.max", "20000")]),
    ({"cpu": {"period": 10000}}, [("cpu.cfs_period_us", "10000")], [("cpu.max", "max 10000")]),
    ({"cpu": {"shares": 1024}}, [("cpu.shares", "1024")], [("cpu.weight", "39")]),
    ({"memory": {"swappiness": -1}}, [], []),
    ({"rdma": {"mlx4_0": {"hcaHandles": 2}}}, [("rdma.max", "mlx4_0 hca_handle=2 hca_object=max")],
     [("rdma.max", "mlx4_0 hca_handle=2 hca_object=max")]),
])
def test_edge_values(res, v1, v2):
    assert validate(res) == []
    assert [(w.file, w.value) for w in v1_writes(res)] == v1
    assert [(w.file, w.value) for w in v2_writes(res)] == v2


def test_v2_rejects_what_it_cannot_express():
    with pytest.raises(ValueError, match="real-time"):
        v2_writes({"cpu": {"realtimeRuntime": 1000}})
    with pytest.raises(ValueError, match="net_cls"):
        v2_writes({"network": {"classID": 1}})


@pytest.mark.parametrize("res,path,msg", [
    ({"memory": {"limit": -5}}, "$.linux.resources.memory.limit", "must be positive"),
    ({"memory": {"limit": "1G"}}, "$.linux.resources.memory.limit", "must be an integer"),
    ({"memory": {"swap": -2}}, "$.linux.resources.memory.swap", "must be positive"),
    ({"memory": {"limit": 200, "swap": 100}}, "$.linux.resources.memory.swap", "must be >= memory.limit"),
    ({"memory": {"swap": 100}}, "$.linux.resources.memory.swap", "needs a memory.limit"),
    ({"memory": {"swappiness": 101}}, "$.linux.resources.memory.swappiness", "between 0 and 100"),
    ({"memory": {"disableOOMKiller": 1}}, "$.linux.resources.memory.disableOOMKiller", "boolean"),
    ({"cpu": {"cpus": "1-"}}, "$.linux.resources.cpu.cpus", 'bad cpuset "1-"'),
    ({"cpu": {"mems": "x"}}, "$.linux.resources.cpu.mems", 'bad cpuset "x"'),
    ({"cpu": {"shares": -1}}, "$.linux.resources.cpu.shares", "between"),
    ({"cpu": {"quota": 10}}, "$.linux.resources.cpu.quota", ">= 1000"),
    ({"cpu": {"quota": -7}}, "$.linux.resources.cpu.quota", ">= 1000"),
    ({"cpu": {"period": 999}}, "$.linux.resources.cpu.period", "between 1000 and 1000000"),
    ({"cpu": {"idle": 2}}, "$.linux.resources.cpu.idle", "0 or 1"),
    ({"pids": {"limit": -3}}, "$.linux.resources.pids.limit", "must be positive"),
    ({"pids": {}}, "$.linux.resources.pids.limit", "is required"),
    ({"blockIO": {"weight": 5}}, "$.linux.resources.blockIO.weight", "between 10 and 1000"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": -1, "rate": 1}]}},
     "$.linux.resources.blockIO.throttleReadBpsDevice[0].minor", "non-negative"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "$.linux.resources.hugepageLimits[0].pageSize",
     "bad page size"),
    ({"unified": {"bogus.max": "1"}}, "$.linux.resources.unified.bogus.max", 'unknown controller "bogus"'),
    ({"unified": {"../memory.max": "1"}}, "$.linux.resources.unified.../memory.max", "not a cgroup2 file"),
    ({"unified": {"memory.max": 5}}, "$.linux.resources.unified.memory.max", "value must be a string"),
    ({"devices": [{"allow": True, "type": "x"}]}, "$.linux.resources.devices[0].type", "bad device type"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "$.linux.resources.devices[0].access", "bad access"),
    ({"devices": [{"type": "c"}]}, "$.linux.resources.devices[0].allow", "boolean"),
    ({"memory": []}, "$.linux.resources.memory", "must be an object"),
])
def test_validation_names_the_field(res, path, msg):
    problems = validate(res)
    assert any(p == path and msg in m for p, m in problems), problems


def test_validation_collects_every_problem():
    problems = validate({"memory": {"limit": -5}, "cpu": {"cpus": "1-"}, "pids": {"limit": -9}})
    assert [p for p, _ in problems] == ["$.linux.resources.memory.limit", "$.linux.resources.cpu.cpus",
                                        "$.linux.resources.pids.limit"]
