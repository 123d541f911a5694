"""Parent side of `create`: fork stage 1, feed it id maps and a cgroup, collect stage 2's pid and pty.

Message sequence: see ``_init.stage1`` (attach/go/pid) and ``_init.stage2`` (hooks/pty/ready/committed).
On any failure every process started here is killed and reaped before the error propagates.
"""

from __future__ import annotations

import os
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)
import time
from ..proc.channel import Channel
from ..proc.fork import fork_child, is_single_threaded
from ..proc.procfs import start_time

SETUP_TIMEOUT = 60.0


class Launched:
    """The container's init (host pid, start time), its pty master if any, and the still-open channel:
    send "committed" (``commit()``) once the state is recorded."""

    def __init__(self, pid: int, start_time: int, console_master: int | None, channel: Channel):
        self.pid, self.start_time, self.console_master, self.channel = pid, start_time, console_master, channel

    def commit(self) -> None:
        try:
            self.channel.send("committed")
        finally:
            self.channel.close()


def _kill_and_reap(pid: int | None, reap: bool) -> None:
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    if not reap:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        return
            except OSError:
                return
            time.sleep(0.005)


def start_helper(plan, chan_fd: int, fifo_fd: int | None):
    """A fresh ``python -I -S`` running _init.helper as stage 1: safe to start from a threaded caller."""
    import subprocess
    import sys
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = f"import sys; sys.path.insert(0, {pkg_parent!r}); from nsbox._init.helper import main; main()"
    keep = [chan_fd, *range(3, 3 + plan.preserve_fds)] + ([fifo_fd] if fifo_fd is not None else [])
    argv = [sys.executable, "-I", "-S", "-c", code, str(chan_fd), str(os.getpid()),
            str(fifo_fd if fifo_fd is not None else -1)]
    if plan.seal_runtime:
        # A private mount namespace where the interpreter is a read-only bind of itself: what a container
        # process may reach through /proc/PID/exe cannot be reopened for writing (EROFS), and the
        # container cannot remount a mount of another namespace. (runc: a sealed or read-only clone.)
        exe = os.path.realpath(sys.executable)
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$0" "$@"', exe, *argv[1:]]
    return subprocess.Popen(argv, pass_fds=keep, close_fds=True)


def send_seccomp_listener(plan, pid: int, fd: int, listener_state=None) -> None:
    """runc's hand-off: the seccomp notify fd and the container process state go to listenerPath."""
    from ..security.listener import send_listener_fd
    seccomp = (plan.security or {}).get("plan", {}).get("seccomp") or {}
    path = seccomp.get("listener_path")
    if not path:
        from ..errors import SecurityError
        raise SecurityError("the container's init sent a seccomp listener fd but there is no listenerPath")
    state = listener_state(pid) if listener_state else {
        "ociVersion": "1.0.2-dev", "id": plan.container_id, "status": "creating", "pid": pid,
        "bundle": plan.bundle}
    send_listener_fd(path, fd, pid=pid, state=state, metadata=seccomp.get("listener_metadata"))


def v1_tasks_for_stage1(plan, cgroup) -> tuple[str, ...]:
    """The v1 ``tasks`` files stage 1 may join itself (then only the unified cgroup, if any, is written
    by us, for the init, while stage 2 works). Empty (we move stage 1 as before) when the container
    gets or joins a cgroup namespace (its root is fixed when stage 1 unshares it, so every hierarchy
    must be joined first), for `exec`, and without v1 hierarchies: on a pure v2 host stage 2's cgroup
    mount reads its own cgroup before it could hear that the write is done."""
    from ..linux import consts as c
    if cgroup is None or plan.exec_mode or plan.ns_create & c.CLONE_NEWCGROUP:
        return ()
    if any(name == "cgroup" for name, _ in plan.ns_join):
        return ()
    return cgroup.v1_task_files()


