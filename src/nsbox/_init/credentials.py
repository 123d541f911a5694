"""Child side of the runtime's fallback security plan (see runtime.fallback_security).

Same three entry points as ``nsbox.security.apply``: apply_early, finalize_process, install_late_seccomp.
"""

from __future__ import annotations

import os
import resource

from ..linux.caps import CapSets, capset, last_cap
from ..linux.keyring import join_session_keyring
from ..linux.prctl import ambient_clear_all, ambient_raise, capbset_drop, set_keepcaps, set_no_new_privs


def _mask(caps: list[int]) -> int:
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    return mask


def apply_early(plan: dict) -> None:
    for res, soft, hard in plan["rlimits"]:
        try:
            resource.setrlimit(res, (soft, hard))
        except (OSError, ValueError) as err:
            raise OSError(getattr(err, "errno", 1) or 1, f"setrlimit({res}, {soft}, {hard}): {err}") from err
    if plan.get("oom_score_adj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(plan["oom_score_adj"]))
    if plan.get("new_keyring"):
        join_session_keyring(plan.get("keyring_name"))


def finalize_process(plan: dict) -> None:
    caps = plan["capabilities"]
    keep = _mask(caps["bounding"])
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap):
            try:
                capbset_drop(cap)
            except OSError:
                pass
    set_keepcaps(True)
    try:
        os.setgroups(plan["additional_gids"])
    except PermissionError:
        if plan["additional_gids"]:
            raise
    os.setresgid(plan["gid"], plan["gid"], plan["gid"])
    os.setresuid(plan["uid"], plan["uid"], plan["uid"])
    set_keepcaps(False)
    permitted = _mask(caps["permitted"])
    capset(CapSets(effective=_mask(caps["effective"]) & permitted, permitted=permitted,
                   inheritable=_mask(caps["inheritable"])))
    ambient_clear_all()
    inheritable = _mask(caps["inheritable"])
    for cap in caps["ambient"]:
        if permitted & inheritable & (1 << cap):  # the kernel refuses others; runc skips them too
            ambient_raise(cap)
    if plan["no_new_privileges"]:
        set_no_new_privs()
    if plan.get("umask") is not None:
        os.umask(int(plan["umask"]))


def install_late_seccomp(plan: dict) -> None:
    return None
