"""The cgroup manager the runtime uses: one object per container, over v1, v2 or hybrid hosts.

    m = for_container(config.get("linux") or {}, "c1")   # validate + plan; nothing touched yet
    m.create()            # mkdir in every hierarchy + apply resources (undone on failure)
    m.add(pid)            # move the container's init there (cgroup.procs in each hierarchy)
    m.freeze(); m.thaw(); m.kill_all(signal.SIGKILL); m.destroy()
    state["cgroup"] = m.to_json();  CgroupManager.from_json(state["cgroup"])

cgroupsPath (cgroupfs driver, as runc 1.1):
  - absolute ("/a/b"): below each hierarchy's mount point (/sys/fs/cgroup/<ctrl>/a/b, <cgroup2 mount>/a/b);
  - relative ("a/b"), and the default (the container id): below the runtime's own cgroup — per
    controller on v1 (from /proc/self/cgroup), below the *parent* of our own cgroup on a pure v2 host
    (our own cgroup has processes, so it cannot enable controllers for children), and below our own
    cgroup in the hybrid's cgroup2 hierarchy;
  - ".." cannot climb out (cleaned as runc's CleanPath); a path naming the root itself is refused.
Hybrid hosts: controllers come from v1; the cgroup2 directory is made too (runc does) and takes
controllers only cgroup2 has here (hugetlb, rdma, misc) plus linux.resources.unified keys.
Rootless: hierarchies we may not write are skipped with a warning (``manager.warnings`` and the
``nsbox.cgroups`` logger), as runc does; limits that would need them are an error.
"""

from __future__ import annotations

import errno
import os
import _signal  # the C module: signal.py builds enums at import

from ..errors import CgroupError, SpecError
from . import convert, devices, fs
from .detect import CgroupLayout, detect, own_cgroups
from .v1 import V1Driver
from .v2 import V2Driver


# v1 hierarchies a container gets a directory in (runc's subsystem list).
V1_JOIN = ("cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb", "net_cls",
           "net_prio", "perf_event", "freezer", "rdma", "misc", "name=systemd")
# Controllers we enable best-effort on a pure v2 host so stats work (runc enables all available).
V2_STATS_CONTROLLERS = ("cpu", "memory", "pids", "io")
# Controllers a hybrid host can have on cgroup2 only; their limits go to the cgroup2 directory.
V2_ONLY_OK = ("hugetlb", "rdma", "misc")


def clean_path(path: str) -> str:
    """runc's CleanPath: a relative path cannot escape with '..'."""
    if not path:
        return ""
    path = os.path.normpath(path)
    if not path.startswith("/"):
        path = os.path.relpath(os.path.normpath("/" + path), "/")
    return os.path.normpath(path)


def _under(mountpoint: str, mount_root: str, cgroup: str) -> str:
    """The directory of hierarchy path ``cgroup`` given a mount of ``mount_root`` at ``mountpoint``."""
    if mount_root != "/" and (cgroup == mount_root or cgroup.startswith(mount_root + "/")):
        cgroup = cgroup[len(mount_root):] or "/"
    return os.path.normpath(os.path.join(mountpoint, cgroup.lstrip("/")))


