"""Capability names <-> numbers, validated against the running kernel (cap_last_cap).

A spec names capabilities as in capabilities(7) ("CAP_CHOWN"). A name nsbox does not know is an error;
a known name the running kernel lacks (number > cap_last_cap) is ignored with a warning, as runc does.
"""

from __future__ import annotations

from ..errors import SpecError

# capabilities(7), linux/capability.h order.
CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
_NUMBERS = {name: n for n, name in enumerate(CAP_NAMES)}

SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

# runc's default spec (`runc spec`) and docker/podman's default set.
DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL", "CAP_AUDIT_WRITE",
)


def kernel_last_cap() -> int:
    """The highest capability the running kernel knows; the table's last one if /proc says nothing."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


def cap_number(name: str) -> int:
    """'CAP_SYS_ADMIN' (or 'sys_admin') -> 21. KeyError names the unknown capability."""
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return _NUMBERS[key]
    except KeyError:
        raise KeyError(f"unknown capability {name!r}") from None


def cap_name(n: int) -> str:
    """21 -> 'CAP_SYS_ADMIN'; numbers past the table as 'CAP_<n>'."""
    return CAP_NAMES[n] if 0 <= n < len(CAP_NAMES) else f"CAP_{n}"


def mask_to_names(mask: int) -> list[str]:
    return [cap_name(n) for n in range(mask.bit_length()) if mask >> n & 1]


def names_to_mask(names) -> int:
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


def full_mask(last_cap: int | None = None) -> int:
    last = kernel_last_cap() if last_cap is None else last_cap
    return (1 << (last + 1)) - 1


def check_cap_list(names, json_path: str, *, last_cap: int | None = None
                   ) -> tuple[int, list[tuple[str, str]], list[str]]:
    """(mask, problems, warnings) for one OCI capability list; nothing raised."""
    last = kernel_last_cap() if last_cap is None else last_cap
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    if names is None:
        return 0, problems, warnings
    if not isinstance(names, list):
        return 0, [(json_path, f"must be a list of capability names, not {type(names).__name__}")], warnings
    mask = 0
    for i, name in enumerate(names):
        path = f"{json_path}[{i}]"
        if not isinstance(name, str):
            problems.append((path, f"capability must be a string, not {name!r}"))
            continue
        n = _NUMBERS.get(name)
        if n is None:
            problems.append((path, f"unknown capability {name!r}"))
        elif n > last:
            warnings.append(f"{path}: ignoring capability {name} unknown to the running kernel "
                            f"(cap_last_cap is {last})")
        else:
            mask |= 1 << n
    return mask, problems, warnings


def parse_cap_list(names, json_path: str, *, last_cap: int | None = None,
                   warnings: list[str] | None = None) -> int:
    """The bit mask of an OCI capability list; SpecError lists every unknown name with its JSON path.

    Names the kernel does not know (beyond cap_last_cap) are dropped; their warnings go to ``warnings``.
    """
    mask, problems, warns = check_cap_list(names, json_path, last_cap=last_cap)
    if warnings is not None:
        warnings.extend(warns)
    if problems:
        raise SpecError(problems)
    return mask
