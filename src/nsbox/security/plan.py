"""Parent side: an OCI config's process security settings -> a JSON-able plan the child executes.

The plan (a plain dict, so it crosses the channel as data):

    {"version": 1,
     "user": {"uid", "gid", "additional_gids": [...], "umask"},
     "capabilities": {"bounding", "effective", "permitted", "inheritable", "ambient"} (int masks) or None
                     (None: leave the capability sets as they are, as runc does without process.capabilities),
     "last_cap": int, "no_new_privs": bool,
     "rlimits": [{"type", "resource", "soft", "hard"}], "oom_score_adj": int | None,
     "new_keyring": bool, "keyring_name": str | None,
     "apparmor_profile": str | None, "selinux_label": str | None,
     "seccomp": None | {"bpf": base64, "flags": int, "install": "early" | "late", "uses_notify": bool,
                        "listener_path": str | None, "listener_metadata": str | None, "instructions": int},
     "warnings": [str]}

Every problem is collected with its JSON path and raised together as one SpecError.
"""

from __future__ import annotations

import os

from ..errors import SecurityError, SpecError, Unsupported
from .capabilities import SETS, check_cap_list, kernel_last_cap, mask_to_names
from .rlimits import RLIMITS, check_rlimits

PLAN_VERSION = 1
DEFAULT_UMASK = 0o022
_CAP_SYS_RESOURCE = 24
_MAX_ID = 0xFFFFFFFE  # (uid_t)-1 means "unchanged" to the kernel, never a real id


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plan_user(user, problems) -> dict:
    out = {"uid": 0, "gid": 0, "additional_gids": [], "umask": DEFAULT_UMASK}
    if user is None:
        return out
    if not isinstance(user, dict):
        problems.append(("$.process.user", "must be an object"))
        return out
    for key in ("uid", "gid"):
        value = user.get(key, 0)
        if not _is_int(value) or not 0 <= value <= _MAX_ID:
            problems.append((f"$.process.user.{key}", f"must be an id 0..{_MAX_ID}, not {value!r}"))
        else:
            out[key] = value
    gids = user.get("additionalGids") or []
    if not isinstance(gids, list):
        problems.append(("$.process.user.additionalGids", "must be a list of gids"))
    else:
        for i, gid in enumerate(gids):
            if not _is_int(gid) or not 0 <= gid <= _MAX_ID:
                problems.append((f"$.process.user.additionalGids[{i}]", f"must be a gid, not {gid!r}"))
            elif gid not in out["additional_gids"]:
                out["additional_gids"].append(gid)
    if "umask" in user and user["umask"] is not None:
        umask = user["umask"]
        if not _is_int(umask) or not 0 <= umask <= 0o777:
            problems.append(("$.process.user.umask", f"must be a mode 0..0777, not {umask!r}"))
        else:
            out["umask"] = umask
    return out


def _plan_caps(caps, last_cap: int, problems, warnings) -> dict | None:
    if caps is None:
        return None
    if not isinstance(caps, dict):
        problems.append(("$.process.capabilities", "must be an object"))
        return None
    out = {}
    for name in SETS:
        mask, probs, warns = check_cap_list(caps.get(name), f"$.process.capabilities.{name}", last_cap=last_cap)
        out[name] = mask
        problems.extend(probs)
        warnings.extend(warns)
    for key in caps:
        if key not in SETS:
            problems.append((f"$.process.capabilities.{key}", f"unknown capability set {key!r}"))
    # What the kernel would refuse in capset(2)/PR_CAP_AMBIENT_RAISE, said before anything is built.
    extra = out["effective"] & ~out["permitted"]
    if extra:
        problems.append(("$.process.capabilities.effective",
                         f"{', '.join(mask_to_names(extra))} not in the permitted set (capset would fail)"))
    extra = out["inheritable"] & ~out["bounding"] & ~out["permitted"]
    if extra:
        problems.append(("$.process.capabilities.inheritable",
                         f"{', '.join(mask_to_names(extra))} in neither the bounding nor the permitted set"))
    # The kernel raises an ambient capability only if it is permitted and inheritable; runc then
    # silently leaves it out (its own default spec lists ambient caps without inheritable ones), so no
    # warning either: the runtime logs plan warnings, and this one would be on every default container.
    out["ambient"] &= out["permitted"] & out["inheritable"]
    return out


def _have_cap(n: int) -> bool:
    from ..linux.caps import capget
    return bool(capget().effective >> n & 1)