def resolve_paths(layout: CgroupLayout, inner: str, own: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """({v1 controller: dir}, cgroup2 dir or None) for a cleaned cgroupsPath ``inner``."""
    absolute = inner.startswith("/")
    v1: dict[str, str] = {}
    for ctrl in V1_JOIN:
        m = layout.v1.get(ctrl)
        if m is None:
            continue
        if absolute:
            v1[ctrl] = os.path.normpath(m.mountpoint + inner)
        else:
            base = _under(m.mountpoint, m.root, own.get(ctrl, "/"))
            v1[ctrl] = os.path.normpath(os.path.join(base, inner))
    unified = None
    if layout.unified:
        if absolute:
            unified = os.path.normpath(layout.unified + inner)
        else:
            mine = own.get("", "/")
            if layout.mode == "v2":
                mine = os.path.dirname(mine.rstrip("/")) or "/"
            unified = os.path.normpath(os.path.join(_under(layout.unified, layout.unified_root, mine), inner))
    return v1, unified


def _in_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


class CgroupManager:
    """A container's cgroups. Build with ``for_container`` or ``from_json``."""

    def __init__(self, container_id: str, mode: str, v1_paths: dict[str, str], unified: str | None,
                 unified_mount: str | None, resources: dict | None = None, *, rootless: bool = False,
                 device_rules: list[dict] | None = None, created: list[str] | None = None,
                 warnings: list[str] | None = None):
        self.container_id = container_id
        self.mode = mode
        self.rootless = rootless
        self.resources = resources or {}
        self.device_rules = device_rules or []
        self.created: list[str] = list(created or [])
        self.warnings: list[str] = list(warnings or [])
        self.v1 = V1Driver(v1_paths) if v1_paths else None
        self.v2 = V2Driver(unified, unified_mount) if unified and unified_mount else None
        self._plan: tuple | None = None

    # ------------------------------------------------------------ planning (no side effects)
    def plan(self, resources: dict | None = None) -> tuple[list, list, list]:
        """(v1 writes, v2 writes, v1 device writes) for ``resources`` (default: the container's).
        Raises SpecError for invalid input, CgroupError for what this host cannot do."""
        res = self.resources if resources is None else resources
        problems = convert.validate(res)
        if problems:
            raise SpecError(problems)
        v1w: list = []
        v2w: list = []
        dev: list = []
        if self.mode == "v2":
            try:
                v2w = convert.v2_writes(res)
            except ValueError as exc:
                raise CgroupError(str(exc)) from None
        else:
            have = set(self.v1.paths) if self.v1 else set()
            hybrid_v2 = {}
            for w in convert.v1_writes(res):
                if w.controller in have:
                    v1w.append(w)
                elif self.mode == "hybrid" and w.controller in V2_ONLY_OK:
                    hybrid_v2.setdefault(w.controller, True)
                elif self.rootless:
                    raise CgroupError(f"{w.source}: rootless container cannot set limits without the "
                                      f"{w.controller} cgroup (not writable or not mounted)")
                else:
                    raise CgroupError(f"{w.source}: the {w.controller} cgroup controller is not mounted")
            if hybrid_v2 or res.get("unified"):
                sub = {k: res[k] for k in ("hugepageLimits", "rdma", "unified") if res.get(k)}
                if self.mode != "hybrid" or self.v2 is None:
                    what = "$.linux.resources.unified" if res.get("unified") else "$.linux.resources"
                    raise CgroupError(f"{what}: needs cgroup v2, which is not enabled on this host")
                for w in convert.v2_writes(sub):
                    if w.controller in ("hugetlb", "rdma") and w.controller not in hybrid_v2:
                        continue
                    v2w.append(w)
            if self.device_rules and "devices" in have and not self.rootless and not _in_user_namespace():
                dev = devices.v1_writes(self.device_rules)
        return v1w, v2w, dev

    # ------------------------------------------------------------ lifecycle
    def create(self) -> None:
        """mkdir everywhere and apply the resources; on failure remove what was made and raise."""
        v1w, v2w, dev = self._plan or self.plan()
        try:
            if self.v1:
                self.v1.create(self.created, skip_unwritable=self.rootless, warnings=self.warnings)
                if self.rootless:
                    missing = [w for w in v1w if w.controller not in self.v1.paths]
                    if missing:
                        raise CgroupError(f"{missing[0].source}: rootless container cannot set limits: "
                                          f"the {missing[0].controller} cgroup is not writable")
            if self.v2:
                try:
                    needed = convert.v2_controllers_needed(v2w)
                    best = V2_STATS_CONTROLLERS if self.mode == "v2" else ()
                    self.v2.create(self.created, needed, best)
                except CgroupError as exc:
                    if not self._may_skip_v2(exc, v2w):
                        raise
            if self.v1:
                self.v1.apply(v1w, dev, self.warnings)
            if self.v2 and v2w:
                self.v2.apply(v2w, self.warnings)
            if self.mode == "v2" and self.device_rules and not self.rootless and not _in_user_namespace() \
                    and self.v2 is not None:
                from .devfilter import attach_device_filter
                attach_device_filter(self.v2.path, self.device_rules)
        except BaseException:
            self._remove_created()
            raise

    def _may_skip_v2(self, exc: CgroupError, v2w: list) -> bool:
        """Hybrid or rootless: a cgroup2 directory we cannot make is a warning when nothing needs it."""
        cause = exc.__cause__
        denied = isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        if (self.mode == "hybrid" or self.rootless) and denied and not v2w:
            msg = f"{exc}; running without a cgroup2 directory"
            fs.warn(msg)
            self.warnings.append(msg)
            self.v2 = None
            return True
        return False

    def _remove_created(self) -> None:
        for d in sorted(self.created, key=len, reverse=True):
            try:
                fs.remove_tree(d, timeout=0.5)
            except CgroupError:
                pass
        self.created.clear()

    def add(self, pid: int) -> None:
        """Move ``pid`` (a whole process) into the container's cgroups."""
        if self.v1:
            self.v1.add(pid)
        self.add_unified(pid)

    def v1_task_files(self) -> tuple[str, ...]:
        """The v1 hierarchies' ``tasks`` files. A single-threaded process joins them itself by writing "0"
        to each: the kernel then moves one thread without taking the global threadgroup rwsem, so the
        write does not wait out an RCU grace period (~10 ms) the way a cgroup.procs write does."""
        return tuple(os.path.join(d, "tasks") for d in self.v1.unique_dirs()) if self.v1 else ()

    def unified_procs_file(self) -> str | None:
        """The unified directory's cgroup.procs (None without one)."""
        return os.path.join(self.v2.path, "cgroup.procs") if self.v2 else None

    def add_unified(self, pid: int) -> None:
        """The cgroup2 half of ``add``: ``pid`` into the unified directory (v2, or a hybrid's unified)."""
        if self.v2:
            try:
                self.v2.add(pid)
            except CgroupError:
                if self.mode == "v2":
                    raise
                # hybrid: the cgroup2 directory is a convenience (kill/hugetlb); v1 holds the process.
                if not self._v2_needed():
                    fs.warn(f"could not add pid {pid} to {self.v2.path}")
                else:
                    raise

    def _v2_needed(self) -> bool:
        return self.mode == "v2" or bool(self.resources.get("unified") or self.resources.get("hugepageLimits"))

    def pids(self) -> list[int]:
        if self.mode == "v2" and self.v2:
            return self.v2.pids()
        if self.v1 and self.v1.paths:          # (rootless may have dropped every v1 hierarchy)
            return self.v1.pids()
        return self.v2.pids() if self.v2 else []

    def kill_all(self, sig: int = _signal.SIGKILL) -> None:
        """Signal every process: cgroup.kill for SIGKILL where the kernel has it, else freeze ->
        signal each task -> thaw, so nothing forks past us (runc's signalAllProcesses)."""
        if sig == _signal.SIGKILL and self.v2 and self.v2.can_kill() \
                and (self.mode == "v2" or set(self.pids()) <= set(self.v2.pids())):
            self.v2.kill()
            if self.v1 and self.v1.is_frozen():      # the v1 freezer holds killed tasks: let them die
                self.v1.thaw()
            return
        if self.v1 and "freezer" in self.v1.paths:
            self.v1.kill_all(sig)
        elif self.v2:
            self.v2.kill_all(sig)
        elif self.v1:
            self.v1.kill_all(sig)

    def _freezer(self):
        if self.v1 and "freezer" in self.v1.paths:
            return self.v1
        if self.v2:
            return self.v2
        raise CgroupError("no freezer: neither the v1 freezer controller nor a cgroup2 directory")

    def freeze(self) -> None:
        self._freezer().freeze()

    def thaw(self) -> None:
        self._freezer().thaw()

    def is_frozen(self) -> bool:
        try:
            return self._freezer().is_frozen()
        except CgroupError:
            return False

    def update(self, resources: dict) -> None:
        """Apply new values (only the fields given) to the live cgroups."""
        v1w, v2w, _ = self.plan(resources)
        if self.v1 and v1w:
            self.v1.apply(v1w, None, self.warnings)
        if self.v2 and v2w:
            self.v2.enable_controllers(convert.v2_controllers_needed(v2w))
            self.v2.apply(v2w, self.warnings)
        merged = dict(self.resources)
        for key, value in resources.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        self.resources = merged

    def stats(self) -> dict:
        """runc ``events --stats`` "data" object."""
        from .stats import collect
        return collect(self)

    def oom_events(self):
        """An OomWatcher: ``.wait(timeout) -> bool`` (True when an OOM kill happened), ``.count()``,
        ``.fileno()`` for a poll loop, ``.close()``."""
        from .oom import watch
        return watch(self)

    def destroy(self, timeout: float = 2.0) -> None:
        """rmdir the container's cgroups (and any sub-cgroups), retrying while tasks drain. Kills nothing."""
        errors = []
        for drv in (self.v1, self.v2):
            if drv is None:
                continue
            try:
                drv.destroy(self.created, timeout)
            except CgroupError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        self.created.clear()

    def paths(self) -> dict[str, str]:
        """{controller: directory}; "" is the cgroup2 directory (runc's cgroup_paths shape)."""
        out = dict(self.v1.paths) if self.v1 else {}
        if self.v2:
            out[""] = self.v2.path
        return out

    def to_json(self) -> dict:
        return {"id": self.container_id, "mode": self.mode, "rootless": self.rootless,
                "v1": dict(self.v1.paths) if self.v1 else {},
                "unified": self.v2.path if self.v2 else None,
                "unified_mount": self.v2.mountpoint if self.v2 else None,
                "resources": self.resources, "devices": self.device_rules,
                "created": list(self.created), "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, d: dict) -> "CgroupManager":
        return cls(d["id"], d["mode"], d.get("v1") or {}, d.get("unified"), d.get("unified_mount"),
                   d.get("resources") or {}, rootless=bool(d.get("rootless")),
                   device_rules=d.get("devices") or [], created=d.get("created") or [],
                   warnings=d.get("warnings") or [])

    def __repr__(self) -> str:
        return f"CgroupManager({self.container_id!r}, mode={self.mode!r}, paths={self.paths()!r})"


def for_container(linux: dict, container_id: str, *, rootless: bool = False,
                  layout: CgroupLayout | None = None, own: dict[str, str] | None = None,
                  default_devices: bool = True) -> CgroupManager:
    """Validate ``linux`` (config["linux"]) and plan the container's cgroups. Touches nothing.

    SpecError lists every problem with its JSON path; CgroupError for what this host cannot do.
    ``layout``/``own`` override detection (tests); ``default_devices`` appends runc's default rules.
    """
    linux = linux or {}
    problems: list[tuple[str, str]] = []
    raw = linux.get("cgroupsPath")
    if raw is not None and not isinstance(raw, str):
        problems.append(("$.linux.cgroupsPath", "must be a string"))
        raw = None
    res = linux.get("resources") or {}
    problems.extend(convert.validate(res))
    if problems:
        raise SpecError(problems)
    inner = clean_path(raw or container_id)
    if inner in ("", ".", "/"):
        raise SpecError([("$.linux.cgroupsPath", f"{raw!r} names the cgroup root, not a cgroup for the container")])
    layout = layout or detect()
    if layout.mode == "none":
        raise CgroupError("no cgroup filesystem is mounted (/proc/self/mountinfo has no cgroup or cgroup2)")
    if own is None:
        own = own_cgroups() if not inner.startswith("/") else {}
    v1_paths, unified = resolve_paths(layout, inner, own)
    rules = devices.container_rules(res.get("devices"), default_devices)
    m = CgroupManager(container_id, layout.mode, v1_paths, unified, layout.unified, res,
                      rootless=rootless, device_rules=rules)
    m._plan = m.plan()
    return m
