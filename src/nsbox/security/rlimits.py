"""OCI process.rlimits -> checked (resource number, soft, hard) entries. Parent side, no syscalls."""

from __future__ import annotations

RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF

# getrlimit(2) (asm-generic/resource.h; the same numbers on x86_64 and aarch64).
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


def _is_u64(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= RLIM_INFINITY


def check_rlimits(items, json_path: str = "$.process.rlimits") -> tuple[list[dict], list[tuple[str, str]]]:
    """(entries, problems). Each entry: {"type": "RLIMIT_NOFILE", "resource": 7, "soft": n, "hard": n}."""
    problems: list[tuple[str, str]] = []
    entries: list[dict] = []
    if items is None:
        return entries, problems
    if not isinstance(items, list):
        return entries, [(json_path, "must be a list of {type, soft, hard}")]
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        path = f"{json_path}[{i}]"
        if not isinstance(item, dict):
            problems.append((path, "must be an object with type, soft and hard"))
            continue
        kind = item.get("type")
        ok = True
        if kind not in RLIMITS:
            problems.append((f"{path}.type", f"unknown rlimit type {kind!r}"))
            ok = False
        elif kind in seen:
            problems.append((f"{path}.type", f"duplicate rlimit type {kind} (also at [{seen[kind]}])"))
            ok = False
        else:
            seen[kind] = i
        for field in ("soft", "hard"):
            if field not in item:
                problems.append((f"{path}.{field}", "is required"))
                ok = False
            elif not _is_u64(item[field]):
                problems.append((f"{path}.{field}", f"must be an unsigned 64-bit integer, not {item[field]!r}"))
                ok = False
        if ok and item["soft"] > item["hard"]:
            problems.append((path, f"soft limit {item['soft']} is above hard limit {item['hard']}"))
            ok = False
        if ok:
            entries.append({"type": kind, "resource": RLIMITS[kind], "soft": item["soft"], "hard": item["hard"]})
    return entries, problems
