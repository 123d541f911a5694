"""OCI ``linux.resources`` -> cgroup interface files, for v1 and v2. Pure: no file access.

Values follow runc 1.1 / crun:
  - cpu.shares -> cpu.weight: ``1 + ((shares - 2) * 9999) // 262142`` (0 = unset)
  - blkio weight (10..1000) -> io.weight: ``1 + ((weight - 10) * 9999) // 990`` (io.bfq.weight takes it as is)
  - OCI memory.swap is the memory+swap total: v1 memory.memsw.limit_in_bytes = swap;
    v2 memory.swap.max = swap - limit (swap -1 -> "max"; limit -1 and swap unset -> swap "max")
  - -1 means unlimited: v1 writes "-1", v2 writes "max"; 0 means "not set" (nothing written)
  - pids.limit 0 or -1 -> "max"
  - cpu quota/period -> v1 cpu.cfs_quota_us/cpu.cfs_period_us; v2 cpu.max "<quota|max> [period]"
A ``Write`` names its controller (for v2 subtree_control) and one or more candidate files: the driver
writes the first candidate whose file exists (io.bfq.weight before io.weight, as runc).
"""

from __future__ import annotations


MAX_SHARES = 262144
MIN_SHARES = 2

# Controllers a cgroup2 file prefix may name in linux.resources.unified ("cgroup" = core files).
V2_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc")
UNIFIED_PREFIXES = V2_CONTROLLERS + ("cgroup",)


class Write:
    """One setting: controller ("memory", "cpu", ...; "cgroup" for core files), candidate (file, value)
    pairs (the first existing file is written), optional (no candidate -> warn and skip, else
    CgroupError; quiet: skip without a warning), source (the JSON path it came from, for error
    messages). A plain class: no dataclasses import on the start-up path."""

    __slots__ = ("controller", "candidates", "optional", "source", "quiet")

    def __init__(self, controller: str, candidates: tuple[tuple[str, str], ...], optional: bool = False,
                 source: str = "", quiet: bool = False):
        self.controller = controller
        self.candidates = candidates
        self.optional = optional or quiet
        self.source = source
        self.quiet = quiet

    def __eq__(self, other) -> bool:
        return isinstance(other, Write) and (self.controller, self.candidates, self.optional, self.source) == \
            (other.controller, other.candidates, other.optional, other.source)

    def __repr__(self) -> str:
        return f"Write({self.controller!r}, {self.candidates!r}, optional={self.optional}, source={self.source!r})"

    @property
    def file(self) -> str:
        return self.candidates[0][0]

    @property
    def value(self) -> str:
        return self.candidates[0][1]


def _w(controller: str, file: str, value, source: str = "", optional: bool = False) -> Write:
    return Write(controller, ((file, str(value)),), optional, source)


# ---------------------------------------------------------------- conversions (runc's formulas)

