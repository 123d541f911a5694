"""docker/podman resource flags -> OCI ``linux.resources`` (pure: no file access).

    resources_from_flags(memory="256m", memory_swap="512m", cpus="1.5", cpu_shares=512, pids_limit=100)
    -> {"memory": {"limit": 268435456, "swap": 536870912}, "cpu": {"quota": 150000, "period": 100000,
        "shares": 512}, "pids": {"limit": 100}}

As docker: sizes take b/k/m/g/t suffixes (powers of 1024; "kb", "mb"... too), at least 6 MiB of
memory; --memory-swap is the memory+swap total, -1 = unlimited swap, and when only --memory is given
the total is twice the memory; --memory-swap needs --memory; --cpus N = quota N*100000 per 100000 µs
period (at most the number of CPUs); --pids-limit 0 or -1 = unlimited.
"""

from __future__ import annotations

import os
import re

from ..errors import UsageError

UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
MIN_MEMORY = 6 << 20
CPU_PERIOD = 100_000


def parse_size(text: str, flag: str) -> int:
    """'256m' -> 268435456; '1.5g'; '1024'; '512MiB'. UsageError naming the flag otherwise."""
    m = SIZE_RE.match(str(text))
    if not m:
        raise UsageError(f"invalid {flag} {text!r}: expected a size like 512m, 1g or 1048576")
    value = float(m.group(1)) * UNITS[m.group(2).lower()]
    return int(value)


def parse_memory(memory: str | None, memory_swap: str | None) -> dict:
    out: dict = {}
    if memory is not None:
        limit = parse_size(memory, "--memory")
        if limit < MIN_MEMORY:
            raise UsageError(f"invalid --memory {memory!r}: the minimum memory limit is 6m")
        out["limit"] = limit
    if memory_swap is not None:
        if str(memory_swap).strip() == "-1":
            swap = -1
        else:
            swap = parse_size(memory_swap, "--memory-swap")
        if "limit" not in out:
            raise UsageError("--memory-swap needs --memory (it is the memory+swap total)")
        if swap != -1 and swap < out["limit"]:
            raise UsageError(f"--memory-swap {memory_swap} must be at least --memory {memory} "
                             f"(it is the memory+swap total; -1 = unlimited swap)")
        out["swap"] = swap
    elif "limit" in out:
        out["swap"] = 2 * out["limit"]
    return out


def parse_cpus(cpus: str, ncpu: int | None = None) -> dict:
    try:
        value = float(cpus)
    except (TypeError, ValueError):
        raise UsageError(f"invalid --cpus {cpus!r}: expected a number of CPUs like 1.5") from None
    ncpu = ncpu or os.cpu_count() or 1
    if not 0.01 <= value <= ncpu:
        raise UsageError(f"invalid --cpus {cpus!r}: the range is 0.01 to {ncpu} (the CPUs of this host)")
    return {"quota": int(round(value * CPU_PERIOD)), "period": CPU_PERIOD}


def resources_from_flags(memory: str | None = None, memory_swap: str | None = None, cpus: str | None = None,
                         cpu_shares: int | None = None, pids_limit: int | None = None,
                         ncpu: int | None = None) -> dict:
    """The OCI linux.resources for the flags given ({} when none)."""
    res: dict = {}
    mem = parse_memory(memory, memory_swap)
    if mem:
        res["memory"] = mem
    cpu: dict = {}
    if cpus is not None:
        cpu.update(parse_cpus(cpus, ncpu))
    if cpu_shares is not None:
        shares = _int(cpu_shares, "--cpu-shares")
        if not 2 <= shares <= 262144:
            raise UsageError(f"invalid --cpu-shares {cpu_shares}: the range is 2 to 262144")
        cpu["shares"] = shares
    if cpu:
        res["cpu"] = cpu
    if pids_limit is not None:
        limit = _int(pids_limit, "--pids-limit")
        if limit < -1:
            raise UsageError(f"invalid --pids-limit {pids_limit}: use a positive number, or 0 or -1 for unlimited")
        res["pids"] = {"limit": -1 if limit <= 0 else limit}
    return res


def _int(value, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid {flag} {value!r}: expected an integer") from None
