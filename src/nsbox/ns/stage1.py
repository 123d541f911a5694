"""The inside of an unshare: the steps run by the process that unshares, and by the program's child.

Executes an ``UnshareOptions`` plan; never parses user input. Imports only stdlib, L0 and the plan
(it also runs in the fresh ``python -I -S`` helper). Errors are raised as ``OSError`` naming the call
and path (or ``InitFailed``); the caller decides whether they become a CLI line or a channel message.

Message sequence with whoever is *outside* the new namespaces (the spawn() caller, or the helper
process that ``nsbox unshare`` forks before unsharing when it needs newuidmap or bind mounts)::

    outside                                   unsharing process P
      |                                       unshare(flags); [write own maps if self_map]
      |  <------------- unshared {pid} -----  |
      |  write uid/gid maps (direct or newuidmap), bind ns files except pid/time
      |  -------------- ready ------------->  |
      |                                       time offsets; fork the program child C (if fork)
      |  <------------- forked {pid} -------  |   (only when pid/time are persisted)
      |  bind /proc/P/ns/{pid,time}_for_children
      |  -------------- ready ------------->  |
      |  <------------- child {pid} --------  |   (spawn only: the program's host pid)
      |                                       P closes its end; C sets up, execs
      |  <------------- error {...} --------  C (set-up or exec failed)   | or EOF: exec succeeded
"""

from __future__ import annotations

import errno
import os
import signal

from ..errors import InitFailed, NsboxError, describe_oserror
from ..linux import consts
from ..linux.mount import make_propagation, mount
from ..linux.prctl import set_pdeathsig
from ..linux.sched import unshare as _unshare
from .unshare_plan import TIME_CLOCKS, UnshareOptions

PROPAGATION_FLAGS = {"private": consts.MS_PRIVATE, "shared": consts.MS_SHARED, "slave": consts.MS_SLAVE}


def _call(name: str, fn, *args):
    """Run an os.* call; an OSError gets ``syscall`` set so messages name the call."""
    try:
        return fn(*args)
    except OSError as err:
        err.syscall = name  # type: ignore[attr-defined]
        raise


