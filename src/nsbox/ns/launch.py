"""The public unshare API: ``spawn`` a program in new namespaces, or ``unshare`` the caller itself.

    with nsbox.ns.spawn(["ip", "link"], namespaces=("user", "net"), map_root=True) as proc:
        code = proc.wait()

Parent side. It builds a frozen ``UnshareOptions`` plan (ids, paths, maps resolved here) and hands
it to the stage-1 code (``ns.stage1``, message sequence drawn there):
  - single-threaded caller: fork the stage-1 process directly;
  - caller with threads: start a fresh ``python -I -S`` helper (``ns.helper``) that runs the same
    stage-1 code and speaks the same channel protocol (a threaded process cannot unshare a user
    namespace, and fork() of a threaded process can deadlock).
The caller stays outside: it writes id maps (directly or via newuidmap/newgidmap) and binds
persistent namespace files.  ``Process.pid`` is the program's host pid; with a new pid namespace
the stage-1 process stays as its parent (like ``unshare --fork``) and relays its exit status.
"""

from __future__ import annotations

import os
import signal
import sys

from ..errors import NsboxError, UsageError
from .types import NamespaceType
from .unshare_plan import PROPAGATIONS, UnshareOptions, ordered

__all__ = ["spawn", "Process", "unshare", "UnshareOptions", "build_options", "build_idmap",
           "unshare_and_exec"]

PIPE = -1  # subprocess.PIPE
DEVNULL = -3  # subprocess.DEVNULL
NS_NAMES = ("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children",
            "user", "uts")


# -- building the plan ----------------------------------------------------------------------------
def _ns_name(ns) -> str:
    if isinstance(ns, NamespaceType):
        return ns.ns_name
    try:
        return NamespaceType.from_name(str(ns)).ns_name
    except ValueError as err:
        raise UsageError(str(err)) from None


def split_range(rng: tuple[int, int, int], inner: int, outer: int) -> list[tuple[int, int, int]]:
    """util-linux 2.38: one id ``inner -> outer`` plus a range, with a hole punched for ``inner``.

    The range keeps consecutive outside ids, so its highest id may end up unmapped.
    """
    i0, o0, count = rng
    single = (inner, outer, 1)
    off = inner - i0
    if off < 0 or off >= count:
        return [single, rng]
    rows = [single]
    if off > 0:
        rows.append((i0, o0, off))
    if count - off - 1 > 0:
        rows.append((inner + 1, o0 + off, count - off - 1))
    return rows


def build_idmap(map_user=None, map_group=None, map_users=None, map_groups=None,
                setgroups: str | None = None, euid: int | None = None, egid: int | None = None):
    """uid_map rows, gid_map rows and setgroups as util-linux 2.38 makes them.

    map_user/map_group: the id (or name) the caller becomes; map_users/map_groups: an IdMapping,
    an option string (``outer,inner,count`` or ``inner:outer:count``) or "auto" (/etc/subuid).
    """
    from . import idmap as im
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid

    def as_range(value, auto) -> tuple[int, int, int] | None:
        if value is None:
            return None
        if isinstance(value, im.IdMapping):
            return (value.inside, value.outside, value.count)
        if value == "auto":
            m = auto(euid)
        else:
            m = im.parse_mapping_option(str(value))
        return (m.inside, m.outside, m.count)

    urange = as_range(map_users, im.auto_uid_range)
    grange = as_range(map_groups, im.auto_gid_range)
    uid_rows: list = []
    gid_rows: list = []
    if urange:
        uid_rows = split_range(urange, im.resolve_user(map_user), euid) if map_user is not None else [urange]
    elif map_user is not None:
        uid_rows = [(im.resolve_user(map_user), euid, 1)]
    if grange:
        gid_rows = split_range(grange, im.resolve_group(map_group), egid) if map_group is not None else [grange]
    elif map_group is not None:
        if setgroups == "allow":
            raise UsageError("options --setgroups=allow and --map-group are mutually exclusive")
        gid_rows = [(im.resolve_group(map_group), egid, 1)]
        setgroups = "deny"
    for rows in (uid_rows, gid_rows):
        for row in rows:
            im.IdMapping(*row)  # range checks
    return tuple(uid_rows), tuple(gid_rows), setgroups


def _self_mappable(uid_rows, gid_rows, setgroups, euid, egid) -> bool:
    """Can the unsharing process write these maps itself (only its own ids, count 1)?"""
    ok_u = not uid_rows or (len(uid_rows) == 1 and uid_rows[0][1] == euid and uid_rows[0][2] == 1)
    ok_g = not gid_rows or (len(gid_rows) == 1 and gid_rows[0][1] == egid and gid_rows[0][2] == 1
                            and setgroups == "deny")
    return ok_u and ok_g


