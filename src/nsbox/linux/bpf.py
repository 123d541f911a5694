"""bpf(2): load a program and attach it to a cgroup. No policy: callers bring the instructions.

Only what the cgroup v2 device controller needs: BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from ..errors import syscall_error
from ._libc import libc, retry

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6            # enum bpf_attach_type
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1

_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
_syscall = libc.syscall
_syscall.restype = ctypes.c_long

ATTR_SIZE = 128                  # zero-padded union bpf_attr prefix; the kernel accepts a short attr


def bpf(cmd: int, attr: bytes, what: str, path: str | None = None) -> int:
    if _NR_BPF is None:
        raise syscall_error(errno.ENOSYS, "bpf", path)
    buf = ctypes.create_string_buffer(attr.ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    return retry(lambda: _syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(cmd), buf, ctypes.c_uint(ATTR_SIZE)),
                 what, path)


def prog_load(prog_type: int, insns: bytes, license: str = "Apache", expected_attach_type: int = 0,
              name: str = "", log_size: int = 65536) -> int:
    """Load a program (insns: packed struct bpf_insn). Returns its fd. On a verifier rejection the
    OSError's strerror carries the verifier log."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(log_size)
    head = struct.pack("<IIQQIIQII16sII", prog_type, len(insns) // 8, ctypes.addressof(code),
                       ctypes.addressof(lic), 1, log_size, ctypes.addressof(log), 0, 0,
                       name.encode()[:15], 0, expected_attach_type)
    try:
        return bpf(BPF_PROG_LOAD, head, "bpf(BPF_PROG_LOAD)")
    except OSError as exc:
        text = log.value.decode(errors="replace").strip()
        if text:
            exc.strerror = f"{exc.strerror}: verifier: {text[-400:]}"
        raise


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, path: str | None = None) -> None:
    bpf(BPF_PROG_ATTACH, struct.pack("<IIII", target_fd, prog_fd, attach_type, flags), "bpf(BPF_PROG_ATTACH)", path)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int, path: str | None = None) -> None:
    bpf(BPF_PROG_DETACH, struct.pack("<IIII", target_fd, prog_fd, attach_type, 0), "bpf(BPF_PROG_DETACH)", path)
