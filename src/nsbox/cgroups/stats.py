"""Resource usage in the shape of runc's ``events --stats`` "data" object (libcontainer types.Stats).

Fields runc marks ``omitempty`` are left out when zero, so the JSON matches runc's byte for byte in
shape. v1 reads cpuacct/cpu/cpuset/memory/pids/blkio/hugetlb files; v2 reads cpu.stat, memory.*,
pids.*, io.stat, hugetlb.*.
"""

from __future__ import annotations

import os

from . import fs

NS_PER_SEC = 1_000_000_000
UINT64_MAX = 2**64 - 1


def _omit_zero(d: dict, keep: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in d.items() if k in keep or (v not in (0, None, [], {}))}


def _u(v: int) -> int:
    """runc reports 'max' / -1 as the largest uint64."""
    return UINT64_MAX if v == -1 else v


def hugepage_sizes(sysfs: str = "/sys/kernel/mm/hugepages") -> list[str]:
    """['2MB', '1GB'] from hugepages-2048kB ... (runc's naming)."""
    out = []
    try:
        names = sorted(os.listdir(sysfs))
    except OSError:
        return out
    for name in names:
        if not name.startswith("hugepages-") or not name.endswith("kB"):
            continue
        kb = int(name[len("hugepages-"):-2])
        for unit, div in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % div == 0:
                out.append(f"{kb // div}{unit}")
                break
    return out


def _list_ints(text: str) -> list[int]:
    return [int(x) for x in text.split()]


def empty() -> dict:
    return {"cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}}, "cpuset": {}, "memory": {},
            "pids": {}, "blkio": {}, "hugetlb": {}, "intel_rdt": {}, "network_interfaces": None}


# ---------------------------------------------------------------- v1

def v1_cpu(cpuacct: str | None, cpu: str | None) -> dict:
    usage = {}
    if cpuacct:
        usage["total"] = fs.read_int(os.path.join(cpuacct, "cpuacct.usage"))
        for key, name in (("percpu", "cpuacct.usage_percpu"), ("percpu_kernel", "cpuacct.usage_percpu_sys"),
                          ("percpu_user", "cpuacct.usage_percpu_user")):
            try:
                usage[key] = _list_ints(fs.read(os.path.join(cpuacct, name)))
            except OSError:
                pass
        ticks = os.sysconf("SC_CLK_TCK")
        st = fs.read_keyed(os.path.join(cpuacct, "cpuacct.stat"))
        usage["kernel"] = st.get("system", 0) * NS_PER_SEC // ticks
        usage["user"] = st.get("user", 0) * NS_PER_SEC // ticks
    usage.setdefault("kernel", 0)
    usage.setdefault("user", 0)
    thr = {}
    if cpu:
        st = fs.read_keyed(os.path.join(cpu, "cpu.stat"))
        thr = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
               "throttledTime": st.get("throttled_time", 0)}
    return {"usage": _omit_zero(usage, ("kernel", "user")), "throttling": _omit_zero(thr)}


def v1_cpuset(path: str | None) -> dict:
    if not path:
        return {}
    from .convert import parse_cpuset

    def rd(name, default=0):
        return fs.read_int(os.path.join(path, f"cpuset.{name}"), default)
    out = {}
    try:
        out["cpus"] = parse_cpuset(fs.read(os.path.join(path, "cpuset.cpus")).strip())
    except (OSError, ValueError):
        pass
    out["cpu_exclusive"] = rd("cpu_exclusive")
    try:
        out["mems"] = parse_cpuset(fs.read(os.path.join(path, "cpuset.mems")).strip())
    except (OSError, ValueError):
        pass
    for key in ("mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level"):
        out[key] = rd(key)
    return _omit_zero(out, tuple(k for k in out if k not in ("cpus", "mems")))


def _v1_mem_entry(path: str, prefix: str) -> dict:
    def rd(name):
        return fs.read_int(os.path.join(path, f"{prefix}.{name}"))
    entry = {"limit": _u(rd("limit_in_bytes")), "usage": rd("usage_in_bytes"), "max": rd("max_usage_in_bytes"),
             "failcnt": rd("failcnt")}
    return _omit_zero(entry, ("limit", "failcnt"))


def v1_memory(path: str | None) -> dict:
    if not path:
        return {}
    raw = fs.read_keyed(os.path.join(path, "memory.stat"))
    out = {"cache": raw.get("cache", 0), "usage": _v1_mem_entry(path, "memory")}
    if os.path.exists(os.path.join(path, "memory.memsw.usage_in_bytes")):
        out["swap"] = _v1_mem_entry(path, "memory.memsw")
    out["kernel"] = _v1_mem_entry(path, "memory.kmem")
    out["kernelTCP"] = _v1_mem_entry(path, "memory.kmem.tcp")
    out["raw"] = dict(sorted(raw.items()))
    return _omit_zero(out, ("usage",))


def pids_stats(path: str | None) -> dict:
    if not path:
        return {}
    limit = fs.read_int(os.path.join(path, "pids.max"))
    return _omit_zero({"current": fs.read_int(os.path.join(path, "pids.current")),
                       "limit": 0 if limit == -1 else limit})


def _blkio_entries(path: str, name: str) -> list[dict]:
    try:
        text = fs.read(os.path.join(path, name))
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append(_omit_zero({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}))
        elif len(parts) == 2 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append(_omit_zero({"major": int(major), "minor": int(minor), "op": "", "value": int(parts[1])}))
    return out