def _reap_stage1(stage1_pid: int | None, cgroup, init_pid: int) -> None:
    """Reap a stage 1 that stayed to move the init into the unified cgroup; move it ourselves if it could
    not. Returns None (the new value of stage1_pid)."""
    if stage1_pid is not None:
        _, status = os.waitpid(stage1_pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            cgroup.add_unified(init_pid)
    return None


def launch(plan, *, fifo_path: str | None, cgroup=None, on_runtime_hooks=None, listener_state=None,
           runtime_hooks: bool = True) -> Launched:
    """Start the container's init and bring it to 'ready' (waiting on exec.fifo).

    ``on_runtime_hooks(pid) -> state_json`` runs prestart/createRuntime hooks when stage 2 asks;
    ``runtime_hooks=False`` says there are none, so nothing has to be complete before that answer.
    ``listener_state(pid) -> dict``: the OCI state sent with a seccomp listener fd to listenerPath.
    """
    from .._init import stage1, stage2
    from . import cgroup_warmup
    cgroup_warmup.finish()  # its thread must be gone before we fork
    stage2.preload(plan)  # stage 2 may run in the container's mount namespace: import everything now
    parent, child = Channel.pair()
    fifo_fd = os.open(fifo_path, os.O_PATH | os.O_CLOEXEC) if fifo_path else None
    stage1_pid = init_pid = None
    helper = None
    master = None
    try:
        if is_single_threaded() and not plan.seal_runtime:
            tasks = v1_tasks_for_stage1(plan, cgroup)
            unified = cgroup.unified_procs_file() if tasks else None
            stage1_pid = fork_child(lambda: stage1.run(plan, child, fifo_fd, cgroup_tasks=tasks,
                                                       unified_procs=unified))
        else:
            tasks = ()
            helper = start_helper(plan, child.fileno(), fifo_fd)
            stage1_pid = helper.pid
            parent.send("plan", plan=plan.to_json())
        child.close()
        if cgroup is not None and not tasks:
            # now, while stage 1 works: it unshares its cgroup namespace only after "go", and the first
            # cgroup.procs write of a run may wait out an RCU grace period (~10-15 ms on cgroup v1)
            cgroup.add(stage1_pid)
        msg, _ = parent.expect("attach", SETUP_TIMEOUT)
        # stage 1 joined its v1 cgroups and, after "pid", moves the init into the unified one: it is
        # reaped (its exit code says whether that worked) before runtime hooks run and before "ready"
        stage1_moves_init = bool(tasks)
        if tasks and not msg.get("cgroup"):
            cgroup.add(stage1_pid)  # stage 1 could not join its v1 cgroups itself
            stage1_moves_init = False
        if msg.get("userns") and plan.idmap:
            from ..ns.idmap import IdMap, apply_idmap
            apply_idmap(stage1_pid, IdMap.from_json(plan.idmap))
        parent.send("go")
        msg, _ = parent.expect("pid", SETUP_TIMEOUT)
        init_pid = int(msg["pid"])
        if not stage1_moves_init:
            if helper is not None:
                helper.wait()
            else:
                os.waitpid(stage1_pid, 0)
            stage1_pid = None
        while True:
            msg, fds = parent.recv(SETUP_TIMEOUT)
            kind = msg["type"]
            if kind in ("ready", "seccomp") or (kind == "hooks" and runtime_hooks):
                stage1_pid = _reap_stage1(stage1_pid, cgroup, init_pid)
            if kind == "hooks":
                state_json = on_runtime_hooks(init_pid) if on_runtime_hooks else "{}"
                parent.send("hooks-done", state=state_json)
            elif kind == "pty":
                master = fds[0]
            elif kind == "seccomp":
                try:
                    send_seccomp_listener(plan, init_pid, fds[0], listener_state)
                finally:
                    os.close(fds[0])
                parent.send("seccomp-done")
            elif kind == "ready":
                break
        started = start_time(init_pid)
        return Launched(init_pid, started or 0, master, parent)
    except BaseException:
        _kill_and_reap(init_pid, reap=False)
        _kill_and_reap(stage1_pid, reap=True)
        if helper is not None:
            helper.returncode = -9  # reaped above
        if master is not None:
            os.close(master)
        parent.close()
        raise
    finally:
        if fifo_fd is not None:
            os.close(fifo_fd)
