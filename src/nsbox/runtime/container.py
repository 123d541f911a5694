"""The container lifecycle as library calls: create, start, state, kill, delete, list, pids.

    rt = Runtime(root="/run/nsbox")
    rt.create("web", "/path/to/bundle")
    rt.start("web"); rt.state("web")["status"]; rt.kill("web", signal.SIGTERM); rt.delete("web", force=True)

Every operation takes the per-container lock; status is derived from the system (runtime.status).
"""

from __future__ import annotations

import errno
from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)
import os
import select
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)
import time

from ..errors import ContainerNotFound, InvalidState, NsboxError
from ..paths import runtime_state_root
from . import status as st
from .store import FIFO_NAME, Store

OCI_VERSION = "1.0.2-dev"


def _cgroup_manager_module():
    try:
        from ..cgroups import manager  # type: ignore
        return manager
    except ImportError:
        return None


def stderr_warning(message: str) -> None:
    import sys
    sys.stderr.write(f"nsbox-runc: warning: {message}\n")
    sys.stderr.flush()


class Runtime:
    """``warn(message)`` receives every warning (security plan, cgroups); default: a line on stderr.
    ``cgroup_warn``, if given, receives the cgroup manager's instead (a front end that has already
    told the user about cgroups, or asked for none, passes its own)."""

    def __init__(self, root: str | None = None, rootless: bool | None = None, warn=None, cgroup_warn=None):
        self.store = Store(root or runtime_state_root())
        self.rootless = (os.geteuid() != 0) if rootless is None else rootless
        self.warn = warn or stderr_warning
        self.cgroup_warn = cgroup_warn or self.warn

    # --- helpers --------------------------------------------------------------------------------
    def _load(self, container_id: str) -> dict:
        return self.store.read(container_id)

    def _cgroup(self, state: dict):
        data = state.get("cgroup")
        mod = _cgroup_manager_module()
        if not data or mod is None:
            return None
        return mod.CgroupManager.from_json(data)

    def status_of(self, container_id: str, state: dict) -> str:
        creating = state.get("creating")
        if creating:
            alive = st.init_alive(creating.get("pid"), creating.get("start_time"))
            return st.CREATING if alive else st.STOPPED
        cg = self._cgroup(state)
        return st.derive_status(state, self.store.path(container_id, FIFO_NAME),
                                frozen=cg.is_frozen if cg is not None else None)

    def state(self, container_id: str) -> dict:
        """The OCI state document, as `runc state` prints it."""
        state = self._load(container_id)
        status = self.status_of(container_id, state)
        return self._document(state, status)

    def _document(self, state: dict, status: str) -> dict:
        from ..oci.state import state_document
        return state_document(container_id=state["id"], status=status,
                              pid=state["pid"] if status != st.STOPPED else 0, bundle=state["bundle"],
                              rootfs=state["rootfs"], created=state["created"], owner=state.get("owner", ""),
                              annotations=state.get("annotations"), oci_version=state.get("ociVersion", OCI_VERSION))

    # --- create ---------------------------------------------------------------------------------
    def create(self, container_id: str, bundle: str, *, pid_file: str | None = None,
               console_socket: str | None = None, no_pivot: bool = False, no_new_keyring: bool = False,
               preserve_fds: int = 0, keep_console: bool = False) -> dict:
        """Set up the container and leave its init waiting on exec.fifo. Returns the state document
        (plus "console_master": fd when keep_console and the process has a terminal)."""
        from .launcher import launch
        from .planner import host_root_ids, load_config, make_plan, validate
        bundle = os.path.abspath(bundle)
        self.store.path(container_id)  # validates the id
        if self.store.exists(container_id) or os.path.exists(self.store.path(container_id)):
            from ..errors import ContainerExists
            raise ContainerExists(container_id)
        config = load_config(bundle)
        # as runc: a user namespace is required only of an unprivileged caller; root inside a user
        # namespace (rootless podman) is "rootless" only for cgroups
        validate(config, bundle, self.rootless and os.geteuid() != 0)
        plan = make_plan(config, bundle, container_id, rootless=self.rootless, no_pivot=no_pivot,
                         no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)
        for warning in ((plan.security or {}).get("plan") or {}).get("warnings") or ():
            self.warn(warning)
        if plan.terminal and not console_socket and not keep_console:
            raise NsboxError("cannot allocate tty if runc will detach without setting console socket")
        if console_socket and not plan.terminal:
            raise NsboxError("cannot use console socket if runc will not detach or allocate tty")
        created_ns = time.time_ns()
        from ..oci.state import format_created
        record = {"id": container_id, "pid": 0, "start_time": None, "bundle": bundle, "rootfs": plan.root,
                  "created": format_created(created_ns), "owner": "", "ociVersion": config.get("ociVersion", OCI_VERSION),
                  "annotations": config.get("annotations") or None, "hooks": config.get("hooks") or {},
                  "rootless": self.rootless, "cgroup": None,
                  "no_new_keyring": no_new_keyring}   # exec keeps the caller's keyring too, as runc
        self.store.make_dir(container_id)
        cgroup = None
        lock = None
        try:
            lock = self.store.lock(container_id)
            uid, gid = host_root_ids(config.get("linux") or {}, plan.userns_create)
            fifo = self.store.make_fifo(container_id, uid, gid)
            cgroup = self._make_cgroup(config, container_id)
            if cgroup is not None:
                record["cgroup"] = cgroup.to_json()
            # a provisional record: if this launcher dies mid-way, `delete -f` still finds the cgroup
            from ..proc.procfs import start_time
            self.store.write(container_id, {**record, "creating": {"pid": os.getpid(),
                                                                   "start_time": start_time(os.getpid())}})
            hooks = config.get("hooks") or {}

            def runtime_hooks(pid: int) -> str:
                from .hooks import run_hooks
                doc = self._document({**record, "pid": pid}, st.CREATING)
                run_hooks(hooks.get("prestart"), doc, "prestart")
                run_hooks(hooks.get("createRuntime"), doc, "createRuntime")
                return json.dumps({**doc, "status": st.CREATED})

            launched = launch(plan, fifo_path=fifo, cgroup=cgroup, on_runtime_hooks=runtime_hooks,
                              listener_state=lambda pid: self._document({**record, "pid": pid}, st.CREATING),
                              runtime_hooks=bool(hooks.get("prestart") or hooks.get("createRuntime")))
            try:
                record["pid"], record["start_time"] = launched.pid, launched.start_time
                if launched.console_master is not None and console_socket:
                    from .console import send_console
                    send_console(console_socket, launched.console_master)
                self.store.write(container_id, record)
                if pid_file:
                    write_pid_file(pid_file, launched.pid)
                launched.commit()
            except BaseException:
                launched.channel.close()
                _kill_pid(launched.pid, signal.SIGKILL)
                raise
            finally:
                if launched.console_master is not None and not keep_console:
                    os.close(launched.console_master)
        except BaseException:
            if cgroup is not None:
                try:
                    cgroup.kill_all(signal.SIGKILL)
                    cgroup.destroy()
                except Exception:  # noqa: BLE001 - keep the original error
                    pass
            self.store.remove(container_id)
            raise
        finally:
            if lock is not None:
                os.close(lock)
        doc = self._document(record, st.CREATED)
        if keep_console:
            doc["console_master"] = launched.console_master
        return doc

    def _make_cgroup(self, config: dict, container_id: str):
        mod = _cgroup_manager_module()
        if mod is None:
            return None
        linux = config.get("linux") or {}
        from ..cgroups import fs as cgroup_fs
        cgroup_fs.sink = self.cgroup_warn  # the manager's warnings in the runtime's log, not through logging
        try:
            manager = mod.for_container(linux, container_id, rootless=self.rootless)
            try:
                manager.create()
            except Exception:
                if self.rootless and not has_limits(linux.get("resources")):
                    return None  # as runc: rootless without delegation and no limits asked: no cgroup of our own
                raise
        finally:
            cgroup_fs.sink = None
        if self.rootless and not manager.paths():
            return None  # every hierarchy was skipped (warned): ps/kill --all go by the pid namespace
        return manager

    # --- start ----------------------------------------------------------------------------------
    def start(self, container_id: str) -> None:
        state = self._load(container_id)
        lock = self.store.lock(container_id)
        try:
            status = self.status_of(container_id, state)
            if status == st.STOPPED:
                raise InvalidState(container_id, status, st.CREATED, "cannot start a container that has stopped")
            if status != st.CREATED:
                raise InvalidState(container_id, status, st.CREATED, "cannot start an already running container")
            fifo = self.store.path(container_id, FIFO_NAME)
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                data = _await_fifo(fd, state)
            finally:
                os.close(fd)
            os.unlink(fifo)
            if not data:
                raise InvalidState(container_id, st.STOPPED, st.CREATED, "cannot start a container that has stopped")
            hooks = state.get("hooks") or {}
            if hooks.get("poststart"):
                from .hooks import run_hooks
                run_hooks(hooks["poststart"], self._document(state, st.RUNNING), "poststart")
        finally:
            os.close(lock)

    # --- kill -----------------------------------------------------------------------------------
    def kill(self, container_id: str, sig: int = signal.SIGTERM, all_processes: bool = False) -> None:
        state = self._load(container_id)
        status = self.status_of(container_id, state)
        cg = self._cgroup(state) if all_processes else None
        if all_processes and cg is not None and (status != st.STOPPED or cg.pids()):
            # as runc: --all signals what is left in the cgroup even after the init is gone
            cg.kill_all(sig)
            return
        if status == st.STOPPED:
            if all_processes:
                return
            raise InvalidState(container_id, status, st.RUNNING, "container not running")
        if all_processes:
            for pid in self.pids(container_id, state):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return
        signal_init(state, sig)

    # --- delete ---------------------------------------------------------------------------------
    def delete(self, container_id: str, force: bool = False) -> None:
        try:
            state = self._load(container_id)
        except ContainerNotFound:
            if force:
                self.store.remove(container_id)
                return
            raise
        lock = self.store.lock(container_id)
        try:
            status = self.status_of(container_id, state)
            if status == st.CREATING:
                raise InvalidState(container_id, status, st.STOPPED, f"container {container_id} is being created")
            if status in (st.RUNNING, st.PAUSED) and not force:
                raise InvalidState(container_id, status, st.STOPPED,
                                   f"cannot delete container {container_id} that is not stopped: {status}")
            cg = self._cgroup(state)
            if status != st.STOPPED:
                if cg is not None:
                    if status == st.PAUSED:
                        cg.thaw()
                    cg.kill_all(signal.SIGKILL)
                signal_init(state, signal.SIGKILL, quiet=True)
                _wait_gone(state)
            if cg is not None:
                try:
                    if cg.pids():          # escaped the init (a daemon in the host pid namespace): as runc
                        cg.kill_all(signal.SIGKILL)
                    cg.destroy()
                except Exception as err:  # noqa: BLE001
                    import sys
                    sys.stderr.write(f"nsbox-runc: warning: cgroup of {container_id}: {err}\n")
            hooks = state.get("hooks") or {}
            if hooks.get("poststop"):
                from .hooks import run_hooks
                run_hooks(hooks["poststop"], self._document(state, st.STOPPED), "poststop", warn_only=True)
            self.store.remove(container_id)
        finally:
            os.close(lock)

    # --- list / ps ------------------------------------------------------------------------------
    def list(self) -> list[dict]:
        out = []
        for cid in self.store.ids():
            try:
                state = self._load(cid)
            except ContainerNotFound:
                continue
            doc = self._document(state, self.status_of(cid, state))
            try:
                uid = os.stat(self.store.path(cid)).st_uid
                import pwd
                doc["owner"] = pwd.getpwuid(uid).pw_name
            except (KeyError, OSError):
                doc["owner"] = f"#{os.geteuid()}"
            out.append(doc)
        return out

    def pids(self, container_id: str, state: dict | None = None) -> list[int]:
        state = state or self._load(container_id)
        cg = self._cgroup(state)
        if cg is not None:
            return sorted(cg.pids())
        if not st.init_alive(state.get("pid"), state.get("start_time")):
            return []
        return pids_in_pid_namespace(state["pid"])


