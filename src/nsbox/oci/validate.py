"""Validate an OCI runtime config: every problem, each with its JSON path, in one SpecError.

Two passes over the document:

1. shape: a hand-written transcription of config-schema.json + config-linux.json (types, required
   fields, enums, patterns, integer ranges) for the parts nsbox reads.  No jsonschema at run time:
   the runtime is exec'd per container.  tests/unit/test_oci_validate.py checks that this table
   agrees with the real schema on the spec's example documents.
2. meaning: the rules runc enforces (libcontainer/configs/validate, specconv) and a few the spec
   states: ociVersion major 1, absolute paths, one entry per namespace type, id mappings iff a user
   namespace is created, hostname/sysctl need their namespaces, rlimit and capability names known...

Problems are (json_path, message) pairs such as ("$.linux.namespaces[2].type",
'unknown namespace type "foo"').
"""

from __future__ import annotations

import os

from ..errors import SpecError
from .names import capability_names, rlimit_types

__all__ = ["validate_config", "config_problems", "NAMESPACE_TYPES"]

Problems = list  # list[tuple[str, str]]

NAMESPACE_TYPES = ("mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time")
def _key(path: str, key: str) -> str:
    plain = key.isidentifier() and key.isascii()
    return f"{path}.{key}" if plain else f'{path}["{key}"]'


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ---------------------------------------------------------------------------------------------
# Pass 1: shape.  A check is a function (value, path, problems) -> None.

def _string(accept=None, hint: str | None = None):
    """A string; with accept(value) -> bool, a string of that form (the schema's pattern, as code:
    compiling regular expressions costs more than validating a whole config)."""
    def check(value, path, problems):
        if not isinstance(value, str):
            problems.append((path, f"must be a string, got {_json_type(value)}"))
        elif accept is not None and not accept(value):
            problems.append((path, f"{value!r} does not match {hint}"))
    return check


_DIGITS = frozenset("0123456789")


def _is_rlimit_name(v: str) -> bool:         # ^RLIMIT_[A-Z]+$
    rest = v[7:]
    return v.startswith("RLIMIT_") and rest.isascii() and rest.isalpha() and rest.isupper()


def _is_cpu_list(v: str) -> bool:            # ^[0-9, -]*$
    return set(v) <= _DIGITS | {",", " ", "-"}


def _is_page_size(v: str) -> bool:           # ^[1-9][0-9]*[KMG]B$
    return (len(v) >= 3 and v[0] in "123456789" and v[-1] == "B" and v[-2] in "KMG"
            and set(v[1:-2]) <= _DIGITS)


def _is_mem_bw_schema(v: str) -> bool:       # ^MB:[^\n]*$
    return v.startswith("MB:") and "\n" not in v


def _is_device_type(v: str) -> bool:         # ^[cbup]$
    return v in ("c", "b", "u", "p")


def _enum(values: tuple, what: str | None = None):
    allowed = frozenset(values)

    def check(value, path, problems):
        if not isinstance(value, str):
            problems.append((path, f"must be a string, got {_json_type(value)}"))
        elif value not in allowed:
            if what:
                problems.append((path, f'unknown {what} "{value}"'))
            else:
                problems.append((path, f'"{value}" is not one of ' + ", ".join(f'"{v}"' for v in values)))
    return check


def _boolean(value, path, problems):
    if not isinstance(value, bool):
        problems.append((path, f"must be a boolean, got {_json_type(value)}"))


def _integer(low: int, high: int, name: str):
    def check(value, path, problems):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((path, f"must be an integer ({name}), got {_json_type(value)}"))
        elif not low <= value <= high:
            problems.append((path, f"{value} is out of range for {name} ({low}..{high})"))
    return check


INT32 = _integer(-(1 << 31), (1 << 31) - 1, "int32")
INT64 = _integer(-(1 << 63), (1 << 63) - 1, "int64")
UINT16 = _integer(0, (1 << 16) - 1, "uint16")
UINT32 = _integer(0, (1 << 32) - 1, "uint32")
UINT64 = _integer(0, (1 << 64) - 1, "uint64")
# runc takes linux.devices[].fileMode as a Go os.FileMode (uint32): podman sends the file-type bits too
# (S_IFCHR|0600 = 8576); only the permission bits are used (the planner masks & 0o7777)
DEVICE_FILE_MODE = _integer(0, (1 << 32) - 1, "uint32 file mode")
STRING = _string()


