"""cgroup v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program, hand-assembled like runc's
libcontainer/cgroups/devices/devicefilter.go, loaded with bpf(2) and attached to the cgroup.

The program sees struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major;
u32 minor; } in r1 and returns 1 (allow) or 0 (deny, the open/mknod fails with EPERM).
The rules are first reduced to the state the v1 devices controller would reach (default allow/deny
plus exceptions with merged access, ``devices.effective``), so a spec means the same on v1 and v2.
(runc's v2 filter matches raw rules last-to-first instead; it differs in corner cases such as
allow "c 1:3 rwm" then deny "c 1:3 w", where runc v2 still allows O_RDWR and the kernel's v1 does not.)
"""

from __future__ import annotations

import os
import struct

from ..errors import CgroupError, describe_oserror
from .devices import effective

# struct bpf_insn: u8 code; u8 dst:4, src:4; s16 off; s32 imm
LDX_W = 0x61            # BPF_LDX | BPF_MEM | BPF_W
ALU32_AND_K = 0x54
ALU32_RSH_K = 0x74
ALU32_MOV_X = 0xBC
ALU64_MOV_K = 0xB7
JMP32_JNE_K = 0x56      # BPF_JMP32 | BPF_JNE | BPF_K
JMP32_JNE_X = 0x5E
JMP32_JEQ_K = 0x16
EXIT = 0x95

DEV_BLOCK, DEV_CHAR = 1, 2
ACC = {"m": 1, "r": 2, "w": 4}


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def compile_rules(rules: list[dict]) -> bytes:
    """Packed bpf_insn array for ``rules`` (OCI device rules, in spec order), with the kernel's v1
    devices semantics (see ``devices.effective``): the same rules give the same access on v1 and v2."""
    default_allow, exceptions = effective(rules)
    prog = [
        insn(LDX_W, 2, 1, 0),              # r2 = ctx->access_type
        insn(ALU32_AND_K, 2, imm=0xFFFF),  # r2 = device type
        insn(LDX_W, 3, 1, 0),
        insn(ALU32_RSH_K, 3, imm=16),      # r3 = requested access
        insn(LDX_W, 4, 1, 4),              # r4 = major
        insn(LDX_W, 5, 1, 8),              # r5 = minor
    ]
    verdict = 0 if default_allow else 1    # what a matching exception decides
    for ex in exceptions:
        access = 0
        for ch in ex["access"]:
            access |= ACC[ch]
        checks: list[tuple] = []           # (instructions before the jump, (code, dst, src, imm))
        checks.append(([], (JMP32_JNE_K, 2, 0, DEV_BLOCK if ex["type"] == "b" else DEV_CHAR)))
        if ex["major"] is not None:
            checks.append(([], (JMP32_JNE_K, 4, 0, ex["major"])))
        if ex["minor"] is not None:
            checks.append(([], (JMP32_JNE_K, 5, 0, ex["minor"])))
        if default_allow:                  # deny exception: any overlap with the request matches
            checks.append(([insn(ALU32_MOV_X, 1, 3), insn(ALU32_AND_K, 1, imm=access)], (JMP32_JEQ_K, 1, 0, 0)))
        else:                              # allow exception: must cover the whole request
            checks.append(([insn(ALU32_MOV_X, 1, 3), insn(ALU32_AND_K, 1, imm=access)], (JMP32_JNE_X, 1, 3, 0)))
        block_len = sum(len(pre) + 1 for pre, _ in checks) + 2
        pos = 0
        for pre, (code, dst, src, imm) in checks:
            prog.extend(pre)
            pos += len(pre) + 1
            prog.append(insn(code, dst, src, off=block_len - pos, imm=imm))
        prog.append(insn(ALU64_MOV_K, 0, imm=verdict))
        prog.append(insn(EXIT))
    prog.append(insn(ALU64_MOV_K, 0, imm=1 if default_allow else 0))
    prog.append(insn(EXIT))
    return b"".join(prog)


def attach_device_filter(path: str, rules: list[dict]) -> None:
    """Load the program for ``rules`` and attach it to the cgroup2 directory ``path``."""
    from ..linux import bpf
    code = compile_rules(rules)
    try:
        prog_fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, code, "Apache",
                                bpf.BPF_CGROUP_DEVICE, "nsbox_devices")
    except OSError as exc:
        raise CgroupError(f"cannot load the device filter for {path}: {describe_oserror(exc)}") from exc
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            bpf.prog_attach(dir_fd, prog_fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI, path)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise CgroupError(f"cannot attach the device filter to {path}: {describe_oserror(exc)}") from exc
    finally:
        os.close(prog_fd)
