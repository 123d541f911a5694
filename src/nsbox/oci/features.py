"""The `nsbox-runc features` document (runc features / the runtime-spec's features.md).

Truthful: it lists what nsbox implements, not what the spec allows.  Capabilities are the
running kernel's (cap_last_cap); seccomp archs are those libseccomp 2.5.4 can name.
"""

from __future__ import annotations

from .mountopts import known_options
from .names import kernel_capabilities
from .state import OCI_VERSION

__all__ = ["features_document", "NAMESPACES", "HOOKS", "SECCOMP_ACTIONS", "SECCOMP_OPERATORS",
           "SECCOMP_ARCHS"]

OCI_VERSION_MIN = "1.0.0"
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
# What the runtime creates and joins (runc 1.1's list plus time: the runtime applies timeOffsets).
NAMESPACES = ("cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts")
SECCOMP_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                   "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP")
SECCOMP_OPERATORS = ("SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                     "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE")
# The filter flags nsbox's seccomp compiler passes to seccomp(2). supportedFlags (what this kernel
# takes) needs a seccomp(2) probe, which has no place in this pure-data module: omitted, as runc 1.1 does.
SECCOMP_KNOWN_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                       "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
# libseccomp 2.5.4's architectures (seccomp_arch_resolve_name knows these; LoongArch, M68K and
# SuperH came in 2.6).
SECCOMP_ARCHS = ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                 "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                 "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
                 "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                 "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64")
# Parsed by mountopts but not advertised until the runtime applies them: idmapped mounts
# ("idmap", "ridmap") and the "tmpcopyup" extension.
IDMAP_MOUNTS = False
TMPCOPYUP = False


def features_document() -> dict:
    """A fresh dict shaped like `runc features` output, valid against features-schema.json."""
    from .. import __version__

    caps = kernel_capabilities()
    linux = {
        "namespaces": list(NAMESPACES),
        "capabilities": sorted(caps, key=caps.__getitem__),
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
        "seccomp": {
            "enabled": True,
            "actions": list(SECCOMP_ACTIONS),
            "operators": list(SECCOMP_OPERATORS),
            "archs": list(SECCOMP_ARCHS),
            "knownFlags": list(SECCOMP_KNOWN_FLAGS),
        },
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": IDMAP_MOUNTS}},
    }
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": [o for o in known_options(include_idmap=IDMAP_MOUNTS)
                         if TMPCOPYUP or o != "tmpcopyup"],
        "linux": linux,
        "annotations": {"org.nsbox.version": __version__},
    }
