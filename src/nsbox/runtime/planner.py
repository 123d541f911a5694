"""config.json -> InitPlan. Everything is resolved here, in the parent; the child only executes data."""

from __future__ import annotations

import os

from ..errors import SpecError
from ..linux import consts as c
from ..rootfs.plan import plan_rootfs_ops, rootfs_propagation
from .plan import InitPlan

# join order: user first (it grants the rights to join the rest), mnt last (paths stay reachable)
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")
# ns.types.NamespaceType's clone flags, without its enum (enum costs ~4 ms of every start)
CLONE_FLAGS = {"user": c.CLONE_NEWUSER, "cgroup": c.CLONE_NEWCGROUP, "ipc": c.CLONE_NEWIPC, "uts": c.CLONE_NEWUTS,
               "net": c.CLONE_NEWNET, "pid": c.CLONE_NEWPID, "time": c.CLONE_NEWTIME, "mnt": c.CLONE_NEWNS}
OCI_NS_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
                "user": "user", "cgroup": "cgroup", "time": "time"}


def load_config(bundle: str) -> dict:
    from ..oci.config import load_config as oci_load
    return oci_load(bundle)


def validate(config: dict, bundle: str, rootless: bool) -> None:
    """The oci package's full validation when it is there; the runtime's own essentials always."""
    try:
        from ..oci.validate import validate_config  # type: ignore
    except ImportError:
        validate_config = None
    if validate_config is not None:
        validate_config(config, bundle=bundle, rootless=rootless)
    problems = []
    process = config.get("process")
    if not isinstance(process, dict):
        problems.append(("process", "is required for create"))
    else:
        args = process.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            problems.append(("process.args", "must be a non-empty list of strings"))
        cwd = process.get("cwd", "/")
        if not isinstance(cwd, str) or not cwd.startswith("/"):
            problems.append(("process.cwd", "must be an absolute path"))
    root = config.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str):
        problems.append(("root.path", "is required"))
    if problems:
        raise SpecError(problems)
    rootfs = rootfs_of(config, bundle)
    if not os.path.isdir(rootfs):
        raise SpecError([("root.path", f"rootfs {rootfs} does not exist or is not a directory")])


def rootfs_of(config: dict, bundle: str) -> str:
    path = config["root"]["path"]
    return os.path.realpath(path if os.path.isabs(path) else os.path.join(bundle, path))


def plan_namespaces(linux: dict) -> tuple[int, bool, tuple]:
    create, userns, join = 0, False, []
    seen = set()
    for i, ns in enumerate(linux.get("namespaces") or []):
        name = OCI_NS_NAMES.get(ns.get("type"))
        if name is None:
            raise SpecError([(f"linux.namespaces[{i}].type", f"unknown namespace type {ns.get('type')!r}")])
        if name in seen:
            raise SpecError([(f"linux.namespaces[{i}].type", f"namespace {ns.get('type')} listed twice")])
        seen.add(name)
        if ns.get("path"):
            join.append((name, ns["path"]))
        elif name == "user":
            userns = True
        else:
            create |= CLONE_FLAGS[name]
    join.sort(key=lambda item: JOIN_ORDER.index(item[0]))
    return create, userns, tuple(join)


def plan_idmap(linux: dict, userns: bool, rootless: bool) -> dict | None:
    if not userns:
        return None
    from ..ns.idmap import IdMap, IdMapping
    uids = tuple(IdMapping.from_oci(m) for m in linux.get("uidMappings") or [])
    gids = tuple(IdMapping.from_oci(m) for m in linux.get("gidMappings") or [])
    if not uids or not gids:
        raise SpecError([("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")])
    single_own = (len(gids) == 1 and gids[0].count == 1 and gids[0].outside == os.getegid())
    setgroups = "deny" if rootless and single_own else None
    return IdMap(uids, gids, setgroups).to_json()


