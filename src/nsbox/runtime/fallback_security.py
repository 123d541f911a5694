"""The runtime's own minimal process-security plan, used until/unless ``nsbox.security`` is installed:
user ids, umask, capabilities (names -> numbers), rlimits, noNewPrivileges, oomScoreAdj. No seccomp."""

from __future__ import annotations

from ..errors import SpecError


def _caps(names: list[str] | None, table: dict[str, int], where: str, problems: list) -> list[int]:
    out = []
    for i, name in enumerate(names or []):
        if name in table:
            out.append(table[name])
        else:
            problems.append((f"{where}[{i}]", f"unknown capability {name!r}"))
    return out


def plan_fallback(config: dict) -> dict:
    from ..oci.names import capability_names, rlimit_types
    process = config.get("process") or {}
    user = process.get("user") or {}
    caps = process.get("capabilities") or {}
    table = capability_names()
    problems: list[tuple[str, str]] = []
    cap_plan = {kind: _caps(caps.get(kind), table, f"process.capabilities.{kind}", problems)
                for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    rtable = rlimit_types()
    rlimits = []
    for i, rl in enumerate(process.get("rlimits") or []):
        if rl.get("type") not in rtable:
            problems.append((f"process.rlimits[{i}].type", f"unknown rlimit {rl.get('type')!r}"))
            continue
        rlimits.append((rtable[rl["type"]], int(rl.get("soft", 0)), int(rl.get("hard", 0))))
    if problems:
        raise SpecError(problems)
    return {
        "uid": int(user.get("uid", 0)), "gid": int(user.get("gid", 0)),
        "additional_gids": [int(g) for g in user.get("additionalGids") or []],
        "umask": user.get("umask"), "capabilities": cap_plan, "rlimits": rlimits,
        "no_new_privileges": bool(process.get("noNewPrivileges")),
        "oom_score_adj": process.get("oomScoreAdj"),
    }