def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cpu.weight (1..10000); 0 stays 0 (unset). runc/crun formula."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000); 0 stays 0 (unset)."""
    if weight == 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def memory_swap_to_v2(swap: int, limit: int) -> int:
    """OCI memory+swap total -> memory.swap.max (-1 = max, 0 = unset). Raises ValueError as runc does."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise ValueError("cannot set a swap limit without a memory limit")
    if swap < limit:
        raise ValueError("memory+swap (swap) must be >= memory.limit")
    return swap - limit


def v2_max(value: int) -> str:
    return "max" if value == -1 else str(value)


def parse_cpuset(text: str) -> list[int]:
    """'0-2,5' -> [0, 1, 2, 5]; '' -> []; ValueError on bad syntax or a reversed range."""
    if not text.strip():
        return []
    out: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not (lo.isdigit() and lo.isascii()) or (sep and not (hi.isdigit() and hi.isascii())):
            raise ValueError(f'bad cpuset "{text}"')
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ValueError(f'bad cpuset "{text}"')
        out.extend(range(a, b + 1))
    return out


def is_hugepage_size(text) -> bool:
    """'2MB', '1GB', '64KB' (runc's names)."""
    return (isinstance(text, str) and len(text) >= 3 and text[-2:] in ("KB", "MB", "GB")
            and text[:-2].isdigit() and text[:-2].isascii() and not text.startswith("0"))


# ---------------------------------------------------------------- validation

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate(res: dict | None, base: str = "$.linux.resources") -> list[tuple[str, str]]:
    """Every problem in a linux.resources object, each with its JSON path (empty list: valid)."""
    problems: list[tuple[str, str]] = []
    if res is None:
        return problems
    if not isinstance(res, dict):
        return [(base, "must be an object")]

    def num(obj: dict, key: str, path: str, lo=None, hi=None, allow_minus_one=False, msg=None):
        if key not in obj or obj[key] is None:
            return None
        v = obj[key]
        p = f"{path}.{key}"
        if not _is_int(v):
            problems.append((p, "must be an integer"))
            return None
        if allow_minus_one and v == -1:
            return v
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            problems.append((p, msg or f"must be between {lo} and {hi}"))
            return None
        return v

    def section(key: str):
        v = res.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            problems.append((f"{base}.{key}", "must be an object"))
            return None
        return v

    mem = section("memory")
    if mem is not None:
        p = f"{base}.memory"
        pos = "must be positive (or -1 for unlimited)"
        limit = num(mem, "limit", p, 0, None, True, pos)
        swap = num(mem, "swap", p, 0, None, True, pos)
        num(mem, "reservation", p, 0, None, True, pos)
        num(mem, "kernel", p, 0, None, True, pos)
        num(mem, "kernelTCP", p, 0, None, True, pos)
        sw = mem.get("swappiness")
        if sw is not None and not (_is_int(sw) and (0 <= sw <= 100 or sw == -1)):
            problems.append((f"{p}.swappiness", "must be between 0 and 100"))
        for flag in ("disableOOMKiller", "useHierarchy", "checkBeforeUpdate"):
            if flag in mem and mem[flag] is not None and not isinstance(mem[flag], bool):
                problems.append((f"{p}.{flag}", "must be a boolean"))
        if swap not in (None, 0, -1):
            if limit in (None, 0, -1):
                problems.append((f"{p}.swap", "needs a memory.limit (OCI swap is the memory+swap total)"))
            elif swap < limit:
                problems.append((f"{p}.swap", "must be >= memory.limit (OCI swap is the memory+swap total)"))

    cpu = section("cpu")
    if cpu is not None:
        p = f"{base}.cpu"
        num(cpu, "shares", p, 0, MAX_SHARES, msg=f"must be between {MIN_SHARES} and {MAX_SHARES}")
        q = num(cpu, "quota", p, 0, None, True, "must be >= 1000 (or -1 for unlimited)")
        if q not in (None, 0, -1) and q < 1000:
            problems.append((f"{p}.quota", "must be >= 1000 (or -1 for unlimited)"))
        per = num(cpu, "period", p, 0, 1000000, msg="must be between 1000 and 1000000")
        if per not in (None, 0) and per < 1000:
            problems.append((f"{p}.period", "must be between 1000 and 1000000"))
        num(cpu, "burst", p, 0, None, msg="must not be negative")
        num(cpu, "realtimeRuntime", p, -1, None, msg="must be >= -1")
        num(cpu, "realtimePeriod", p, 0, None, msg="must not be negative")
        num(cpu, "idle", p, 0, 1, msg="must be 0 or 1")
        for key in ("cpus", "mems"):
            v = cpu.get(key)
            if v is None:
                continue
            if not isinstance(v, str):
                problems.append((f"{p}.{key}", "must be a string"))
                continue
            try:
                parse_cpuset(v)
            except ValueError as exc:
                problems.append((f"{p}.{key}", str(exc)))

    pids = section("pids")
    if pids is not None:
        if "limit" not in pids:
            problems.append((f"{base}.pids.limit", "is required"))
        else:
            num(pids, "limit", f"{base}.pids", 0, None, True, "must be positive, 0 or -1 (unlimited)")

    bio = section("blockIO")
    if bio is not None:
        p = f"{base}.blockIO"
        rng = "must be between 10 and 1000 (0: unset)"
        for key in ("weight", "leafWeight"):
            v = num(bio, key, p, 0, 1000, msg=rng)
            if v not in (None, 0) and v < 10:
                problems.append((f"{p}.{key}", rng))
        for key in ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                    "throttleReadIOPSDevice", "throttleWriteIOPSDevice"):
            devs = bio.get(key)
            if devs is None:
                continue
            if not isinstance(devs, list):
                problems.append((f"{p}.{key}", "must be an array"))
                continue
            for i, d in enumerate(devs):
                dp = f"{p}.{key}[{i}]"
                if not isinstance(d, dict):
                    problems.append((dp, "must be an object"))
                    continue
                for mm in ("major", "minor"):
                    if not _is_int(d.get(mm)) or d[mm] < 0:
                        problems.append((f"{dp}.{mm}", "must be a non-negative integer"))
                if key == "weightDevice":
                    for wk in ("weight", "leafWeight"):
                        v = num(d, wk, dp, 0, 1000, msg=rng)
                        if v not in (None, 0) and v < 10:
                            problems.append((f"{dp}.{wk}", rng))
                else:
                    if "rate" not in d:
                        problems.append((f"{dp}.rate", "is required"))
                    else:
                        num(d, "rate", dp, 0, None, msg="must not be negative")

    huge = res.get("hugepageLimits")
    if huge is not None:
        if not isinstance(huge, list):
            problems.append((f"{base}.hugepageLimits", "must be an array"))
        else:
            for i, h in enumerate(huge):
                hp = f"{base}.hugepageLimits[{i}]"
                if not isinstance(h, dict):
                    problems.append((hp, "must be an object"))
                    continue
                if not is_hugepage_size(h.get("pageSize")):
                    problems.append((f"{hp}.pageSize", f'bad page size {h.get("pageSize")!r} (like "2MB")'))
                if "limit" not in h:
                    problems.append((f"{hp}.limit", "is required"))
                else:
                    num(h, "limit", hp, 0, None, msg="must not be negative")

    net = section("network")
    if net is not None:
        num(net, "classID", f"{base}.network", 0, 2**32 - 1, msg="must be a 32-bit unsigned integer")
        prios = net.get("priorities") or []
        for i, pr in enumerate(prios if isinstance(prios, list) else []):
            pp = f"{base}.network.priorities[{i}]"
            if not isinstance(pr, dict) or not isinstance(pr.get("name"), str) or not pr.get("name"):
                problems.append((f"{pp}.name", "must be an interface name"))
                continue
            num(pr, "priority", pp, 0, 2**32 - 1, msg="must be a 32-bit unsigned integer")

    rdma = section("rdma")
    if rdma is not None:
        for dev, lim in rdma.items():
            rp = f"{base}.rdma.{dev}"
            if not isinstance(lim, dict):
                problems.append((rp, "must be an object"))
                continue
            num(lim, "hcaHandles", rp, 0, 2**32 - 1, msg="must be a 32-bit unsigned integer")
            num(lim, "hcaObjects", rp, 0, 2**32 - 1, msg="must be a 32-bit unsigned integer")

    uni = section("unified")
    if uni is not None:
        for key, value in uni.items():
            up = f"{base}.unified.{key}"
            if "/" in key or key.startswith(".") or "." not in key or "\n" in key:
                problems.append((up, "is not a cgroup2 file name (<controller>.<name>)"))
            elif key.split(".", 1)[0] not in UNIFIED_PREFIXES:
                problems.append((up, f'unknown controller "{key.split(".", 1)[0]}"'))
            if not isinstance(value, str):
                problems.append((up, "value must be a string"))

    from .devices import validate_rules
    problems.extend(validate_rules(res.get("devices"), f"{base}.devices"))
    return problems