def _check_rlimits_allowed(entries: list[dict]) -> None:
    """Raising a hard limit needs CAP_SYS_RESOURCE (in the initial user namespace): say so now."""
    import resource
    if not entries or _have_cap(_CAP_SYS_RESOURCE):
        return
    for entry in entries:
        _, hard = resource.getrlimit(entry["resource"])
        hard = 0xFFFFFFFFFFFFFFFF if hard == resource.RLIM_INFINITY else hard
        if entry["hard"] > hard:
            raise SecurityError(f"{entry['type']}: cannot raise the hard limit from {hard} to {entry['hard']}: "
                                f"this process lacks CAP_SYS_RESOURCE")


def lsm_enabled(name: str) -> bool:
    """Is AppArmor/SELinux active on this host?"""
    if name == "apparmor":
        try:
            with open("/sys/module/apparmor/parameters/enabled") as f:
                return f.read().strip() == "Y"
        except OSError:
            return False
    if name == "selinux":
        return os.path.exists("/sys/fs/selinux/enforce")
    return False


def _plan_lsm(process: dict, problems) -> tuple[str | None, str | None]:
    apparmor = process.get("apparmorProfile") or None
    selinux = process.get("selinuxLabel") or None
    for key, value in (("apparmorProfile", apparmor), ("selinuxLabel", selinux)):
        if value is not None and not isinstance(value, str):
            problems.append((f"$.process.{key}", "must be a string"))
    if isinstance(apparmor, str) and not lsm_enabled("apparmor"):
        raise Unsupported("process.apparmorProfile", f"AppArmor is not enabled on this host "
                                                     f"(profile {apparmor!r} requested)")
    if isinstance(selinux, str) and not lsm_enabled("selinux"):
        raise Unsupported("process.selinuxLabel", f"SELinux is not enabled on this host "
                                                  f"(label {selinux!r} requested)")
    return (apparmor if isinstance(apparmor, str) else None, selinux if isinstance(selinux, str) else None)


_DEFAULT = object()


def _plan_seccomp(profile, no_new_privs: bool, problems, warnings, cache_dir) -> dict | None:
    if profile is None:
        return None
    if not isinstance(profile, dict):
        problems.append(("$.linux.seccomp", "must be an object"))
        return None
    from .seccomp import compile_seccomp, default_cache_dir
    if cache_dir is _DEFAULT:
        cache_dir = default_cache_dir()
    for key in ("listenerPath", "listenerMetadata"):
        if key in profile and not isinstance(profile[key], str):
            problems.append((f"$.linux.seccomp.{key}", "must be a string"))
    try:
        compiled = compile_seccomp(profile, cache_dir=cache_dir)
    except SpecError as exc:
        problems.extend(exc.problems)
        return None
    warnings.extend(compiled.warnings)
    listener_path = profile.get("listenerPath") or None
    if compiled.uses_notify and not listener_path:
        problems.append(("$.linux.seccomp.listenerPath", "is required when an action is SCMP_ACT_NOTIFY"))
    if listener_path and not compiled.uses_notify:
        problems.append(("$.linux.seccomp.listenerPath", "is set but no action is SCMP_ACT_NOTIFY"))
    if isinstance(listener_path, str) and not os.path.isabs(listener_path):
        problems.append(("$.linux.seccomp.listenerPath", f"must be an absolute path, not {listener_path!r}"))
    import binascii  # only with a seccomp profile
    return {
        "bpf": binascii.b2a_base64(compiled.bpf, newline=False).decode(),
        "flags": compiled.flags,
        "install": "late" if no_new_privs else "early",
        "uses_notify": compiled.uses_notify,
        "listener_path": listener_path if isinstance(listener_path, str) else None,
        "listener_metadata": profile.get("listenerMetadata") if isinstance(profile.get("listenerMetadata"), str)
        else None,
        "instructions": compiled.instructions,
    }


def _plan_process(process: dict, problems, warnings, last_cap: int) -> dict:
    nnp = process.get("noNewPrivileges", False)
    if not isinstance(nnp, bool):
        problems.append(("$.process.noNewPrivileges", f"must be true or false, not {nnp!r}"))
        nnp = False
    rlimits, probs = check_rlimits(process.get("rlimits"))
    problems.extend(probs)
    oom = process.get("oomScoreAdj")
    if oom is not None and (not _is_int(oom) or not -1000 <= oom <= 1000):
        problems.append(("$.process.oomScoreAdj", f"must be an integer -1000..1000, not {oom!r}"))
        oom = None
    return {
        "user": _plan_user(process.get("user"), problems),
        "capabilities": _plan_caps(process.get("capabilities"), last_cap, problems, warnings),
        "no_new_privs": nnp,
        "rlimits": rlimits,
        "oom_score_adj": oom,
    }