def _write(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as err:
        err.syscall = "write"  # type: ignore[attr-defined]
        err.filename = path
        raise


# -- in the unsharing process -------------------------------------------------------------------
def write_self_maps(opts: UnshareOptions) -> None:
    """util-linux's -r/-c/--map-user: the process maps its own ids (uid first, then setgroups, gid)."""
    if opts.uid_map:
        _write("/proc/self/uid_map", "".join(f"{a} {b} {c}\n" for a, b, c in opts.uid_map))
    if opts.setgroups:
        _write("/proc/self/setgroups", opts.setgroups)
    if opts.gid_map:
        _write("/proc/self/gid_map", "".join(f"{a} {b} {c}\n" for a, b, c in opts.gid_map))


def set_time_offsets(offsets: dict) -> None:
    """Write /proc/self/timens_offsets (only possible before the first process enters the ns)."""
    if offsets:
        _write("/proc/self/timens_offsets",
               "".join(f"{TIME_CLOCKS[clock]} {int(secs)} 0\n" for clock, secs in offsets.items()))


def unshare_self(opts: UnshareOptions, outside=None) -> None:
    """unshare(2) the calling process, get its maps written, set time offsets."""
    _unshare(opts.flags)
    if opts.self_map and opts.needs_map:
        write_self_maps(opts)
    if outside is not None:
        outside.send("unshared", pid=os.getpid())
        outside.expect("ready")
    set_time_offsets(opts.time_offsets or {})


def report_fork(opts: UnshareOptions, outside, pid: int) -> None:
    """After the first fork: let the outside bind pid_for_children / time_for_children."""
    if outside is not None and opts.late_persist:
        outside.send("forked", pid=pid)
        outside.expect("ready")


# -- in the process that will exec the program ----------------------------------------------------
def setup_steps(opts: UnshareOptions) -> None:
    """util-linux's order: hostname, propagation, chroot + chdir, /proc, setgid, setuid, caps."""
    if opts.hostname is not None:
        from ..linux.uts import sethostname
        sethostname(opts.hostname)
    if opts.has("mnt") and opts.propagation != "unchanged":
        make_propagation("/", PROPAGATION_FLAGS[opts.propagation], recursive=True)
    cwd = opts.cwd
    if opts.root:
        _call("chroot", os.chroot, opts.root)
        cwd = cwd or "/"
    if cwd:
        _call("chdir", os.chdir, cwd)
    if opts.mount_proc:
        if not opts.root and opts.propagation != "private":
            try:
                make_propagation(opts.mount_proc, consts.MS_PRIVATE, recursive=True)
            except OSError as err:
                if err.errno != errno.EINVAL:  # not a mount point yet: fine
                    raise
        mount("proc", opts.mount_proc, "proc", consts.MS_NOSUID | consts.MS_NOEXEC | consts.MS_NODEV)
    if opts.gid is not None:
        _call("setgroups", os.setgroups, [])
        _call("setgid", os.setgid, opts.gid)
    if opts.uid is not None:
        _call("setuid", os.setuid, opts.uid)
    if opts.keep_caps and opts.has("user"):
        permitted_to_ambient()


def permitted_to_ambient() -> None:
    """--keep-caps: every permitted capability becomes inheritable and ambient, so it survives exec."""
    from ..linux.caps import CapSets, capget, capset
    from ..linux.prctl import ambient_raise
    sets = capget()
    capset(CapSets(sets.effective, sets.permitted, sets.permitted))
    cap = 0
    while (sets.permitted >> cap) != 0:
        if sets.permitted & (1 << cap):
            ambient_raise(cap)
        cap += 1


def exec_program(opts: UnshareOptions, pdeathsig: int = 0) -> None:
    """Restore signals, set the final death signal, execvp. Raises InitFailed("exec") on failure."""
    from ..proc.fork import reset_signals_for_exec
    reset_signals_for_exec()
    set_pdeathsig(pdeathsig)
    try:
        _execvp(opts.program, list(opts.argv), opts.env)
    except OSError as err:
        exc = InitFailed("exec", f"failed to execute {opts.program}: {err.strerror}", "execve",
                         opts.program, err.errno)
        exc.exit_code = exit_code_for(exc)  # type: ignore[attr-defined]
        raise exc from err


def _execvp(program: str, argv: list[str], env: dict | None) -> None:
    """execvp(3), including its fallback of running a file without a #! line with /bin/sh."""
    env_ = os.environ if env is None else env
    if "/" in program:
        candidates = [program]
    else:
        candidates = [os.path.join(d or ".", program) for d in os.get_exec_path(env_)]
    first_error = None
    for path in candidates:
        try:
            os.execve(path, argv, env_)
        except OSError as err:
            if err.errno == errno.ENOEXEC:
                os.execve("/bin/sh", ["/bin/sh", path] + argv[1:], env_)
            if first_error is None or (first_error.errno == errno.ENOENT and err.errno != errno.ENOENT):
                first_error = err
    raise first_error  # type: ignore[misc]


def exit_code_for(exc: BaseException) -> int:
    """util-linux: 127 when the program does not exist, 126 when it cannot run, else 1."""
    if isinstance(exc, InitFailed) and exc.step == "exec":
        return 127 if exc.errno == errno.ENOENT else 126
    return 1


def message_for(exc: BaseException) -> str:
    if isinstance(exc, NsboxError):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_oserror(exc)
    return f"{type(exc).__name__}: {exc}"


def relay_status(status: int) -> int:
    """Exit like the child did: its exit code, or the same signal (util-linux re-raises it)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
        return 128 + sig
    return os.waitstatus_to_exitcode(status)


def wait_child(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue


# -- the stage-1 process of spawn() (forked, or the python -I -S helper) -----------------------
def run_stage1(opts: UnshareOptions, chan) -> int:
    """Unshare, fork the program (if asked), report its pid, then wait for it and relay its status."""
    from ..proc.fork import fork_child
    try:
        unshare_self(opts, chan)
        if opts.fork:
            pid = fork_child(lambda: _program_child(opts, chan), pdeathsig=signal.SIGKILL)
        else:
            pid = os.getpid()
        report_fork(opts, chan, pid)
        chan.send("child", pid=pid)
    except BaseException as exc:  # noqa: BLE001 - becomes a message to the parent
        chan.send_error(exc, step="unshare")
        return 1
    if not opts.fork:
        return _program_child(opts, chan)
    chan.close()
    from ..linux.fd import close_fds_except
    close_fds_except(set())  # hold nothing of the caller's while waiting (the program has its own copies)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
    if opts.kill_signal is None:
        set_pdeathsig(0)  # hand-off done: the program outlives a dead caller, as with unshare -f
    return relay_status(wait_child(pid))


def _program_child(opts: UnshareOptions, chan) -> int:
    try:
        if opts.kill_signal:
            set_pdeathsig(opts.kill_signal)
        setup_steps(opts)
        from ..linux.fd import close_fds_except
        close_fds_except({0, 1, 2, chan.fileno()})
        exec_program(opts, opts.kill_signal or 0)
    except BaseException as exc:  # noqa: BLE001
        chan.send_error(exc, step="setup")
        return exit_code_for(exc)
    return 1
