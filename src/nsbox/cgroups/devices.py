"""Device access rules (OCI linux.resources.devices).

v1: the devices controller: ``devices.deny`` "a" (deny everything), then each rule in order to
``devices.allow`` / ``devices.deny`` ("c 1:3 rwm"; "*" for a wildcard number; type "a" is everything).
Applying the rules in order gives the OCI "last matching rule wins" semantics.
v2: there is no devices controller; the rules become a BPF_PROG_TYPE_CGROUP_DEVICE program
(see ``nsbox.cgroups.devfilter``).

runc appends its default device rules (mknod anything; /dev/null, zero, full, random, urandom, tty,
ptmx, pts, tun) after the spec's rules; ``DEFAULT_RULES`` is that list, ``container_rules`` adds it.
"""

from __future__ import annotations

TYPES = ("a", "c", "b")


def _rule(type_: str, major, minor, access: str, allow: bool = True) -> dict:
    return {"allow": allow, "type": type_, "major": major, "minor": minor, "access": access}


# runc libcontainer/specconv AllowedDevices, in runc's order.
DEFAULT_RULES: tuple[dict, ...] = (
    _rule("c", None, None, "m"),
    _rule("b", None, None, "m"),
    _rule("c", 1, 3, "rwm"),     # /dev/null
    _rule("c", 1, 8, "rwm"),     # /dev/random
    _rule("c", 1, 7, "rwm"),     # /dev/full
    _rule("c", 5, 0, "rwm"),     # /dev/tty
    _rule("c", 1, 5, "rwm"),     # /dev/zero
    _rule("c", 1, 9, "rwm"),     # /dev/urandom
    _rule("c", 136, None, "rwm"),  # /dev/pts/*
    _rule("c", 5, 2, "rwm"),     # /dev/ptmx
    _rule("c", 10, 200, "rwm"),  # /dev/net/tun
)


def validate_rules(rules, base: str = "$.linux.resources.devices") -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if rules is None:
        return problems
    if not isinstance(rules, list):
        return [(base, "must be an array")]
    for i, r in enumerate(rules):
        p = f"{base}[{i}]"
        if not isinstance(r, dict):
            problems.append((p, "must be an object"))
            continue
        if not isinstance(r.get("allow"), bool):
            problems.append((f"{p}.allow", "must be a boolean"))
        t = r.get("type", "a")
        if t not in TYPES:
            problems.append((f"{p}.type", f'bad device type {t!r} (a, b or c)'))
        for key in ("major", "minor"):
            v = r.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < -1):
                problems.append((f"{p}.{key}", "must be a non-negative integer (or absent for any)"))
        acc = r.get("access", "rwm")
        if acc is not None and (not isinstance(acc, str) or any(ch not in "rwm" for ch in acc)):
            problems.append((f"{p}.access", f'bad access {acc!r} (letters from "rwm")'))
    return problems


def normalise(rule: dict) -> dict:
    """A rule with every field present: type, major/minor (None = any), access, allow."""
    def num(v):
        return None if v is None or v == -1 else int(v)
    return {"allow": bool(rule.get("allow")), "type": rule.get("type") or "a",
            "major": num(rule.get("major")), "minor": num(rule.get("minor")),
            "access": rule.get("access") or "rwm"}


def container_rules(spec_rules: list | None, default_rules: bool = True) -> list[dict]:
    """The spec's rules followed by runc's defaults, normalised."""
    rules = [normalise(r) for r in (spec_rules or [])]
    if default_rules:
        rules.extend(normalise(r) for r in DEFAULT_RULES)
    return rules


def v1_line(rule: dict) -> str:
    r = normalise(rule)
    if r["type"] == "a":
        return "a"
    major = "*" if r["major"] is None else r["major"]
    minor = "*" if r["minor"] is None else r["minor"]
    return f'{r["type"]} {major}:{minor} {"".join(sorted(set(r["access"]), key="rwm".index))}'


def expand(rule: dict) -> list[dict]:
    """A type "a" rule that is not the blanket "a *:* rwm" becomes a "c" and a "b" rule: the kernel
    reads any "a ..." line as everything."""
    r = normalise(rule)
    if r["type"] != "a" or (r["major"] is None and r["minor"] is None and set(r["access"]) == set("rwm")):
        return [r]
    return [{**r, "type": "c"}, {**r, "type": "b"}]


def is_blanket(rule: dict) -> bool:
    return rule["type"] == "a"


def v1_writes(rules: list[dict]) -> list[tuple[str, str]]:
    """[(file, line), ...] for the v1 devices controller: deny all first, then the rules in order
    (the kernel applies them with the semantics ``effective`` emulates)."""
    out = [("devices.deny", "a")]
    for rule in rules:
        for r in expand(rule):
            out.append(("devices.allow" if r["allow"] else "devices.deny", v1_line(r)))
    return out


def _mask(access: str) -> set[str]:
    return set(access)


def effective(rules: list[dict]) -> tuple[bool, list[dict]]:
    """Emulate the v1 devices controller: (default_allow, exceptions) after applying ``rules`` to a
    cgroup that starts as deny-all. Exceptions are keyed by exact (type, major, minor) and their
    access letters merge (allow r + allow w = rw), as in the kernel's dev_exception_add/rm.
    Access check: default deny -> allowed iff one exception matches and covers the request;
    default allow -> denied iff one exception matches and overlaps the request."""
    default_allow = False
    exc: dict[tuple, set[str]] = {}
    for rule in rules:
        for r in expand(rule):
            if is_blanket(r):
                default_allow = r["allow"]
                exc = {}
                continue
            key = (r["type"], r["major"], r["minor"])
            adding = r["allow"] != default_allow      # an allow in deny mode (or a deny in allow mode)
            if adding:
                exc[key] = exc.get(key, set()) | _mask(r["access"])
            elif key in exc:
                exc[key] -= _mask(r["access"])
                if not exc[key]:
                    del exc[key]
    order = "rwm"
    return default_allow, [{"type": t, "major": ma, "minor": mi,
                            "access": "".join(sorted(a, key=order.index)), "allow": not default_allow}
                           for (t, ma, mi), a in exc.items()]