def host_root_ids(linux: dict, userns: bool) -> tuple[int, int]:
    """The host uid/gid that container root maps to (owner of exec.fifo)."""
    if not userns:
        return 0, 0
    def lookup(maps):
        for m in maps or []:
            if m["containerID"] <= 0 < m["containerID"] + m["size"]:
                return m["hostID"] - m["containerID"]
        return os.geteuid()
    return lookup(linux.get("uidMappings")), lookup(linux.get("gidMappings"))


def plan_security(config: dict, rootless: bool, container_id: str | None = None, new_keyring: bool = True) -> dict:
    try:
        from ..security import plan_security as security_plan  # type: ignore
    except ImportError:
        security_plan = None
    if security_plan is not None:
        return {"engine": "security", "plan": security_plan(config, rootless=rootless, container_id=container_id,
                                                            new_keyring=new_keyring)}
    from .fallback_security import plan_fallback
    plan = plan_fallback(config)
    plan["new_keyring"] = new_keyring
    plan["keyring_name"] = f"_ses.{container_id}" if container_id else None
    return {"engine": "fallback", "plan": plan}


def make_plan(config: dict, bundle: str, container_id: str, *, rootless: bool, no_pivot: bool = False,
              no_new_keyring: bool = False, preserve_fds: int = 0) -> InitPlan:
    linux = config.get("linux") or {}
    process = config["process"]
    create, userns, join = plan_namespaces(linux)
    if not (create & c.CLONE_NEWNS) and not any(n == "mnt" for n, _ in join):
        raise SpecError([("linux.namespaces", "a mount namespace is required")])
    size = process.get("consoleSize") or {}
    root, root_source = rootfs_of(config, bundle), None
    if root == "/":
        root_source, root = "/", os.path.join(bundle, ".host-root")
        os.makedirs(root, exist_ok=True)
    hooks = config.get("hooks") or {}
    return InitPlan(
        container_id=container_id, bundle=bundle, root=root, root_source=root_source,
        root_readonly=bool(config["root"].get("readonly")), ns_create=create, userns_create=userns,
        ns_join=join, idmap=plan_idmap(linux, userns, rootless),
        hostname=config.get("hostname"), domainname=config.get("domainname"),
        rootfs_ops=tuple(plan_rootfs_ops(config, bundle)), rootfs_propagation=rootfs_propagation(config),
        no_pivot=no_pivot, masked_paths=tuple(linux.get("maskedPaths") or ()),
        readonly_paths=tuple(linux.get("readonlyPaths") or ()), sysctl=dict(linux.get("sysctl") or {}),
        time_offsets=dict(linux.get("timeOffsets") or {}), personality=plan_personality(linux),
        args=tuple(process["args"]), env=tuple(process.get("env") or ()), cwd=process.get("cwd") or "/",
        terminal=bool(process.get("terminal")),
        console_size=(int(size.get("height", 0)), int(size.get("width", 0))) if size else None,
        security=plan_security(config, rootless, container_id, not no_new_keyring),
        hooks_create_container=tuple(hooks.get("createContainer") or ()),
        hooks_start_container=tuple(hooks.get("startContainer") or ()),
        runtime_hooks=any(hooks.get(kind) for kind in ("prestart", "createRuntime", "createContainer",
                                                       "startContainer")),
        preserve_fds=preserve_fds, new_keyring=not no_new_keyring, seal_runtime=needs_sealed_runtime(config),
    )


def needs_sealed_runtime(config: dict) -> bool:
    """With CAP_SYS_PTRACE a container process can open /proc/PID/exe of the (non-dumpable) runtime
    while it joins; then the runtime must run from a read-only bind of its interpreter."""
    caps = ((config.get("process") or {}).get("capabilities") or {}).get("bounding") or []
    return "CAP_SYS_PTRACE" in caps and os.geteuid() == 0


PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}


def plan_personality(linux: dict) -> int | None:
    pers = linux.get("personality")
    if not pers:
        return None
    domain = pers.get("domain")
    if domain not in PERSONALITY:
        raise SpecError([("linux.personality.domain", f"unknown domain {domain!r} (LINUX or LINUX32)")])
    return PERSONALITY[domain]