def build_options(namespaces=(), *, argv=None, idmap=None, map_root: bool = False, map_user=None,
                  map_group=None, map_users=None, map_groups=None, hostname: str | None = None,
                  mount_proc=False, propagation: str = "private", root=None, cwd=None, uid=None,
                  gid=None, persist=None, time_offsets=None, keep_caps: bool = False,
                  setgroups: str | None = None, env=None, fork: bool | None = None,
                  kill_signal=None) -> UnshareOptions:
    """Resolve everything into a checked plan. Raises UsageError/IdMapError with one clear line."""
    if isinstance(namespaces, (str, NamespaceType)):
        namespaces = (namespaces,)
    names = {_ns_name(n) for n in namespaces}
    euid, egid = os.geteuid(), os.getegid()
    if map_root:
        if map_user is None:
            map_user = 0
        if map_group is None:
            map_group = 0
    if idmap is not None:
        if map_user is not None or map_users is not None or map_group is not None or map_groups is not None:
            raise UsageError("give either idmap or map_root/map_user/map_users, not both")
        uid_rows = tuple((m.inside, m.outside, m.count) for m in idmap.uids)
        gid_rows = tuple((m.inside, m.outside, m.count) for m in idmap.gids)
        setgroups = setgroups or idmap.setgroups
    elif (map_user, map_group, map_users, map_groups) != (None, None, None, None):
        uid_rows, gid_rows, setgroups = build_idmap(map_user, map_group, map_users, map_groups, setgroups,
                                                     euid, egid)
    else:
        uid_rows, gid_rows = (), ()
    if uid_rows or gid_rows or setgroups:
        names.add("user")
    if mount_proc:
        names.add("mnt")
    proc_dir = None
    if mount_proc:
        proc_dir = "/proc" if mount_proc is True else os.fspath(mount_proc)
    if propagation not in PROPAGATIONS:
        raise UsageError(f"unsupported propagation mode: {propagation}")
    persist_map = {}
    for key, path in (persist or {}).items():
        name = _ns_name(key)
        names.add(name)
        persist_map[name] = os.path.abspath(os.fspath(path))
    if kill_signal is not None:
        kill_signal = int(kill_signal)
        fork = True
    if fork is None:
        fork = "pid" in names
    if argv is None:
        shell = os.environ.get("SHELL") or "/bin/sh"
        program, args = shell, ("-" + os.path.basename(shell),)
    else:
        args = tuple(os.fspath(a) for a in argv)
        if not args:
            raise UsageError("no program to run")
        program = args[0]
    opts = UnshareOptions(
        namespaces=ordered(names), uid_map=uid_rows, gid_map=gid_rows, setgroups=setgroups,
        self_map=_self_mappable(uid_rows, gid_rows, setgroups, euid, egid), hostname=hostname,
        mount_proc=proc_dir, propagation=propagation,
        root=os.fspath(root) if root is not None else None, cwd=os.fspath(cwd) if cwd is not None else None,
        uid=_resolve(uid, "resolve_user"), gid=_resolve(gid, "resolve_group"),
        persist=persist_map, time_offsets=dict(time_offsets or {}), keep_caps=keep_caps, fork=bool(fork),
        kill_signal=kill_signal, program=program, argv=args,
        env={str(k): str(v) for k, v in env.items()} if env is not None else None)
    problems = opts.problems()
    if problems:
        raise UsageError("; ".join(problems))
    return opts


def _resolve(value, how: str):
    """A numeric id as is; a name through the passwd/group database (imported only then)."""
    if value is None or isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    from . import idmap
    return getattr(idmap, how)(value)


# -- the running program ------------------------------------------------------------------------
class Process:
    """A program started by ``spawn``. A context manager: leaving it kills and reaps the program.

    ``returncode`` follows subprocess: the exit status, or ``-N`` when killed by signal N.
    """

    def __init__(self, pid: int, waiter_pid: int, popen=None, stdin=None, stdout=None, stderr=None):
        self.pid = pid
        self._waiter = waiter_pid
        self._popen = popen
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self._pidfd = None
        try:
            from ..linux.pidfd import pidfd_open
            self._pidfd = pidfd_open(pid)
        except OSError:
            pass  # already gone

    def __repr__(self) -> str:
        return f"<nsbox.ns.Process pid={self.pid} returncode={self.returncode}>"

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self._waiter, os.WNOHANG)
            if pid:
                self._set_status(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the program to end; TimeoutError after ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        if timeout is not None:
            import time
            deadline = time.monotonic() + timeout
            delay = 0.001
            while self.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"pid {self.pid} still running after {timeout:g}s")
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.05)
            return self.returncode  # type: ignore[return-value]
        while True:
            try:
                _, status = os.waitpid(self._waiter, 0)
                break
            except InterruptedError:
                continue
        self._set_status(status)
        return self.returncode  # type: ignore[return-value]

    def _set_status(self, status: int) -> None:
        self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status)
        if self._popen is not None:
            self._popen.returncode = self.returncode
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the program (through a pidfd, so a reused pid is never hit)."""
        if self.returncode is not None or self._pidfd is None:
            return
        from ..linux.pidfd import pidfd_send_signal
        try:
            pidfd_send_signal(self._pidfd, int(sig), self.pid)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.kill(signal.SIGTERM)

    def ns_inodes(self) -> dict[str, int]:
        """{ns name: inode} of the program's namespaces (as /proc/PID/ns shows them)."""
        out = {}
        for name in NS_NAMES:
            try:
                out[name] = os.stat(f"/proc/{self.pid}/ns/{name}").st_ino
            except OSError:
                pass
        return out

    def close(self) -> None:
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc) -> None:
        if self.returncode is None:
            self.kill(signal.SIGKILL)
            self.wait()
        self.close()


