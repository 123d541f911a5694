"""Static name tables the OCI layer validates against: capabilities and rlimits."""

from __future__ import annotations

__all__ = ["CAPABILITIES", "capability_names", "kernel_capabilities", "rlimit_types", "RLIMITS"]

# linux/capability.h, in number order.
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
_CAP_NUMBERS = {name: number for number, name in enumerate(CAPABILITIES)}

# The rlimits runc accepts (asm-generic/resource.h numbers). The numbers come from the resource
# module; Python has no RLIMIT_LOCKS, so the kernel's number is the fallback for it.
RLIMITS: tuple[str, ...] = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)
_KERNEL_RLIMIT_NUMBERS = {name: number for number, name in enumerate(RLIMITS)}
_rlimits_cache: dict[str, int] | None = None


def capability_names() -> dict[str, int]:
    """'CAP_CHOWN' -> 0 ... 'CAP_CHECKPOINT_RESTORE' -> 40 (a copy)."""
    return dict(_CAP_NUMBERS)


def kernel_capabilities(cap_last_cap_file: str = "/proc/sys/kernel/cap_last_cap") -> dict[str, int]:
    """The capabilities the running kernel knows: the static table cut at cap_last_cap."""
    try:
        with open(cap_last_cap_file) as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = len(CAPABILITIES) - 1
    return {name: number for name, number in _CAP_NUMBERS.items() if number <= last}


def rlimit_types() -> dict[str, int]:
    """'RLIMIT_NOFILE' -> 7, ... from the resource module's constants."""
    global _rlimits_cache
    if _rlimits_cache is None:
        import resource

        _rlimits_cache = {name: getattr(resource, name, _KERNEL_RLIMIT_NUMBERS[name]) for name in RLIMITS}
    return dict(_rlimits_cache)
