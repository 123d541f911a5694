"""`nsbox run` as a library call: an OCI config with sensible defaults, run in the foreground.

    from nsbox.engine.box import BoxOptions, run_box
    code = run_box(BoxOptions(args=["/bin/sh", "-c", "hostname"], hostname="demo"))

Default root filesystem: the host's, read-only, with private /proc, /dev, /sys, /tmp and /run; every
namespace (a user namespace mapping the caller to root when not run as root). ``rootfs`` may also be a
directory, a rootfs tarball or an OCI image (see ``engine.rootfs_source``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field

from ..errors import UsageError
from ..paths import runtime_state_root


@dataclass
class BoxOptions:
    args: list[str]
    rootfs: str | None = None          # a directory, tarball or OCI image; None = the host's filesystem
    hostname: str = "nsbox"
    tty: bool = False
    env: list[str] = field(default_factory=list)
    workdir: str | None = None         # None: the image's WorkingDir, else /
    user: str | None = None            # USER[:GROUP], names or numbers; None: the image's User, else root
    name: str | None = None
    network: str | None = None         # None = "none"; "default" = bridge "nsbox" as root, pasta rootless
    ports: list[str] = field(default_factory=list)
    memory: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    auto_remove: bool = False          # detached (-d --rm): remove the record when the container exits

    def resources(self) -> dict:
        from .resources import resources_from_flags
        return resources_from_flags(self.memory, self.memory_swap, self.cpus, self.cpu_shares, self.pids_limit)


def box_config(opts: BoxOptions, rootfs_dir: str, rootless: bool) -> dict:
    from ..oci.defaults import default_spec
    spec = default_spec(rootless=rootless, args=list(opts.args))
    process = spec["process"]
    process["terminal"] = opts.tty
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "TERM": os.environ.get("TERM", "xterm"), "HOME": "/root"}
    if opts.user:
        from .rootfs_source import resolve_user
        uid, gid, extra = resolve_user(opts.user, rootfs_dir)
        process["user"] = {**process.get("user", {}), "uid": uid, "gid": gid, "additionalGids": extra}
        del env["HOME"]   # the runtime sets the user's home from the container's /etc/passwd, as runc
        if uid != 0:   # as docker and podman: a non-root user starts without effective capabilities
            caps = process["capabilities"]
            caps["effective"], caps["permitted"], caps["ambient"] = [], [], []
    for item in opts.env:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"bad -e value {item!r}: expected KEY=VALUE")
        env[key] = value if sep else os.environ.get(key, "")
    process["env"] = [f"{k}={v}" for k, v in env.items()]
    process["cwd"] = opts.workdir or "/"
    process.pop("rlimits", None)
    if opts.tty:
        try:
            size = os.get_terminal_size(0)
            process["consoleSize"] = {"height": size.lines, "width": size.columns}
        except OSError:
            pass
    spec["hostname"] = opts.hostname
    spec["root"] = {"path": rootfs_dir, "readonly": True}
    linux = spec["linux"]
    names = [n["type"] for n in linux["namespaces"]]
    for ns in ("pid", "network", "ipc", "uts", "mount", "cgroup"):
        if ns not in names:
            names.append(ns)
    if rootless:
        from ..ns.idmap import rootless_default
        idmap = rootless_default()
        linux["uidMappings"] = [m.to_oci() for m in idmap.uids]
        linux["gidMappings"] = [m.to_oci() for m in idmap.gids]
    linux["namespaces"] = [{"type": n} for n in names]
    linux.pop("resources", None)
    # What docker/podman users expect: the default seccomp allowlist, sized to the granted capabilities
    # (compiled once, then served from nsbox.security's cache).
    from ..security.seccomp_default import default_profile
    linux["seccomp"] = default_profile(process["capabilities"]["bounding"])
    mounts = [m for m in spec["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    # a network namespace of our own: sysfs can be mounted even rootless
    mounts.append({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]})
    for dest in ("/tmp", "/run"):
        mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "mode=1777" if dest == "/tmp" else "mode=755"]})
    spec["mounts"] = mounts
    return spec


def prepare_rootfs(opts: BoxOptions) -> tuple[str, BoxOptions]:
    """The rootfs directory, and the options with an image's defaults (command, env, workdir, user)."""
    from .rootfs_source import check_user, prepare
    if opts.user:
        check_user(opts.user)
    rootfs_dir, opts = prepare(opts)
    if not opts.args:
        raise UsageError("a command is required: nsbox run [options] [--] CMD... "
                         "(or a --rootfs image with an Entrypoint or Cmd)")
    return rootfs_dir, opts