# ---------------------------------------------------------------- v1

# The one-file-per-field settings of v1, in runc's order: (OCI field, controller, file, when). "set": only a
# non-zero value is written (runc leaves zero alone); "given": any value present, zero included.
_V1_CPU = (("cpus", "cpuset", "cpuset.cpus", "set"), ("mems", "cpuset", "cpuset.mems", "set"),
           ("shares", "cpu", "cpu.shares", "set"), ("period", "cpu", "cpu.cfs_period_us", "set"),
           ("quota", "cpu", "cpu.cfs_quota_us", "set"), ("burst", "cpu", "cpu.cfs_burst_us", "given"),
           ("realtimePeriod", "cpu", "cpu.rt_period_us", "set"),
           ("realtimeRuntime", "cpu", "cpu.rt_runtime_us", "set"), ("idle", "cpu", "cpu.idle", "given"))
_V1_MEMORY = (("limit", "memory", "memory.limit_in_bytes", "set"),
              ("swap", "memory", "memory.memsw.limit_in_bytes", "set"),
              ("reservation", "memory", "memory.soft_limit_in_bytes", "set"),
              ("kernelTCP", "memory", "memory.kmem.tcp.limit_in_bytes", "set"))


def _table_writes(out: list[Write], section: str, values: dict, table, base: str) -> None:
    for key, controller, file, when in table:
        value = values.get(key)
        if (value is not None) if when == "given" else value:
            out.append(_w(controller, file, value, f"{base}.{section}.{key}"))