# -- spawn ------------------------------------------------------------------------------------------
def _stdio_fd(spec, index: int, opened: list, ours: list):
    """(fd for the child or None, parent-side file or None)."""
    if spec is None:
        return None, None
    if spec == PIPE:
        r, w = os.pipe()
        child, parent = (r, w) if index == 0 else (w, r)
        opened.append(child)
        ours.append(parent)
        return child, os.fdopen(parent, "wb" if index == 0 else "rb", buffering=0 if index == 0 else -1)
    if spec == DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        opened.append(fd)
        return fd, None
    if isinstance(spec, int):
        return spec, None
    return spec.fileno(), None


def spawn(argv, namespaces=("user", "mnt"), *, idmap=None, map_root: bool = False, hostname=None,
          mount_proc=False, propagation: str = "private", root=None, cwd=None, uid=None, gid=None,
          persist=None, time_offsets=None, keep_caps: bool = False, setgroups=None, env=None,
          stdin=None, stdout=None, stderr=None, kill_signal=None, fork: bool | None = None,
          timeout: float = 30.0) -> Process:
    """Start ``argv`` in new namespaces; returns once it has been exec'd (or raises why not).

    stdin/stdout/stderr: None (inherit), an fd, a file object, or subprocess.PIPE / DEVNULL.
    """
    opts = build_options(namespaces, argv=argv, idmap=idmap, map_root=map_root, hostname=hostname,
                         mount_proc=mount_proc, propagation=propagation, root=root, cwd=cwd, uid=uid,
                         gid=gid, persist=persist, time_offsets=time_offsets, keep_caps=keep_caps,
                         setgroups=setgroups, env=env, fork=fork, kill_signal=kill_signal)
    return spawn_options(opts, stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout)


def spawn_options(opts: UnshareOptions, stdin=None, stdout=None, stderr=None, timeout: float = 30.0) -> Process:
    from ..proc.channel import Channel
    from ..proc.fork import is_single_threaded
    from .outside import Outside
    from . import stage1

    opened: list[int] = []
    ours: list[int] = []
    files = []
    fds = []
    for index, spec in enumerate((stdin, stdout, stderr)):
        fd, f = _stdio_fd(spec, index, opened, ours)
        fds.append(fd)
        files.append(f)
    parent_end, child_end = Channel.pair()
    popen = None
    waiter = None
    proc = None
    outside = Outside(parent_end, opts, timeout)
    try:
        if is_single_threaded():
            from ..proc.fork import fork_child

            def body():
                parent_end.close()
                for target, fd in enumerate(fds):
                    if fd is not None and fd != target:
                        os.dup2(fd, target)
                return stage1.run_stage1(opts, child_end)
            waiter = fork_child(body)
        else:
            popen = _start_helper(opts, child_end.fileno(), fds)
            waiter = popen.pid
            parent_end.send("plan", plan=opts.to_json())
        child_end.close()
        for fd in opened:
            os.close(fd)
        opened.clear()
        outside.on_unshared()
        outside.on_forked()
        msg, _ = parent_end.expect("child", timeout)
        pid = int(msg["pid"])
        proc = Process(pid, waiter, popen, *files)
        _wait_exec(parent_end, timeout)
    except BaseException:
        outside.undo()
        if proc is not None and proc._pidfd is not None:
            os.close(proc._pidfd)
        if waiter is not None:
            _kill_and_reap(waiter, popen)
        for fd in opened:
            os.close(fd)
        for f in files:
            if f is not None:
                f.close()
        raise
    finally:
        parent_end.close()
        child_end.close()  # (idempotent)
    return proc


def _wait_exec(chan, timeout: float) -> None:
    """EOF on the channel: the program exec'd (the last CLOEXEC copy closed). A message: an error."""
    import select
    import socket
    from ..errors import ProtocolError
    ready, _, _ = select.select([chan.sock], [], [], timeout)
    if not ready:
        raise ProtocolError(f"the program was not started within {timeout:g}s")
    if chan.sock.recv(1, socket.MSG_PEEK) == b"":
        return
    chan.recv(0)  # raises the child's error
    raise ProtocolError("unexpected message before exec")


