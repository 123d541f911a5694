"""`nsbox-runc update`: new limits for a live container, as runc 1.1 does it.

    res = resources_from_flags({"memory": "64M", "pids_limit": "20"})   # runc's flags, runc's units
    res = resources_from_file("-")                                       # a linux.resources JSON
    update_container(Runtime(), "web", res)   # live cgroup files + the stored state, under the lock

runc semantics kept: 0 (or "") means "leave as is"; a negative --pids-limit means unlimited; a --cpu-quota
or --cpu-period alone keeps the other at its stored value; devices are ignored; kernel memory is accepted
and ignored with a warning; Intel RDT schemas are refused (not enabled here). Everything is validated
before the first write; if the kernel refuses a write half-way, the files already written get their
previous contents back (runc: "Setting back cgroup configs").
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys

from ..errors import CgroupError, InvalidState, SpecError, UsageError

# (flag, section, key, kind): kind "ram" = bytes with units or -1, "uint", "int", "str"
FLAGS = (
    ("memory", "memory", "limit", "ram"),
    ("memory-reservation", "memory", "reservation", "ram"),
    ("memory-swap", "memory", "swap", "ram"),
    ("cpu-share", "cpu", "shares", "uint"),
    ("cpu-quota", "cpu", "quota", "int"),
    ("cpu-period", "cpu", "period", "uint"),
    ("cpu-rt-runtime", "cpu", "realtimeRuntime", "int"),
    ("cpu-rt-period", "cpu", "realtimePeriod", "uint"),
    ("cpuset-cpus", "cpu", "cpus", "str"),
    ("cpuset-mems", "cpu", "mems", "str"),
    ("blkio-weight", "blockIO", "weight", "uint16"),
    ("pids-limit", "pids", "limit", "int"),
)
IGNORED_FLAGS = ("kernel-memory", "kernel-memory-tcp")
RDT_FLAGS = {"l3-cache-schema": "Intel RDT/CAT: l3 cache schema is not enabled",
             "mem-bw-schema": "Intel RDT/MBA: memory bandwidth schema is not enabled"}
_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes ("64M", "1.5g", "512KiB", "100"); "-1" is unlimited (runc)."""
    if text.strip() == "-1":
        return -1
    m = _RAM.match(text.strip())
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    unit = m.group(2).lower() if m.group(2) else None
    return int(float(m.group(1)) * _UNITS[unit])


def _parse(flag: str, kind: str, text: str):
    text = str(text)
    try:
        if kind == "ram":
            return ram_in_bytes(text)
        if kind == "str":
            return text
        value = int(text, 10)
        if kind in ("uint", "uint16") and value < 0:
            raise ValueError(f'"{text}" is not an unsigned integer')
        if kind == "uint16" and value > 65535:
            raise ValueError(f'"{text}" is out of range (0..65535)')
        return value
    except ValueError as err:
        msg = str(err) if kind == "ram" or "integer" in str(err) or "range" in str(err) \
            else f'"{text}" is not an integer'
        raise UsageError(f"invalid value for {flag}: {msg}") from None


def resources_from_flags(values: dict) -> dict:
    """runc's update flags ({"memory": "64M", "cpu_quota": "50000", ...}; None = not given) -> a
    linux.resources subset. Zero/empty values are dropped (runc: unchanged)."""
    for flag, message in RDT_FLAGS.items():
        if values.get(flag.replace("-", "_")):
            raise CgroupError(message)
    for flag in IGNORED_FLAGS:
        if values.get(flag.replace("-", "_")) is not None:
            sys.stderr.write("nsbox-runc: warning: Kernel memory settings are ignored and will be removed\n")
            break
    res: dict = {}
    for flag, section, key, kind in FLAGS:
        raw = values.get(flag.replace("-", "_"))
        if raw is None:
            continue
        res.setdefault(section, {})[key] = _parse(flag, kind, raw)
    return normalize(res)


def resources_from_file(path: str, stdin=None) -> dict:
    """A linux.resources JSON object from ``path`` ("-" = standard input), validated."""
    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path) as f:
                text = f.read()
    except OSError as err:
        raise UsageError(f"cannot read resources from {path}: {err.strerror}") from None
    source = "resources from stdin" if path == "-" else path
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise SpecError([("$", f"not valid JSON: {err}")], source=source) from None
    if not isinstance(doc, dict):
        raise SpecError([("$", "must be a JSON object (linux.resources)")], source=source)
    doc = {k: v for k, v in doc.items() if k != "devices"}       # runc's update ignores devices
    pids = doc.get("pids")
    if isinstance(pids, dict) and isinstance(pids.get("limit"), int) and not isinstance(pids["limit"], bool) \
            and pids["limit"] < 0:
        pids["limit"] = -1
    check(doc, source)
    return normalize(doc)


