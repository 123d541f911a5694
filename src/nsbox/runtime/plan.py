"""InitPlan: everything the child needs, resolved by the parent. Frozen, JSON-able, no OCI parsing left."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class InitPlan:
    container_id: str
    bundle: str
    root: str                         # absolute rootfs path on the host
    root_readonly: bool
    ns_create: int                    # CLONE_NEW* flags to unshare, without CLONE_NEWUSER
    userns_create: bool
    ns_join: tuple = ()               # ((type name, path), ...) in join order, user first
    idmap: dict | None = None         # ns.idmap.IdMap.to_json() when a user namespace is created
    hostname: str | None = None
    domainname: str | None = None
    rootfs_ops: tuple = ()            # rootfs.plan ops
    rootfs_propagation: int = 0
    no_pivot: bool = False
    masked_paths: tuple = ()
    readonly_paths: tuple = ()
    sysctl: dict = field(default_factory=dict)
    time_offsets: dict = field(default_factory=dict)
    personality: int | None = None
    args: tuple = ()
    env: tuple = ()
    cwd: str = "/"
    terminal: bool = False
    console_size: tuple | None = None  # (rows, cols)
    security: dict | None = None      # security.plan_security() output, or the runtime's fallback plan
    hooks_create_container: tuple = ()
    hooks_start_container: tuple = ()
    preserve_fds: int = 0
    new_keyring: bool = True
    root_source: str | None = None    # bound onto ``root`` first (a host "/" cannot be pivoted into)
    exec_mode: bool = False           # `exec` into a running container: no rootfs set-up

    def to_json(self) -> dict:
        return asdict(self)