def _kill_and_reap(pid: int, popen=None) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    if popen is not None:
        popen.returncode = -9


def _start_helper(opts: UnshareOptions, fd: int, fds):
    """A fresh ``python -I -S`` running ns.helper: safe to start from a process with threads."""
    import subprocess
    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (f"import sys; sys.path.insert(0, {pkg_parent!r}); "
            "from nsbox.ns.helper import main; main()")
    popen = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, str(fd), str(os.getpid())],
                             stdin=fds[0], stdout=fds[1], stderr=fds[2], pass_fds=(fd,),
                             close_fds=True)
    return popen


# -- in-process ---------------------------------------------------------------------------------------
class _OutsideHelper:
    """For unsharing the caller itself: a forked process that stays outside (maps, binds)."""

    def __init__(self, opts: UnshareOptions):
        from ..proc.channel import Channel
        from ..proc.fork import fork_child
        from .outside import Outside
        self.chan, theirs = Channel.pair()

        def body():
            self.chan.close()
            try:
                Outside(theirs, opts).serve()
            except BaseException:  # noqa: BLE001 - already sent to the unsharing process, which reports it
                return 1
            return 0
        self.pid = fork_child(body)
        theirs.close()

    def reap(self) -> None:
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0
        self.chan.close()

    def abort(self) -> None:
        _kill_and_reap(self.pid) if self.pid else None
        self.pid = 0
        self.chan.close()


def _unshare_caller(opts: UnshareOptions):
    """unshare(2) the calling process per the plan; returns the outside helper (or None)."""
    from ..proc.fork import assert_single_threaded
    from . import stage1
    try:
        assert_single_threaded("unshare")
    except RuntimeError as err:
        raise NsboxError(str(err)) from None
    helper = _OutsideHelper(opts) if opts.needs_outside else None
    try:
        stage1.unshare_self(opts, helper.chan if helper else None)
    except BaseException:
        if helper:
            helper.abort()
        raise
    return helper


def unshare(namespaces, *, idmap=None, map_root: bool = False, hostname=None, mount_proc=False,
            propagation: str = "private", root=None, cwd=None, uid=None, gid=None, persist=None,
            time_offsets=None, keep_caps: bool = False, setgroups=None) -> None:
    """Move the calling (single-threaded) process into new namespaces and set them up.

    A new pid or time namespace applies to the caller's children, not to the caller.
    """
    opts = build_options(namespaces, argv=("true",), idmap=idmap, map_root=map_root, hostname=hostname,
                         mount_proc=mount_proc, propagation=propagation, root=root, cwd=cwd, uid=uid,
                         gid=gid, persist=persist, time_offsets=time_offsets, keep_caps=keep_caps,
                         setgroups=setgroups, fork=False)
    from . import stage1
    _finish_helper(opts, _unshare_caller(opts))
    stage1.setup_steps(opts)


def _finish_helper(opts: UnshareOptions, helper) -> None:
    """The caller itself is the program's process: report it to the outside helper (which writes the
    id maps), and wait for the helper to finish; abort it if anything fails."""
    if not helper:
        return
    from . import stage1
    try:
        stage1.report_fork(opts, helper.chan, os.getpid())
        helper.reap()
    except BaseException:
        helper.abort()
        raise


def unshare_and_exec(opts: UnshareOptions, prog: str = "nsbox unshare") -> int:
    """util-linux unshare's flow in the calling process: unshare, optionally fork, exec the program.

    Returns only with --fork (the child's status, after re-raising its signal) or raises.
    """
    from . import stage1
    helper = _unshare_caller(opts)
    if not opts.fork:
        _finish_helper(opts, helper)
        stage1.setup_steps(opts)
        stage1.exec_program(opts, opts.kill_signal or 0)
        return 1  # not reached
    from ..proc.fork import fork_child
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])

    def child():
        if helper:
            helper.chan.close()
        try:
            if opts.kill_signal:
                from ..linux.prctl import set_pdeathsig
                set_pdeathsig(opts.kill_signal)
            stage1.setup_steps(opts)
            stage1.exec_program(opts, opts.kill_signal or 0)
        except BaseException as exc:  # noqa: BLE001 - report like the parent would
            os.write(2, f"{prog}: {stage1.message_for(exc)}\n".encode())
            return stage1.exit_code_for(exc)
        return 1
    pid = fork_child(child, pdeathsig=signal.SIGKILL)
    try:
        if helper:
            stage1.report_fork(opts, helper.chan, os.getpid())
            helper.reap()
    except BaseException:
        if helper:
            helper.abort()
        _kill_and_reap(pid)
        raise
    return stage1.relay_status(stage1.wait_child(pid))