def run_box(opts: BoxOptions) -> int:
    """Run in the foreground; the command's exit status (128+N for a signal). Nothing is left behind."""
    from ..runtime.container import Runtime
    from ..runtime.foreground import run_container
    from . import network as netmod
    rootless = os.geteuid() != 0
    cid = opts.name or "box-" + uuid.uuid4().hex[:12]
    mode = netmod.parse_network(opts.network, rootless)
    netmod.check_network(mode, opts.ports)
    rootfs_dir, opts = prepare_rootfs(opts)
    config = box_config(opts, rootfs_dir, rootless)
    apply_resources(config, opts.resources(), cid, rootless)
    state_root = runtime_state_root()
    os.makedirs(state_root, mode=0o711, exist_ok=True)
    bundle = tempfile.mkdtemp(prefix=".box-", dir=state_root)
    holder = None
    forwarding = bool(opts.ports) and mode.forwards   # -p through the fd forward (see engine.network)
    forward = []
    try:
        joined = netmod.joined_netns(mode) if mode.kind == "container" else None
        files_dir = os.path.join(bundle, "etc")
        netmod.initial_files(files_dir, opts.hostname, mode)
        netmod.configure_spec(config, mode, files_dir, joined)
        if rootless and mode.attaches:
            from ..linux.prctl import set_child_subreaper
            set_child_subreaper(True)   # pasta daemonises: it becomes our child, reaped when detached
            holder = netmod.RootlessNamespaces.start()   # pasta configures it before the container exists
            holder.configure_spec(config)
        elif rootless and forwarding:
            holder = netmod.RootlessNamespaces.start(follow=True)   # it exits with the container's init
            holder.configure_spec(config)
            forward.append(netmod.publish(mode, holder.pid, opts.ports))
        write_config(bundle, config)

        attached = []

        def attach(pid: int) -> None:
            netmod.connect(mode, cid, holder.pid if holder else pid, opts.hostname, opts.ports, files_dir)
            attached.append(cid)

        def created(pid: int) -> None:
            if holder is None:
                forward.append(netmod.publish(mode, pid, opts.ports))   # root: the init is openable
            else:
                holder.follow(pid)

        if mode.attaches:
            on_created = None if holder else attach
        else:
            on_created = created if forwarding else None
        try:
            if holder and mode.attaches:
                attach(0)
            # Rootless, the runtime's cgroup warnings (hierarchies not writable: running without them) say
            # nothing the user needs: no limit was asked for, or apply_resources already said it is ignored.
            quiet = (lambda _msg: None) if rootless else None
            runtime = Runtime(state_root, rootless=rootless, cgroup_warn=quiet)
            return run_container(runtime, cid, bundle, on_created=on_created)
        finally:
            if attached:   # only ours: a failed attach may have met another container's record
                netmod.disconnect(cid)
    finally:
        for info in forward:
            netmod.unpublish(info)
        if holder:
            holder.stop()
        shutil.rmtree(bundle, ignore_errors=True)


def write_config(bundle: str, config: dict) -> None:
    import json
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)


def apply_resources(config: dict, resources: dict, container_id: str, rootless: bool) -> None:
    """Put the limits in linux.resources. Rootless without a writable cgroup: warn and run without
    them (as runc and podman do on cgroup v1)."""
    if not resources:
        return
    if rootless and not cgroups_writable(config["linux"], container_id):
        import sys
        sys.stderr.write("nsbox run: warning: cgroups are not writable by this user: resource limits "
                         "(--memory, --cpus, --cpu-shares, --pids-limit) are ignored\n")
        return
    config["linux"]["resources"] = resources
    # the limits visible from inside, read-only, as docker (cgroup namespace: the container's own at /)
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})


def cgroups_writable(linux: dict, container_id: str) -> bool:
    """Can this user make the container's cgroups (their parent directories are writable)?"""
    try:
        from ..cgroups.manager import for_container
        manager = for_container({**linux, "resources": {}}, container_id, rootless=True)
        paths = list(manager.paths().values())
    except Exception:  # noqa: BLE001 - no usable cgroup at all
        return False
    return bool(paths) and all(os.access(_existing_parent(p), os.W_OK) for p in paths)


def _existing_parent(path: str) -> str:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return path or "/"