def v1_writes(res: dict | None) -> list[Write]:
    """Ordered writes for cgroup v1 controllers (devices are handled by nsbox.cgroups.devices)."""
    res = res or {}
    out: list[Write] = []
    base = "$.linux.resources"

    _table_writes(out, "cpu", res.get("cpu") or {}, _V1_CPU, base)
    mem = res.get("memory") or {}
    _table_writes(out, "memory", mem, _V1_MEMORY, base)
    sw = mem.get("swappiness")
    if sw is not None and sw != -1:
        out.append(_w("memory", "memory.swappiness", sw, f"{base}.memory.swappiness"))
    if mem.get("disableOOMKiller"):
        out.append(_w("memory", "memory.oom_control", 1, f"{base}.memory.disableOOMKiller"))
    # memory.kernel (kmem.limit_in_bytes) is deprecated and ignored, as runc >= 1.0 does.

    pids = res.get("pids")
    if pids is not None and "limit" in pids:
        out.append(_w("pids", "pids.max", "max" if pids["limit"] <= 0 else pids["limit"], f"{base}.pids.limit"))

    bio = res.get("blockIO") or {}
    if bio.get("weight"):
        out.append(Write("blkio", (("blkio.weight", str(bio["weight"])), ("blkio.bfq.weight", str(bio["weight"]))),
                         True, f"{base}.blockIO.weight"))
    if bio.get("leafWeight"):
        out.append(_w("blkio", "blkio.leaf_weight", bio["leafWeight"], f"{base}.blockIO.leafWeight", True))
    for i, d in enumerate(bio.get("weightDevice") or []):
        dev = f'{d["major"]}:{d["minor"]}'
        if d.get("weight"):
            out.append(Write("blkio", (("blkio.weight_device", f'{dev} {d["weight"]}'),
                                       ("blkio.bfq.weight_device", f'{dev} {d["weight"]}')),
                             True, f"{base}.blockIO.weightDevice[{i}]"))
        if d.get("leafWeight"):
            out.append(_w("blkio", "blkio.leaf_weight_device", f'{dev} {d["leafWeight"]}',
                          f"{base}.blockIO.weightDevice[{i}]", True))
    for key, file in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                      ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                      ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                      ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
        for i, d in enumerate(bio.get(key) or []):
            out.append(_w("blkio", file, f'{d["major"]}:{d["minor"]} {d["rate"]}', f"{base}.blockIO.{key}[{i}]"))

    for i, h in enumerate(res.get("hugepageLimits") or []):
        out.append(_w("hugetlb", f'hugetlb.{h["pageSize"]}.limit_in_bytes', h["limit"],
                      f"{base}.hugepageLimits[{i}]"))
        # the reservation limit too, where the kernel has it (runc >= 1.1 does the same)
        out.append(Write("hugetlb", ((f'hugetlb.{h["pageSize"]}.rsvd.limit_in_bytes', str(h["limit"])),),
                         source=f"{base}.hugepageLimits[{i}]", quiet=True))

    net = res.get("network") or {}
    if net.get("classID"):
        out.append(_w("net_cls", "net_cls.classid", net["classID"], f"{base}.network.classID"))
    for i, pr in enumerate(net.get("priorities") or []):
        out.append(_w("net_prio", "net_prio.ifpriomap", f'{pr["name"]} {pr.get("priority", 0)}',
                      f"{base}.network.priorities[{i}]"))

    for dev, lim in (res.get("rdma") or {}).items():
        out.append(_w("rdma", "rdma.max", _rdma_line(dev, lim), f"{base}.rdma.{dev}"))
    return out


def _rdma_line(dev: str, lim: dict) -> str:
    h = lim.get("hcaHandles")
    o = lim.get("hcaObjects")
    return f'{dev} hca_handle={"max" if h is None else h} hca_object={"max" if o is None else o}'


# ---------------------------------------------------------------- v2