def _array(item, min_items: int = 0):
    def check(value, path, problems):
        if not isinstance(value, list):
            problems.append((path, f"must be an array, got {_json_type(value)}"))
            return
        if len(value) < min_items:
            problems.append((path, f"must have at least {min_items} item(s)"))
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]", problems)
    return check


def _object(properties: dict, required: tuple = ()):
    def check(value, path, problems):
        if not isinstance(value, dict):
            problems.append((path, f"must be an object, got {_json_type(value)}"))
            return
        for name in required:
            if name not in value:
                problems.append((_key(path, name), "is required"))
        for name, sub in properties.items():
            if name in value:
                sub(value[name], _key(path, name), problems)
    return check


def _map(value_check):
    """JSON object with arbitrary keys: patternProperties ".{1,}" / additionalProperties."""
    def check(value, path, problems):
        if not isinstance(value, dict):
            problems.append((path, f"must be an object, got {_json_type(value)}"))
            return
        for name, element in value.items():
            if name:
                value_check(element, _key(path, name), problems)
    return check


STRINGS = _array(STRING)
MAP_STRING_STRING = _map(STRING)
ID_MAPPING = _object({"containerID": UINT32, "hostID": UINT32, "size": UINT32},
                     ("containerID", "hostID", "size"))
ID_MAPPINGS = _array(ID_MAPPING)
HOOK = _object({"path": STRING, "args": STRINGS, "env": STRINGS,
                "timeout": _integer(1, (1 << 63) - 1, "timeout > 0")}, ("path",))
HOOKS = _array(HOOK)
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
MOUNT = _object({"source": STRING, "destination": STRING, "options": STRINGS, "type": STRING,
                 "uidMappings": ID_MAPPINGS, "gidMappings": ID_MAPPINGS}, ("destination",))

SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                   "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
SECCOMP_OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                 "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
SECCOMP_ARCHS = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
                 "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                 "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                 "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                 "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
                 "SCMP_ARCH_RISCV64")
SCHEDULER_POLICIES = ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
                      "SCHED_DEADLINE")
SCHEDULER_FLAGS = ("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
                   "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
                   "SCHED_FLAG_UTIL_CLAMP_MAX")