def check(res: dict, source: str = "update") -> None:
    from ..cgroups import convert
    problems = convert.validate(res, base="$")
    if problems:
        raise SpecError(problems, source=source)


def normalize(res: dict) -> dict:
    """Drop what runc treats as "unchanged": 0 numbers, "" strings, empty sections; pids < 0 -> -1."""
    out: dict = {}
    for section, value in res.items():
        if isinstance(value, dict) and section in ("memory", "cpu", "blockIO", "pids"):
            kept = {k: v for k, v in value.items() if v not in (0, "", None) or isinstance(v, bool)}
            if section == "pids" and isinstance(kept.get("limit"), int) and kept["limit"] < 0:
                kept["limit"] = -1
            if kept:
                out[section] = kept
        elif value not in (None, {}, []):
            out[section] = value
    return out


def complete(res: dict, stored: dict) -> dict:
    """Add the stored counterparts runc keeps: quota <-> period (cpu.max needs both), and the memory
    limit when only the memory+swap total changes (it is validated against the limit)."""
    res = copy.deepcopy(res)
    cpu, old_cpu = res.get("cpu"), stored.get("cpu") or {}
    if cpu:
        for a, b in (("quota", "period"), ("period", "quota")):
            if a in cpu and b not in cpu and old_cpu.get(b):
                cpu[b] = old_cpu[b]
    mem, old_mem = res.get("memory"), stored.get("memory") or {}
    if mem and "swap" in mem and "limit" not in mem and old_mem.get("limit"):
        mem["limit"] = old_mem["limit"]
    return res


# ------------------------------------------------------------------ applying

def _targets(cg, res: dict) -> list[str]:
    """The files the update will write (for the roll-back snapshot)."""
    v1w, v2w, _ = cg.plan(res)
    files = []
    for writes, directory_of in ((v1w, lambda w: (cg.v1.paths.get(w.controller) if cg.v1 else None)),
                                 (v2w, lambda w: (cg.v2.path if cg.v2 else None))):
        for w in writes:
            d = directory_of(w)
            if d is None:
                continue
            for name, _ in w.candidates:
                path = os.path.join(d, name)
                if os.path.exists(path):
                    files.append(path)
                    break
    return files


def _snapshot(files: list[str]) -> list[tuple[str, str]]:
    saved = []
    for path in files:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if path.endswith("/memory.oom_control"):        # "oom_kill_disable 0\nunder_oom 0 ..."
            text = text.split()[1] if text.startswith("oom_kill_disable") else text
        saved.append((path, text))
    return saved


def _restore(saved: list[tuple[str, str]]) -> None:
    failed = []
    for _ in range(2):                   # twice: memory limit vs memsw ordering
        failed = []
        for path, text in saved:
            try:
                with open(path, "w") as f:
                    f.write(text)
            except OSError as err:
                failed.append(f"{path}: {err.strerror}")
        if not failed:
            return
    sys.stderr.write("nsbox-runc: warning: Setting back cgroup configs failed (" + "; ".join(failed) +
                     "), your state.json and actual configs might be inconsistent.\n")


def apply_update(cg, res: dict) -> None:
    """Write ``res`` to the live cgroup (validated first); on a refused write, restore and raise."""
    if not res:
        return
    saved = _snapshot(_targets(cg, res))
    try:
        cg.update(res)
    except BaseException:
        _restore(saved)
        raise


def update_container(rt, container_id: str, res: dict) -> None:
    """Apply ``res`` (a linux.resources subset) to a created/running/paused container and store it."""
    from . import status as st
    rt.store.read(container_id)                       # ContainerNotFound before taking the lock
    lock = rt.store.lock(container_id)
    try:
        state = rt.store.read(container_id)
        status = rt.status_of(container_id, state)
        if status in (st.STOPPED, st.CREATING):
            raise InvalidState(container_id, status, st.RUNNING, "container not running")
        cg = rt._cgroup(state)
        if cg is None:
            raise CgroupError(f"container {container_id} has no cgroup of its own (rootless without "
                              "delegation): cannot update its resources")
        res = complete(res, cg.resources)
        check(res)
        apply_update(cg, res)
        state["cgroup"] = cg.to_json()
        rt.store.write(container_id, state)
    finally:
        os.close(lock)
