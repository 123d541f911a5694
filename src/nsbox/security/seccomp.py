"""Compile an OCI ``linux.seccomp`` object to classic-BPF bytes with libseccomp (ctypes), in the parent.

The child only installs bytes (``nsbox.linux.seccomp.set_mode_filter``); it never loads libseccomp.
Behaviour follows runc 1.1:
  - syscall names libseccomp does not know are skipped with a warning (a profile outlives a kernel);
  - unknown actions, architectures, operators and flags are errors, each with its JSON path;
  - SCMP_ACT_ERRNO/SCMP_ACT_TRACE without errnoRet mean EPERM; SCMP_ACT_KILL is KILL_THREAD;
  - a rule whose action equals the default action is skipped (libseccomp rejects it);
  - args: one rule with all conditions, unless two conditions name the same argument, then one rule each;
  - syscalls newer than every syscall the profile names (native arch) get ENOSYS, not the default
    action, so libc falls back (runc's "patchbpf" stub), unless the default action is SCMP_ACT_ALLOW.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ..errors import SpecError, Unsupported
from ..linux.seccomp import FILTER_FLAGS, SECCOMP_FILTER_FLAG_NEW_LISTENER

LIBRARY = "libseccomp.so.2"

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
_ERRNO_BASE = 0x00050000
_TRACE_BASE = 0x7FF00000
SECCOMP_RET_ERRNO = 0x00050000

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")

OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
             "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

ARCHES = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32", "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_LOONGARCH64": "loongarch64", "SCMP_ARCH_M68K": "m68k",
    "SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64", "SCMP_ARCH_SH": "sh",
    "SCMP_ARCH_SHEB": "sheb",
}

# The flags the OCI spec names (the installer passes them to seccomp(2)).
OCI_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
             "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")

# audit arch of the machine nsbox runs on, for the ENOSYS stub (linux/audit.h).
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(os.uname().machine)  # = platform.machine()
_X32_SYSCALL_BIT = 0x40000000
_MAX_NATIVE_SYSCALL = 1024
BPF_MAXINSNS = 4096

SCMP_FLTATR_CTL_NNP = 3


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


_lib = None


def libseccomp():
    """The loaded libseccomp, or Unsupported saying how to get it."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as exc:
        raise Unsupported("seccomp", f"{LIBRARY} cannot be loaded ({exc}); install libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    _lib = lib
    return lib


class CompiledSeccomp:
    """bpf, flags (SECCOMP_FILTER_FLAG_* for seccomp(2), NEW_LISTENER included if needed), uses_notify,
    warnings, instructions. (The dataclass it was, written out: dataclasses imports inspect and ast,
    ~9 ms of every start that has a seccomp profile.)"""

    __slots__ = ("bpf", "flags", "uses_notify", "warnings", "instructions")
    _FIELDS = __slots__

    def __init__(self, bpf: bytes, flags: int, uses_notify: bool, warnings: list[str] | None = None,
                 instructions: int = 0):
        self.bpf, self.flags, self.uses_notify = bpf, flags, uses_notify
        self.warnings = [] if warnings is None else warnings
        self.instructions = instructions

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._FIELDS)

    __hash__ = None  # as a (non-frozen) dataclass with eq

    def __repr__(self):
        return "CompiledSeccomp(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS) + ")"


def _action_value(name: str, errno_ret) -> int:
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SCMP_ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return SCMP_ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return SCMP_ACT_TRAP
    if name == "SCMP_ACT_ERRNO":
        return _ERRNO_BASE | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return _TRACE_BASE | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_LOG":
        return SCMP_ACT_LOG
    if name == "SCMP_ACT_NOTIFY":
        return SCMP_ACT_NOTIFY
    return SCMP_ACT_ALLOW


def _check_action(obj: dict, key: str, path: str, problems) -> str | None:
    name = obj.get(key)
    if name not in ACTIONS:
        problems.append((f"{path}.{key}", f"unknown seccomp action {name!r}"))
        return None
    return name


def _check_errno(obj: dict, key: str, path: str, problems):
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        problems.append((f"{path}.{key}", f"must be an errno number (0..65535), not {value!r}"))
        return None
    return value