MEMORY_POLICY_MODES = ("MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                       "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL")
MEMORY_POLICY_FLAGS = ("MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES")

_CPU_LIST = _string(_is_cpu_list, "a cpu list such as 0-3,7")

PROCESS = _object({
    "args": STRINGS,
    "commandLine": STRING,
    "consoleSize": _object({"height": UINT64, "width": UINT64}, ("height", "width")),
    "cwd": STRING,
    "env": STRINGS,
    "terminal": _boolean,
    "user": _object({"uid": UINT32, "gid": UINT32, "umask": UINT32, "additionalGids": _array(UINT32),
                     "username": STRING}),
    "capabilities": _object({s: STRINGS for s in ("bounding", "permitted", "effective", "inheritable",
                                                  "ambient")}),
    "apparmorProfile": STRING,
    "oomScoreAdj": _integer(-(1 << 63), (1 << 63) - 1, "integer"),
    "selinuxLabel": STRING,
    "ioPriority": _object({"class": _enum(("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"),
                                          "I/O priority class"),
                           "priority": INT32}, ("class",)),
    "noNewPrivileges": _boolean,
    "scheduler": _object({"policy": _enum(SCHEDULER_POLICIES, "scheduler policy"), "nice": INT32,
                          "priority": INT32, "flags": _array(_enum(SCHEDULER_FLAGS, "scheduler flag")),
                          "runtime": UINT64, "deadline": UINT64, "period": UINT64}, ("policy",)),
    "rlimits": _array(_object({"hard": UINT64, "soft": UINT64,
                               "type": _string(_is_rlimit_name, "RLIMIT_[A-Z]+")},
                              ("type", "soft", "hard"))),
    "execCPUAffinity": _object({"initial": _CPU_LIST, "final": _CPU_LIST}),
}, ("cwd",))

_BLOCK_IO_DEVICE = {"major": INT64, "minor": INT64}
_THROTTLE = _array(_object({**_BLOCK_IO_DEVICE, "rate": UINT64}, ("major", "minor")))

RESOURCES = _object({
    "unified": MAP_STRING_STRING,
    "devices": _array(_object({"allow": _boolean, "type": STRING, "major": INT64, "minor": INT64,
                               "access": STRING}, ("allow",))),
    "pids": _object({"limit": INT64}, ("limit",)),
    "blockIO": _object({
        "weight": UINT16, "leafWeight": UINT16,
        "throttleReadBpsDevice": _THROTTLE, "throttleWriteBpsDevice": _THROTTLE,
        "throttleReadIOPSDevice": _THROTTLE, "throttleWriteIOPSDevice": _THROTTLE,
        "weightDevice": _array(_object({**_BLOCK_IO_DEVICE, "weight": UINT16, "leafWeight": UINT16},
                                       ("major", "minor"))),
    }),
    "cpu": _object({"cpus": STRING, "mems": STRING, "period": UINT64, "quota": INT64, "burst": UINT64,
                    "realtimePeriod": UINT64, "realtimeRuntime": INT64, "shares": UINT64, "idle": INT64}),
    "hugepageLimits": _array(_object({"pageSize": _string(_is_page_size, "a size such as 2MB"),
                                      "limit": UINT64}, ("pageSize", "limit"))),
    "memory": _object({"kernel": INT64, "kernelTCP": INT64, "limit": INT64, "reservation": INT64,
                       "swap": INT64, "swappiness": UINT64, "disableOOMKiller": _boolean,
                       "useHierarchy": _boolean, "checkBeforeUpdate": _boolean}),
    "network": _object({"classID": UINT32,
                        "priorities": _array(_object({"name": STRING, "priority": UINT32},
                                                     ("name", "priority")))}),
    "rdma": _map(_object({"hcaHandles": UINT32, "hcaObjects": UINT32})),
})

_TIME_OFFSET = _object({"secs": INT64, "nanosecs": UINT32})

LINUX = _object({
    "devices": _array(_object({"type": _string(_is_device_type, "one of c, b, u, p"), "path": STRING,
                               "fileMode": DEVICE_FILE_MODE, "major": INT64, "minor": INT64,
                               "uid": UINT32, "gid": UINT32}, ("type", "path"))),
    "netDevices": _map(_object({"name": STRING})),
    "uidMappings": ID_MAPPINGS,
    "gidMappings": ID_MAPPINGS,
    "namespaces": _array(_object({"type": _enum(NAMESPACE_TYPES, "namespace type"), "path": STRING},
                                 ("type",))),
    "resources": RESOURCES,
    "cgroupsPath": STRING,
    # The schema lists private/shared/slave/unbindable; runc (and so docker/podman configs) also
    # use the recursive forms.
    "rootfsPropagation": _enum(("private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave",
                                "runbindable"), "rootfs propagation"),
    "seccomp": _object({
        "defaultAction": _enum(SECCOMP_ACTIONS, "seccomp action"),
        "defaultErrnoRet": UINT32,
        "flags": _array(_enum(SECCOMP_FLAGS, "seccomp flag")),
        "listenerPath": STRING,
        "listenerMetadata": STRING,
        "architectures": _array(_enum(SECCOMP_ARCHS, "seccomp architecture")),
        "syscalls": _array(_object({
            "names": _array(STRING, min_items=1),
            "action": _enum(SECCOMP_ACTIONS, "seccomp action"),
            "errnoRet": UINT32,
            "args": _array(_object({"index": UINT32, "value": UINT64, "valueTwo": UINT64,
                                    "op": _enum(SECCOMP_OPERATORS, "seccomp operator")},
                                   ("index", "value", "op"))),
        }, ("names", "action"))),
    }, ("defaultAction",)),
    "sysctl": MAP_STRING_STRING,
    "maskedPaths": STRINGS,
    "readonlyPaths": STRINGS,
    "mountLabel": STRING,
    "intelRdt": _object({"closID": STRING, "schemata": STRINGS, "l3CacheSchema": STRING,
                         "memBwSchema": _string(_is_mem_bw_schema, "MB:..."), "enableMonitoring": _boolean}),
    "memoryPolicy": _object({"mode": _enum(MEMORY_POLICY_MODES, "memory policy mode"), "nodes": STRING,
                             "flags": _array(_enum(MEMORY_POLICY_FLAGS, "memory policy flag"))}),
    "personality": _object({"domain": _enum(("LINUX", "LINUX32"), "personality domain"),
                            "flags": STRINGS}),
    "timeOffsets": _object({"boottime": _TIME_OFFSET, "monotonic": _TIME_OFFSET}),
})

CONFIG = _object({
    "ociVersion": STRING,
    "hooks": _object({name: HOOKS for name in HOOK_NAMES}),
    "annotations": MAP_STRING_STRING,
    "hostname": STRING,
    "domainname": STRING,
    "mounts": _array(MOUNT),
    "root": _object({"path": STRING, "readonly": _boolean}, ("path",)),
    "process": PROCESS,
    "linux": LINUX,
}, ("ociVersion",))


# ---------------------------------------------------------------------------------------------
# Pass 2: meaning.  Each rule reads the document defensively (pass 1 reported wrong types).

def _get(doc, *keys, default=None):
    for key in keys:
        if not isinstance(doc, dict) or key not in doc:
            return default
        doc = doc[key]
    return doc


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


class _Namespaces:
    """The linux.namespaces list read once: which types are there, which are joined by path."""

    def __init__(self, config: dict):
        self.entries: dict[str, str | None] = {}
        for entry in _list(_get(config, "linux", "namespaces")):
            if isinstance(entry, dict) and isinstance(entry.get("type"), str):
                path = entry.get("path")
                self.entries.setdefault(entry["type"], path if isinstance(path, str) and path else None)

    def has(self, ns_type: str) -> bool:
        return ns_type in self.entries

    def creates(self, ns_type: str) -> bool:
        return ns_type in self.entries and self.entries[ns_type] is None


_SEMVER_EXTRA = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-")


def _semver_major(version: str) -> int | None:
    """'1.0.2-dev' -> 1; None unless MAJOR.MINOR.PATCH[-pre][+build]."""
    core, _, build = version.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    if len(parts) != 3 or not all(p and p.isascii() and p.isdigit() for p in parts):
        return None
    for extra, present in ((pre, dash), (build, "+" in version)):
        if present and (not extra or not set(extra) <= _SEMVER_EXTRA):
            return None
    return int(parts[0])


def _check_version(config, problems, **_):
    version = config.get("ociVersion")
    if not isinstance(version, str):
        return
    major = _semver_major(version)
    if major is None:
        problems.append(("$.ociVersion", f'"{version}" is not a semantic version such as 1.0.2'))
    elif major > 1:
        # 0.x documents (the spec's own examples, pre-1.0 tools) are read as 1.x, as runc does.
        problems.append(("$.ociVersion", f'unsupported version "{version}": nsbox implements 1.x'))


def _check_root(config, problems, bundle=None, **_):
    root = config.get("root")
    if root is None:
        problems.append(("$.root", "is required on Linux (the container's root filesystem)"))
        return
    path = _get(config, "root", "path")
    if not isinstance(path, str):
        return
    if not path:
        problems.append(("$.root.path", "must not be empty"))
        return
    if bundle is None:
        return
    full = path if os.path.isabs(path) else os.path.join(os.path.abspath(bundle), path)
    full = os.path.normpath(full)
    if not os.path.exists(full):
        problems.append(("$.root.path", f"rootfs {full} does not exist"))
    elif not os.path.isdir(full):
        problems.append(("$.root.path", f"rootfs {full} is not a directory"))


def _check_process(config, problems, require_process=True, **_):
    process = config.get("process")
    if process is None:
        if require_process:
            problems.append(("$.process", "is required to create a container"))
        return
    if not isinstance(process, dict):
        return
    args = process.get("args")
    if require_process or args is not None:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            problems.append(("$.process.args", "must be a non-empty array of strings"))
        elif args[0] == "":
            problems.append(("$.process.args[0]", "must name the program to run"))
    cwd = process.get("cwd")
    if isinstance(cwd, str) and not os.path.isabs(cwd):
        problems.append(("$.process.cwd", f'"{cwd}" must be an absolute path'))
    for i, pair in enumerate(_list(process.get("env"))):
        if not isinstance(pair, str):
            continue
        name, sep, _value = pair.partition("=")
        if not sep:
            problems.append((f"$.process.env[{i}]", f'"{pair}" is missing "="'))
        elif not name:
            problems.append((f"$.process.env[{i}]", "variable name must not be empty"))
        elif "\0" in pair:
            problems.append((f"$.process.env[{i}]", "must not contain a NUL byte"))
    _check_rlimits(process, problems)
    _check_capabilities(process, problems)


def _check_rlimits(process, problems):
    known = rlimit_types()
    seen: set[str] = set()
    for i, rlimit in enumerate(_list(process.get("rlimits"))):
        if not isinstance(rlimit, dict):
            continue
        kind = rlimit.get("type")
        path = f"$.process.rlimits[{i}]"
        if isinstance(kind, str):
            if kind not in known:
                problems.append((f"{path}.type", f'unknown rlimit "{kind}"'))
            elif kind in seen:
                problems.append((f"{path}.type", f'duplicate rlimit "{kind}"'))
            seen.add(kind)
        soft, hard = rlimit.get("soft"), rlimit.get("hard")
        if (isinstance(soft, int) and isinstance(hard, int) and not isinstance(soft, bool)
                and not isinstance(hard, bool) and soft > hard):
            problems.append((f"{path}.soft", f"soft limit {soft} is above the hard limit {hard}"))


def _check_capabilities(process, problems):
    caps = process.get("capabilities")
    if not isinstance(caps, dict):
        return
    known = capability_names()
    for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        for i, name in enumerate(_list(caps.get(kind))):
            if isinstance(name, str) and name not in known:
                problems.append((f"$.process.capabilities.{kind}[{i}]", f'unknown capability "{name}"'))


def _check_hooks(config, problems, **_):
    for name, hooks in _dict(config.get("hooks")).items():
        for i, hook in enumerate(_list(hooks)):
            path = _get(hook, "path")
            if isinstance(path, str) and not os.path.isabs(path):
                problems.append((f"$.hooks.{name}[{i}].path", f'"{path}" must be an absolute path'))


_BIND_OPTIONS = frozenset(("bind", "rbind"))
_IDMAP_OPTIONS = frozenset(("idmap", "ridmap"))


def _check_mounts(config, problems, **_):
    for i, mount in enumerate(_list(config.get("mounts"))):
        if not isinstance(mount, dict):
            continue
        path = f"$.mounts[{i}]"
        dest = mount.get("destination")
        if isinstance(dest, str) and not os.path.isabs(dest):
            problems.append((f"{path}.destination", f'"{dest}" must be an absolute path'))
        options = [o for o in _list(mount.get("options")) if isinstance(o, str)]
        is_bind = mount.get("type") == "bind" or bool(_BIND_OPTIONS.intersection(options))
        if is_bind and not mount.get("source"):
            problems.append((f"{path}.source", "is required for a bind mount"))
        has_uid, has_gid = "uidMappings" in mount, "gidMappings" in mount
        if has_uid != has_gid:
            missing = "gidMappings" if has_uid else "uidMappings"
            problems.append((f"{path}.{missing}", "uidMappings and gidMappings must be given together"))
        if (has_uid or has_gid) and not _IDMAP_OPTIONS.intersection(options):
            problems.append((f"{path}.options", 'id mappings need the "idmap" or "ridmap" option'))


_OTHER_PLATFORMS = ("freebsd", "solaris", "windows", "vm", "zos")


def _for_other_platform(config) -> bool:
    """A document for FreeBSD, z/OS, ... (no linux section): Linux namespace rules do not apply."""
    return "linux" not in config and any(p in config for p in _OTHER_PLATFORMS)


def _check_namespaces(config, problems, rootless=False, **_):
    if _for_other_platform(config):
        return
    ns = _Namespaces(config)
    seen: set[str] = set()
    for i, entry in enumerate(_list(_get(config, "linux", "namespaces"))):
        if not isinstance(entry, dict):
            continue
        kind, path = entry.get("type"), entry.get("path")
        if isinstance(kind, str) and kind in NAMESPACE_TYPES:
            if kind in seen:
                problems.append((f"$.linux.namespaces[{i}].type", f'duplicate namespace "{kind}"'))
            seen.add(kind)
        if isinstance(path, str) and path and not os.path.isabs(path):
            problems.append((f"$.linux.namespaces[{i}].path", f'"{path}" must be an absolute path'))
    linux = _dict(config.get("linux"))
    has_maps = bool(linux.get("uidMappings")) or bool(linux.get("gidMappings"))
    if ns.creates("user"):
        for field in ("uidMappings", "gidMappings"):
            if not linux.get(field):
                why = "created rootless" if rootless else "created"
                problems.append((f"$.linux.{field}", f"required when a user namespace is {why}"))
    elif has_maps and not ns.has("user"):
        field = "uidMappings" if linux.get("uidMappings") else "gidMappings"
        problems.append((f"$.linux.{field}", "id mappings given but no user namespace is configured"))
    if rootless and not ns.has("user"):
        problems.append(("$.linux.namespaces", "a rootless container needs a user namespace"))
    if not ns.has("mount"):
        for field in ("maskedPaths", "readonlyPaths"):
            if linux.get(field):
                problems.append((f"$.linux.{field}", "needs a mount namespace"))
    if "timeOffsets" in linux and not ns.creates("time"):
        problems.append(("$.linux.timeOffsets", "needs a new time namespace"))
    for field in ("hostname", "domainname"):
        if config.get(field) and not ns.has("uts"):
            problems.append((f"$.{field}", f"cannot set {field} without a UTS namespace"))
    _check_sysctl(linux, ns, problems)


# runc's list of IPC-namespaced sysctls (libcontainer/configs/validate).
_IPC_SYSCTLS = frozenset(("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                          "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"))


def _check_sysctl(linux, ns, problems):
    for name in _dict(linux.get("sysctl")):
        path = _key("$.linux.sysctl", name)
        if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if not ns.has("ipc"):
                problems.append((path, f'sysctl "{name}" needs an IPC namespace'))
        elif name.startswith("net."):
            if not ns.has("network"):
                problems.append((path, f'sysctl "{name}" needs a network namespace'))
        elif ns.has("uts") and name == "kernel.domainname":
            pass
        elif ns.has("uts") and name == "kernel.hostname":
            problems.append((path, 'sysctl "kernel.hostname" conflicts with the "hostname" field'))
        else:
            problems.append((path, f'sysctl "{name}" is not in a namespace the container has'))


def _check_linux_paths(config, problems, **_):
    linux = _dict(config.get("linux"))
    for field in ("maskedPaths", "readonlyPaths"):
        for i, path in enumerate(_list(linux.get(field))):
            if isinstance(path, str) and not os.path.isabs(path):
                problems.append((f"$.linux.{field}[{i}]", f'"{path}" must be an absolute path'))
    for i, device in enumerate(_list(linux.get("devices"))):
        if not isinstance(device, dict):
            continue
        path = device.get("path")
        if isinstance(path, str) and not os.path.isabs(path):
            problems.append((f"$.linux.devices[{i}].path", f'"{path}" must be an absolute path'))
        if device.get("type") in ("c", "b", "u"):
            for field in ("major", "minor"):
                if field not in device:
                    problems.append((f"$.linux.devices[{i}].{field}", "is required for a c, b or u device"))
    for i, rule in enumerate(_list(_get(linux, "resources", "devices"))):
        if not isinstance(rule, dict):
            continue
        kind, access = rule.get("type"), rule.get("access")
        if isinstance(kind, str) and kind not in ("a", "b", "c"):
            problems.append((f"$.linux.resources.devices[{i}].type", f'"{kind}" is not one of a, b, c'))
        if isinstance(access, str) and set(access) - set("rwm"):
            problems.append((f"$.linux.resources.devices[{i}].access",
                             f'"{access}" may only contain r, w and m'))
    cgroups_path = linux.get("cgroupsPath")
    if isinstance(cgroups_path, str) and ".." in cgroups_path.split("/"):
        problems.append(("$.linux.cgroupsPath", f'"{cgroups_path}" must not contain ".."'))


_ERRNO_ACTIONS = frozenset(("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"))


def _check_seccomp(config, problems, **_):
    seccomp = _get(config, "linux", "seccomp")
    if not isinstance(seccomp, dict):
        return
    actions = [seccomp.get("defaultAction")]
    if "defaultErrnoRet" in seccomp and seccomp.get("defaultAction") not in _ERRNO_ACTIONS:
        problems.append(("$.linux.seccomp.defaultErrnoRet",
                         "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE as defaultAction"))
    for i, rule in enumerate(_list(seccomp.get("syscalls"))):
        if not isinstance(rule, dict):
            continue
        actions.append(rule.get("action"))
        if rule.get("action") == "SCMP_ACT_NOTIFY" and "write" in _list(rule.get("names")):
            # runc: the runtime's own log/sync writes would deadlock on the container's listener
            problems.append((f"$.linux.seccomp.syscalls[{i}].action", "SCMP_ACT_NOTIFY cannot be used for write"))
        if "errnoRet" in rule and rule.get("action") not in _ERRNO_ACTIONS:
            problems.append((f"$.linux.seccomp.syscalls[{i}].errnoRet",
                             "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"))
        for j, arg in enumerate(_list(rule.get("args"))):
            if isinstance(arg, dict) and isinstance(arg.get("index"), int) and arg["index"] > 5:
                problems.append((f"$.linux.seccomp.syscalls[{i}].args[{j}].index",
                                 f"{arg['index']} is not a syscall argument index (0..5)"))
    if "SCMP_ACT_NOTIFY" in actions and not seccomp.get("listenerPath"):
        problems.append(("$.linux.seccomp.listenerPath", "is required when SCMP_ACT_NOTIFY is used"))
    if seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
        problems.append(("$.linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action"))


def _mapped(mappings, container_id: int) -> bool:
    for m in _list(mappings):
        if not isinstance(m, dict):
            continue
        start, size = m.get("containerID"), m.get("size")
        if isinstance(start, int) and isinstance(size, int) and start <= container_id < start + size:
            return True
    return False


def _check_id_mapping_use(config, problems, rootless=False, **_):
    """With a new user namespace, the ids the container uses must be mapped (setuid fails otherwise)."""
    if not _Namespaces(config).creates("user"):
        return
    linux = _dict(config.get("linux"))
    uid_maps, gid_maps = linux.get("uidMappings"), linux.get("gidMappings")
    if not uid_maps or not gid_maps:
        return  # reported by _check_namespaces
    user = _dict(_get(config, "process", "user"))
    for field, maps, what in (("uid", uid_maps, "uidMappings"), ("gid", gid_maps, "gidMappings")):
        value = user.get(field, 0)
        if isinstance(value, int) and not isinstance(value, bool) and not _mapped(maps, value):
            problems.append((f"$.process.user.{field}", f"{field} {value} is not mapped in linux.{what}"))
    for i, gid in enumerate(_list(user.get("additionalGids"))):
        if isinstance(gid, int) and not isinstance(gid, bool) and not _mapped(gid_maps, gid):
            problems.append((f"$.process.user.additionalGids[{i}]", f"gid {gid} is not mapped in linux.gidMappings"))
    if not rootless:
        return
    # runc (rootlessEUIDMount): uid=/gid= mount options must name mapped ids.
    for i, mount in enumerate(_list(config.get("mounts"))):
        for j, option in enumerate(_list(_get(mount, "options"))):
            if not isinstance(option, str):
                continue
            key, _, value = option.partition("=")
            if key in ("uid", "gid") and value.isdigit():
                maps, what = (uid_maps, "uidMappings") if key == "uid" else (gid_maps, "gidMappings")
                if not _mapped(maps, int(value)):
                    problems.append((f"$.mounts[{i}].options[{j}]",
                                     f"{option} is not mapped in linux.{what} (rootless)"))


RULES = (_check_version, _check_root, _check_process, _check_hooks, _check_mounts, _check_namespaces,
         _check_id_mapping_use, _check_linux_paths, _check_seccomp)


def config_problems(config, *, bundle: str | None = None, rootless: bool = False,
                    require_process: bool = True) -> list[tuple[str, str]]:
    """Every problem in config as (json_path, message), in document order per pass."""
    problems: list[tuple[str, str]] = []
    CONFIG(config, "$", problems)
    if not isinstance(config, dict):
        return problems
    shape_paths = {path for path, _ in problems}
    meaning: list[tuple[str, str]] = []
    for rule in RULES:
        rule(config, meaning, bundle=bundle, rootless=rootless, require_process=require_process)
    # A wrong type was already reported at that path; do not report it twice.
    problems.extend(p for p in meaning if p[0] not in shape_paths)
    return problems


def validate_config(config: dict, *, bundle: str | None = None, rootless: bool = False,
                    require_process: bool = True) -> None:
    """Raise one SpecError listing every problem (with its JSON path); return None if valid.

    bundle: when given, root.path is resolved against it and must be an existing directory.
    rootless: a user namespace with uid/gid mappings is required.
    require_process: process (with non-empty args) is required to create a container; the spec
    allows configs without it (e.g. the spec's minimal.json), pass False to check those.
    """
    problems = config_problems(config, bundle=bundle, rootless=rootless, require_process=require_process)
    if problems:
        source = os.path.join(bundle, "config.json") if bundle is not None else "config.json"
        raise SpecError(problems, source)
