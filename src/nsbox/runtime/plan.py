"""InitPlan: everything the child needs, resolved by the parent. Frozen, JSON-able, no OCI parsing left.

(A plain class rather than a dataclass: importing dataclasses costs ~10 ms of start-up.)
"""

from __future__ import annotations

# field -> default; the comment says what it holds
FIELDS = {
    "container_id": None,
    "bundle": None,
    "root": None,                 # absolute rootfs path on the host (a staging dir for a host "/")
    "root_readonly": False,
    "ns_create": 0,               # CLONE_NEW* flags to unshare, without CLONE_NEWUSER
    "userns_create": False,
    "ns_join": (),                # ((type name, path), ...) in join order, user first
    "idmap": None,                # ns.idmap.IdMap.to_json() when a user namespace is created
    "hostname": None,
    "domainname": None,
    "rootfs_ops": (),             # rootfs.plan ops
    "rootfs_propagation": 0,
    "no_pivot": False,
    "masked_paths": (),
    "readonly_paths": (),
    "sysctl": {},
    "time_offsets": {},
    "personality": None,
    "args": (),
    "env": (),
    "cwd": "/",
    "terminal": False,
    "console_size": None,         # (rows, cols)
    "security": None,             # {"engine": "security"|"fallback", "plan": ...}
    "hooks_create_container": (),
    "hooks_start_container": (),
    "runtime_hooks": True,        # stage 2 stops before the pivot for the launcher (prestart/createRuntime
                                  # hooks, and the state document the container's own hooks receive)
    "preserve_fds": 0,
    "new_keyring": True,
    "root_source": None,          # bound onto ``root`` first (a host "/" cannot be pivoted into)
    "exec_mode": False,           # `exec` into a running container: no rootfs set-up
    "seal_runtime": False,        # run stage 1/2 from a read-only bind of the interpreter (CVE-2019-5736
                                  # with CAP_SYS_PTRACE: the container can reach /proc/PID/exe)
}


class InitPlan:
    __slots__ = tuple(FIELDS)

    def __init__(self, **values):
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise TypeError(f"InitPlan has no field(s) {sorted(unknown)}")
        for name, default in FIELDS.items():
            value = values.get(name, default)
            if isinstance(value, dict):
                value = dict(value)
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("InitPlan is frozen")

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_json(cls, data: dict) -> "InitPlan":
        return cls(**data)

    def __repr__(self) -> str:
        return f"InitPlan({self.container_id!r}, root={self.root!r}, args={list(self.args)!r})"