def v1_blkio(path: str | None) -> dict:
    """CFQ files when present, else BFQ, else the throttle counters (runc's order)."""
    if not path:
        return {}
    sets = [
        ("", {"ioServiceBytesRecursive": "blkio.io_service_bytes_recursive",
              "ioServicedRecursive": "blkio.io_serviced_recursive",
              "ioQueueRecursive": "blkio.io_queued_recursive",
              "ioServiceTimeRecursive": "blkio.io_service_time_recursive",
              "ioWaitTimeRecursive": "blkio.io_wait_time_recursive",
              "ioMergedRecursive": "blkio.io_merged_recursive",
              "ioTimeRecursive": "blkio.time_recursive",
              "sectorsRecursive": "blkio.sectors_recursive"}),
        ("bfq", {"ioServiceBytesRecursive": "blkio.bfq.io_service_bytes_recursive",
                 "ioServicedRecursive": "blkio.bfq.io_serviced_recursive"}),
        ("throttle", {"ioServiceBytesRecursive": "blkio.throttle.io_service_bytes_recursive",
                      "ioServicedRecursive": "blkio.throttle.io_serviced_recursive"}),
    ]
    for _, files in sets:
        first = next(iter(files.values()))
        if os.path.exists(os.path.join(path, first)):
            return _omit_zero({k: _blkio_entries(path, f) for k, f in files.items()})
    return {}


def hugetlb_stats(path: str | None, v2: bool) -> dict:
    if not path:
        return {}
    out = {}
    for size in hugepage_sizes():
        if v2:
            usage = fs.read_int(os.path.join(path, f"hugetlb.{size}.current"))
            if not os.path.exists(os.path.join(path, f"hugetlb.{size}.current")):
                continue
            failcnt = fs.read_keyed(os.path.join(path, f"hugetlb.{size}.events")).get("max", 0)
            out[size] = _omit_zero({"usage": usage, "failcnt": failcnt}, ("failcnt",))
        else:
            if not os.path.exists(os.path.join(path, f"hugetlb.{size}.usage_in_bytes")):
                continue
            out[size] = _omit_zero({"usage": fs.read_int(os.path.join(path, f"hugetlb.{size}.usage_in_bytes")),
                                    "max": fs.read_int(os.path.join(path, f"hugetlb.{size}.max_usage_in_bytes")),
                                    "failcnt": fs.read_int(os.path.join(path, f"hugetlb.{size}.failcnt"))},
                                   ("failcnt",))
    return out


# ---------------------------------------------------------------- v2

def v2_cpu(path: str) -> dict:
    st = fs.read_keyed(os.path.join(path, "cpu.stat"))
    usage = {"total": st.get("usage_usec", 0) * 1000, "kernel": st.get("system_usec", 0) * 1000,
             "user": st.get("user_usec", 0) * 1000}
    thr = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
           "throttledTime": st.get("throttled_usec", 0) * 1000}
    return {"usage": _omit_zero(usage, ("kernel", "user")), "throttling": _omit_zero(thr)}


def v2_memory(path: str) -> dict:
    if not os.path.exists(os.path.join(path, "memory.current")):
        return {}
    raw = fs.read_keyed(os.path.join(path, "memory.stat"))
    events = fs.read_keyed(os.path.join(path, "memory.events"))
    usage = {"limit": _u(fs.read_int(os.path.join(path, "memory.max"), -1)),
             "usage": fs.read_int(os.path.join(path, "memory.current")),
             "max": fs.read_int(os.path.join(path, "memory.peak")), "failcnt": events.get("max", 0)}
    out = {"cache": raw.get("file", 0), "usage": _omit_zero(usage, ("limit", "failcnt"))}
    if os.path.exists(os.path.join(path, "memory.swap.current")):
        swap = {"limit": _u(fs.read_int(os.path.join(path, "memory.swap.max"), -1)),
                "usage": fs.read_int(os.path.join(path, "memory.swap.current")),
                "max": fs.read_int(os.path.join(path, "memory.swap.peak")), "failcnt": 0}
        out["swap"] = _omit_zero(swap, ("limit", "failcnt"))
    out["raw"] = dict(sorted(raw.items()))
    return _omit_zero(out, ("usage",))


def v2_io(path: str) -> dict:
    try:
        text = fs.read(os.path.join(path, "io.stat"))
    except OSError:
        return {}
    sb: list[dict] = []
    sd: list[dict] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":"))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, lst in (("rbytes", "Read", sb), ("wbytes", "Write", sb),
                             ("rios", "Read", sd), ("wios", "Write", sd)):
            if key in kv:
                lst.append(_omit_zero({"major": major, "minor": minor, "op": op, "value": int(kv[key])}))
    return _omit_zero({"ioServiceBytesRecursive": sb, "ioServicedRecursive": sd})


# ---------------------------------------------------------------- entry point

def collect(manager) -> dict:
    data = empty()
    paths = manager.paths()
    if manager.mode == "v2":
        p = paths.get("")
        if p:
            data["cpu"] = v2_cpu(p)
            data["memory"] = v2_memory(p)
            data["pids"] = pids_stats(p) if os.path.exists(os.path.join(p, "pids.current")) else {}
            data["blkio"] = v2_io(p)
            data["hugetlb"] = hugetlb_stats(p, True)
        return data
    data["cpu"] = v1_cpu(paths.get("cpuacct"), paths.get("cpu"))
    data["cpuset"] = v1_cpuset(paths.get("cpuset"))
    data["memory"] = v1_memory(paths.get("memory"))
    data["pids"] = pids_stats(paths.get("pids"))
    data["blkio"] = v1_blkio(paths.get("blkio"))
    if "hugetlb" in paths:
        data["hugetlb"] = hugetlb_stats(paths["hugetlb"], False)
    elif paths.get(""):
        data["hugetlb"] = hugetlb_stats(paths[""], True)
    return data