def _u64(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64


CACHE_FORMAT = 1


def default_cache_dir() -> str | None:
    """<cache_root>/seccomp (root: /var/lib/nsbox/seccomp), or None when NSBOX_SECCOMP_CACHE=0."""
    if os.environ.get("NSBOX_SECCOMP_CACHE", "1") == "0":
        return None
    from ..paths import cache_root
    return os.path.join(cache_root(), "seccomp")


def _sha256():
    """hashlib's sha256 without loading OpenSSL (~2 ms): the builtin module, _sha2 from Python 3.12,
    _sha256 before; hashlib where neither is built in."""
    try:
        from _sha2 import sha256
    except ImportError:
        try:
            from _sha256 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256


def _cache_key(profile: dict, json_path: str) -> str:
    sha256 = _sha256()
    from .. import jsoncodec as json
    ver = libseccomp().seccomp_version().contents
    ident = json.dumps([CACHE_FORMAT, profile, json_path, os.uname().machine, os.uname().release,
                        (ver.major, ver.minor, ver.micro)], sort_keys=True, separators=(",", ":"))
    return sha256(ident.encode()).hexdigest()


def _cache_load(path: str) -> CompiledSeccomp | None:
    """A cached filter, trusted only if this user owns it and nobody else can write it."""
    import binascii
    from .. import jsoncodec as json
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        data = json.loads(os.read(fd, 1 << 20))
        return CompiledSeccomp(binascii.a2b_base64(data["bpf"]), data["flags"], data["uses_notify"],
                               list(data["warnings"]), data["instructions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)


def _cache_store(cache_dir: str, path: str, compiled: CompiledSeccomp) -> None:
    import base64
    import json
    import tempfile
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump({"bpf": base64.b64encode(compiled.bpf).decode(), "flags": compiled.flags,
                       "uses_notify": compiled.uses_notify, "warnings": compiled.warnings,
                       "instructions": compiled.instructions}, f)
        os.rename(tmp, path)
    except OSError:
        pass  # a cache that cannot be written is only slower


def compile_seccomp(profile: dict, json_path: str = "$.linux.seccomp", *,
                    cache_dir: str | None = None) -> CompiledSeccomp:
    """BPF bytes for an OCI seccomp object. SpecError lists every problem; Unsupported without libseccomp.

    With ``cache_dir``, a profile compiled before (same content, libseccomp, kernel, machine) is read
    back instead of compiled again (~0.3 ms instead of ~11 ms for the default profile).
    """
    if cache_dir is None or not isinstance(profile, dict):
        return _compile(profile, json_path)
    try:
        path = os.path.join(cache_dir, _cache_key(profile, json_path) + ".json")
    except (TypeError, ValueError):  # not JSON-able: let _compile report it
        return _compile(profile, json_path)
    cached = _cache_load(path)
    if cached is not None:
        return cached
    compiled = _compile(profile, json_path)
    _cache_store(cache_dir, path, compiled)
    return compiled


def _compile(profile: dict, json_path: str) -> CompiledSeccomp:
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    if not isinstance(profile, dict):
        raise SpecError([(json_path, "must be an object")])
    default_name = _check_action(profile, "defaultAction", json_path, problems)
    default_errno = _check_errno(profile, "defaultErrnoRet", json_path, problems)

    flags = 0
    for i, name in enumerate(profile.get("flags") or []):
        if name not in OCI_FLAGS:
            problems.append((f"{json_path}.flags[{i}]", f"unknown seccomp flag {name!r}"))
        else:
            flags |= FILTER_FLAGS[name]

    lib = libseccomp()
    arch_tokens = []
    for i, name in enumerate(profile.get("architectures") or []):
        lib_name = ARCHES.get(name) if isinstance(name, str) else None
        token = lib.seccomp_arch_resolve_name(lib_name.encode()) if lib_name else 0
        if not lib_name:
            problems.append((f"{json_path}.architectures[{i}]", f"unknown seccomp architecture {name!r}"))
        elif not token:
            problems.append((f"{json_path}.architectures[{i}]",
                             f"architecture {name} is not supported by this libseccomp"))
        else:
            arch_tokens.append(token)

    rules = []  # (action value, syscall nr, [conditions...]) ; conditions = (arg, op, a, b)
    uses_notify = default_name == "SCMP_ACT_NOTIFY"
    max_native = -1
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        problems.append((f"{json_path}.syscalls", "must be a list"))
        syscalls = []
    default_value = _action_value(default_name, default_errno) if default_name else None
    for i, entry in enumerate(syscalls):
        path = f"{json_path}.syscalls[{i}]"
        if not isinstance(entry, dict):
            problems.append((path, "must be an object with names and action"))
            continue
        names = entry.get("names")
        if names is None and isinstance(entry.get("name"), str):  # pre-1.0 spelling, runc accepts it
            names = [entry["name"]]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            problems.append((f"{path}.names", "must be a non-empty list of syscall names"))
            names = []
        action_name = _check_action(entry, "action", path, problems)
        errno_ret = _check_errno(entry, "errnoRet", path, problems)
        conditions = []
        for j, arg in enumerate(entry.get("args") or []):
            apath = f"{path}.args[{j}]"
            if not isinstance(arg, dict):
                problems.append((apath, "must be an object with index, value, op"))
                continue
            op = arg.get("op")
            if op not in OPERATORS:
                problems.append((f"{apath}.op", f"unknown seccomp operator {op!r}"))
            index = arg.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
                problems.append((f"{apath}.index", f"must be a syscall argument index 0..5, not {index!r}"))
            value, value2 = arg.get("value"), arg.get("valueTwo", 0)
            for key, v in (("value", value), ("valueTwo", value2)):
                if not _u64(v):
                    problems.append((f"{apath}.{key}", f"must be an unsigned 64-bit integer, not {v!r}"))
            if op in OPERATORS and isinstance(index, int) and _u64(value) and _u64(value2):
                conditions.append((index, OPERATORS[op], value, value2))
        if action_name is None:
            continue
        if action_name == "SCMP_ACT_NOTIFY":
            uses_notify = True
        value = _action_value(action_name, errno_ret)
        if value == default_value:
            continue
        for name in names:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr == -1:  # __NR_SCMP_ERROR
                warnings.append(f"{path}: ignoring syscall {name!r} unknown to libseccomp")
                continue
            max_native = max(max_native, nr)
            rules.append((value, nr, name, conditions, path))
    if problems:
        raise SpecError(problems)

    ctx = lib.seccomp_init(default_value)
    if not ctx:
        raise SpecError([(f"{json_path}.defaultAction",
                          f"libseccomp refuses default action {default_name} (unsupported by this kernel?)")])
    try:
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for token in arch_tokens:
            rc = lib.seccomp_arch_add(ctx, token)
            if rc not in (0, -errno.EEXIST):
                raise SpecError([(f"{json_path}.architectures", f"seccomp_arch_add: {os.strerror(-rc)}")])
        for value, nr, name, conditions, path in rules:
            _add_rule(lib, ctx, value, nr, name, conditions, path)
        bpf = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    if default_name != "SCMP_ACT_ALLOW" and not (default_name == "SCMP_ACT_ERRNO"
                                                  and default_errno == errno.ENOSYS):
        bpf = _enosys_stub(max_native) + bpf
    if len(bpf) // 8 > BPF_MAXINSNS:
        raise SpecError([(json_path, f"compiled filter has {len(bpf) // 8} instructions, "
                                     f"more than the kernel's {BPF_MAXINSNS}")])
    if uses_notify:
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER
        if flags & FILTER_FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]:  # the kernel refuses TSYNC+NEW_LISTENER alone
            flags |= FILTER_FLAGS["SECCOMP_FILTER_FLAG_TSYNC_ESRCH"]
    return CompiledSeccomp(bpf, flags, uses_notify, warnings, len(bpf) // 8)


def _add_rule(lib, ctx, value, nr, name, conditions, path):
    counts: dict[int, int] = {}
    for cond in conditions:
        counts[cond[0]] = counts.get(cond[0], 0) + 1
    groups = [[c] for c in conditions] if any(n > 1 for n in counts.values()) else [conditions]
    for group in groups:
        arr = (_ArgCmp * max(len(group), 1))(*[_ArgCmp(*c) for c in group])
        rc = lib.seccomp_rule_add_array(ctx, value, nr, len(group), arr)
        if rc < 0:
            raise SpecError([(path, f"seccomp_rule_add({name}): {os.strerror(-rc)}")])


def _export(lib, ctx) -> bytes:
    fd = os.memfd_create("nsbox-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise OSError(-rc, f"seccomp_export_bpf: {os.strerror(-rc)}")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _enosys_stub(max_nr: int) -> bytes:
    """Return ENOSYS for native syscalls above ``max_nr``; everything else falls through to the filter."""
    if _AUDIT_ARCH is None or max_nr < 0:
        return b""
    ld_abs_w, jeq_k, jset_k, jgt_k, ret_k = 0x20, 0x15, 0x45, 0x25, 0x06
    return b"".join((
        _insn(ld_abs_w, 0, 0, 4),                    # A = seccomp_data.arch
        _insn(jeq_k, 0, 4, _AUDIT_ARCH),             # not native -> filter
        _insn(ld_abs_w, 0, 0, 0),                    # A = seccomp_data.nr
        _insn(jset_k, 2, 0, _X32_SYSCALL_BIT),       # x32 -> filter
        _insn(jgt_k, 0, 1, max_nr),                  # nr > max -> ENOSYS
        _insn(ret_k, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
    ))


def syscall_number(name: str) -> int:
    """The native syscall number libseccomp knows for ``name`` (-1 if unknown)."""
    return libseccomp().seccomp_syscall_resolve_name(name.encode())