def plan_security(config: dict, *, rootless: bool = False, container_id: str | None = None,
                  new_keyring: bool = True, seccomp_cache_dir=_DEFAULT) -> dict:
    """The security plan of a container's init process. SpecError lists every problem with its JSON path.

    ``rootless``: the container runs in a user namespace owned by an unprivileged user (recorded; the
    child skips setgroups when /proc/self/setgroups says deny). ``container_id`` names the session keyring ("_ses.<id>").
    ``seccomp_cache_dir``: where compiled filters are kept (default ``seccomp.default_cache_dir()``:
    /var/lib/nsbox/seccomp as root; None compiles every time; NSBOX_SECCOMP_CACHE=0 turns it off).
    """
    if not isinstance(config, dict):
        raise SpecError([("$", "must be an object")])
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    last_cap = kernel_last_cap()
    process = config.get("process") or {}
    if not isinstance(process, dict):
        raise SpecError([("$.process", "must be an object")])
    plan = {"version": PLAN_VERSION, "last_cap": last_cap, "rootless": bool(rootless)}
    plan.update(_plan_process(process, problems, warnings, last_cap))
    linux = config.get("linux") or {}
    seccomp = _plan_seccomp(linux.get("seccomp") if isinstance(linux, dict) else None,
                            plan["no_new_privs"], problems, warnings, seccomp_cache_dir)
    if problems:
        raise SpecError(problems)
    plan["apparmor_profile"], plan["selinux_label"] = _plan_lsm(process, problems)
    if problems:
        raise SpecError(problems)
    _check_rlimits_allowed(plan["rlimits"])
    plan["seccomp"] = seccomp
    plan["new_keyring"] = bool(new_keyring)
    plan["keyring_name"] = f"_ses.{container_id}" if container_id else None
    plan["warnings"] = warnings
    return plan


def plan_exec_security(process: dict, base_plan: dict, *, rootless: bool | None = None,
                       no_new_privs: bool | None = None) -> dict:
    """The plan of a process `exec`ed into a running container.

    From ``process`` (the exec's process.json): user, capabilities, rlimits, apparmor/selinux; seccomp
    comes from the container (``base_plan``, made by plan_security). As in runc: capabilities, rlimits
    and noNewPrivileges that the process leaves out are the container's. ``no_new_privs`` (runc exec
    --no-new-privs) overrides both. oom_score_adj is inherited from the container, not set again.
    """
    if not isinstance(process, dict):
        raise SpecError([("$", "must be an object")], source="process.json")
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    last_cap = base_plan.get("last_cap", kernel_last_cap())
    part = _plan_process(process, problems, warnings, last_cap)
    if problems:
        raise SpecError(problems, source="process.json")
    plan = dict(base_plan)
    plan["user"] = part["user"]
    if process.get("capabilities") is not None:
        plan["capabilities"] = part["capabilities"]
    if process.get("rlimits"):
        plan["rlimits"] = part["rlimits"]
    # runc: an exec'd process is a new child of the runtime, so its no_new_privs is its own.
    nnp = part["no_new_privs"] if "noNewPrivileges" in process else base_plan.get("no_new_privs", False)
    if no_new_privs is not None:
        nnp = no_new_privs
    plan["no_new_privs"] = nnp
    plan["oom_score_adj"] = None
    if rootless is not None:
        plan["rootless"] = bool(rootless)
    plan["apparmor_profile"], plan["selinux_label"] = _plan_lsm(process, problems)
    if problems:
        raise SpecError(problems, source="process.json")
    if plan.get("seccomp"):
        plan["seccomp"] = dict(plan["seccomp"], install="late" if nnp else "early")
    _check_rlimits_allowed(plan["rlimits"])
    plan["warnings"] = warnings
    return plan


def describe(plan: dict) -> dict:
    """A readable view of a plan (capability names instead of masks), for logs and `--debug`."""
    out = dict(plan)
    if plan.get("capabilities"):
        out["capabilities"] = {k: mask_to_names(v) for k, v in plan["capabilities"].items()}
    if plan.get("seccomp"):
        out["seccomp"] = {k: v for k, v in plan["seccomp"].items() if k != "bpf"}
    out["rlimits"] = {e["type"]: [e["soft"], e["hard"]] for e in plan.get("rlimits", [])}
    return out


__all__ = ["plan_security", "plan_exec_security", "describe", "RLIMITS"]