LIMIT_KEYS = ("memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified")


def has_limits(resources: dict | None) -> bool:
    """Does linux.resources ask for any limit (device rules alone do not count, as in runc rootless)?"""
    return any(bool((resources or {}).get(key)) for key in LIMIT_KEYS)


def pids_in_pid_namespace(init_pid: int) -> list[int]:
    """Fallback without a cgroup: every host process sharing the init's pid namespace."""
    try:
        target = os.stat(f"/proc/{init_pid}/ns/pid").st_ino
    except OSError:
        return []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == target:
                    out.append(int(name))
            except OSError:
                continue
    return sorted(out)


def signal_init(state: dict, sig: int, quiet: bool = False) -> None:
    """Signal the init through a pidfd, after re-checking its start time (a reused pid is never hit)."""
    from ..linux.pidfd import pidfd_open, pidfd_send_signal
    pid = state.get("pid")
    try:
        fd = pidfd_open(pid)
    except OSError:
        if quiet:
            return
        raise InvalidState(state["id"], st.STOPPED, st.RUNNING, "container not running") from None
    try:
        if not st.init_alive(pid, state.get("start_time")):
            if quiet:
                return
            raise InvalidState(state["id"], st.STOPPED, st.RUNNING, "container not running")
        try:
            pidfd_send_signal(fd, sig, pid)
        except ProcessLookupError:
            if not quiet:
                raise InvalidState(state["id"], st.STOPPED, st.RUNNING, "container not running") from None
    finally:
        os.close(fd)


def _kill_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(state: dict, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    pid = state.get("pid")
    while st.init_alive(pid, state.get("start_time")) and time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            pass
        time.sleep(0.005)


def _await_fifo(fd: int, state: dict, timeout: float = 30.0) -> bytes:
    """Read the init's byte from exec.fifo; notice an init that died instead of hanging."""
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                return os.read(fd, 1)
            except BlockingIOError:
                pass
        if not st.init_alive(state.get("pid"), state.get("start_time")):
            return b""
        if time.monotonic() > deadline:
            raise NsboxError("timed out waiting for the container's init to open exec.fifo")


def write_pid_file(path: str, pid: int) -> None:
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