def v2_writes(res: dict | None) -> list[Write]:
    """Ordered writes for a cgroup v2 directory. Raises ValueError for settings v2 cannot express."""
    res = res or {}
    out: list[Write] = []
    base = "$.linux.resources"

    cpu = res.get("cpu") or {}
    if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime"):
        raise ValueError(f"{base}.cpu.realtime*: real-time cpu limits are not supported on cgroup v2")
    if cpu.get("shares"):
        out.append(_w("cpu", "cpu.weight", shares_to_weight(cpu["shares"]), f"{base}.cpu.shares"))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        value = str(quota) if quota > 0 else "max"
        if cpu.get("period"):
            value += f' {cpu["period"]}'
        out.append(_w("cpu", "cpu.max", value, f"{base}.cpu.quota"))
    if cpu.get("burst") is not None:
        out.append(_w("cpu", "cpu.max.burst", cpu["burst"], f"{base}.cpu.burst"))
    if cpu.get("idle") is not None:
        out.append(_w("cpu", "cpu.idle", cpu["idle"], f"{base}.cpu.idle"))
    if cpu.get("cpus"):
        out.append(_w("cpuset", "cpuset.cpus", cpu["cpus"], f"{base}.cpu.cpus"))
    if cpu.get("mems"):
        out.append(_w("cpuset", "cpuset.mems", cpu["mems"], f"{base}.cpu.mems"))

    mem = res.get("memory") or {}
    limit = mem.get("limit") or 0
    swap = memory_swap_to_v2(mem.get("swap") or 0, limit)
    # swap first: memory.swap.max is independent of memory.max on v2, but runc writes it first
    if swap:
        out.append(_w("memory", "memory.swap.max", v2_max(swap), f"{base}.memory.swap"))
    if limit:
        out.append(_w("memory", "memory.max", v2_max(limit), f"{base}.memory.limit"))
    if mem.get("reservation"):
        out.append(_w("memory", "memory.low", v2_max(mem["reservation"]), f"{base}.memory.reservation"))
    # kernel, kernelTCP, swappiness and disableOOMKiller have no v2 file; runc ignores them too.

    pids = res.get("pids")
    if pids is not None and "limit" in pids:
        out.append(_w("pids", "pids.max", "max" if pids["limit"] <= 0 else pids["limit"], f"{base}.pids.limit"))

    bio = res.get("blockIO") or {}
    if bio.get("weight"):
        w = bio["weight"]
        out.append(Write("io", (("io.bfq.weight", str(w)), ("io.weight", str(blkio_weight_to_io_weight(w)))),
                         False, f"{base}.blockIO.weight"))
    for i, d in enumerate(bio.get("weightDevice") or []):
        if d.get("weight"):
            dev = f'{d["major"]}:{d["minor"]}'
            out.append(Write("io", (("io.bfq.weight", f'{dev} {d["weight"]}'),
                                    ("io.weight", f'{dev} {blkio_weight_to_io_weight(d["weight"])}')),
                             False, f"{base}.blockIO.weightDevice[{i}]"))
    for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                      ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for i, d in enumerate(bio.get(key) or []):
            out.append(_w("io", "io.max", f'{d["major"]}:{d["minor"]} {name}={d["rate"]}',
                          f"{base}.blockIO.{key}[{i}]"))

    for i, h in enumerate(res.get("hugepageLimits") or []):
        out.append(_w("hugetlb", f'hugetlb.{h["pageSize"]}.max', h["limit"], f"{base}.hugepageLimits[{i}]"))
        out.append(Write("hugetlb", ((f'hugetlb.{h["pageSize"]}.rsvd.max', str(h["limit"])),),
                         source=f"{base}.hugepageLimits[{i}]", quiet=True))

    for dev, lim in (res.get("rdma") or {}).items():
        out.append(_w("rdma", "rdma.max", _rdma_line(dev, lim), f"{base}.rdma.{dev}"))

    net = res.get("network") or {}
    if net.get("classID") or net.get("priorities"):
        raise ValueError(f"{base}.network: net_cls/net_prio do not exist on cgroup v2")

    for key, value in (res.get("unified") or {}).items():
        out.append(_w(key.split(".", 1)[0], key, value, f"{base}.unified.{key}"))
    return out


def v2_controllers_needed(writes: list[Write]) -> list[str]:
    """Controllers to enable in the parents' cgroup.subtree_control, in first-use order."""
    seen: list[str] = []
    for w in writes:
        if w.controller in V2_CONTROLLERS and w.controller not in seen:
            seen.append(w.controller)
    return seen
