"""Join the namespaces of another process (util-linux ``nsenter`` semantics), in-process or in a child.

The order is util-linux 2.38.1's (nsenter.c), because users and scripts rely on it:

 1. Open every namespace file, the root and the working directory *first*: joining a mount
    namespace changes what ``/proc/PID/...`` resolves to, and a persistent namespace file may live
    in a mount namespace we are about to leave.
 2. Entering a user namespace without ``preserve_credentials``: ``setgroups([])`` now (it may fail
    here; it is retried after joining, and only both failures are fatal), and uid/gid become 0
    unless given.
 3. Two passes of setns(2): pass 1 joins everything except the user namespace and ignores
    failures; pass 2 joins the user namespace, then retries what failed (now fatal). So a
    privileged caller entering a less privileged user namespace enters it *last* (keeping the
    privilege the others need), and a caller that is privileged only inside the target's user
    namespace (rootless) effectively enters it *first*.
    Fast path: when every namespace comes from the target pid, one ``setns(pidfd, FLAGS)`` (Linux
    5.8+) joins them all atomically; if it fails nothing changed, and the per-file passes above run
    and report the precise failure.
 4. chroot to the root directory, chdir to the working directory (``--wdns``: opened only now).
 5. A pid namespace applies to children only: the caller forks (unless told not to) so the program
    is in it. ``enter()`` never forks; ``run_in()`` and the CLI do.
 6. Credentials: setgroups([]), setgid, setuid (after the fork, as util-linux does).

``enter()`` needs a single-threaded process (setns into user and mount namespaces fails with
EINVAL otherwise). ``run_in()`` forks from a single-threaded caller; a threaded caller gets a
fresh ``python -I -S`` helper running the same child code (DESIGN §3). Parent and child speak
``proc.channel``:

    parent                                   child (or helper)
      |  <--- {"type": "pid", "pid": N}  ---   |  the program's pid (after the pid-ns fork, if any)
      |  <--- {"type": "error", ...}      ---   |  or: a step failed (nothing was exec'd)
      |  <--- EOF (close-on-exec)         ---   |  the program was exec'd
"""

from __future__ import annotations

import errno
import os
import signal
import sys

from ..errors import NamespaceError, UsageError, describe_oserror, syscall_error
from ..linux import sched
from .types import NSENTER_ORDER, NamespaceType, flags_of

__all__ = ["EnterOptions", "Entered", "EnteredProcess", "enter", "run_in", "open_targets", "OpenTargets",
           "set_credentials", "exec_program", "usable_for_all"]

ALL = "all"


# -- options -----------------------------------------------------------------------------------
class EnterOptions:
    """What to join and how: the data form of ``nsenter``'s command line (JSON-serialisable).

    ``types``: namespaces joined from ``target`` (names such as "net", "mnt"; "all" = ``-a``).
    ``files``: (name, path) pairs joined from a namespace file instead (``--net=FILE``).
    ``root``/``cwd``: True = the target's root/cwd, a str = that directory (opened before joining).
    ``cwd_in_ns``: a directory resolved after joining and chroot (``--wdns``).
    ``uid``/``gid``: set after joining; entering a user namespace sets both (default 0) unless
    ``preserve_credentials``. ``fork``: None = fork when a pid namespace is joined (util-linux).
    (A plain class, not a dataclass: importing dataclasses would double the CLI's start-up.)
    """

    FIELDS = ("target", "types", "files", "root", "cwd", "cwd_in_ns", "uid", "gid",
              "preserve_credentials", "fork")
    __slots__ = FIELDS

    def __init__(self, target: int | None = None, types: tuple[str, ...] = (),
                 files: tuple[tuple[str, str], ...] = (), root: str | bool | None = None,
                 cwd: str | bool | None = None, cwd_in_ns: str | None = None, uid: int | None = None,
                 gid: int | None = None, preserve_credentials: bool = False, fork: bool | None = None):
        self.target, self.types, self.files = target, tuple(types), tuple(tuple(f) for f in files)
        self.root, self.cwd, self.cwd_in_ns = root, cwd, cwd_in_ns
        self.uid, self.gid, self.preserve_credentials, self.fork = uid, gid, preserve_credentials, fork

    def __eq__(self, other) -> bool:
        return isinstance(other, EnterOptions) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return "EnterOptions(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS) + ")"

    @property
    def all(self) -> bool:
        return ALL in self.types

    def to_json(self) -> dict:
        return {"target": self.target, "types": list(self.types), "files": [list(f) for f in self.files],
                "root": self.root, "cwd": self.cwd, "cwd_in_ns": self.cwd_in_ns, "uid": self.uid,
                "gid": self.gid, "preserve_credentials": self.preserve_credentials, "fork": self.fork}

    @classmethod
    def from_json(cls, data: dict) -> "EnterOptions":
        return cls(**{k: data[k] for k in cls.FIELDS if k in data})


def _normalise_types(types) -> tuple[str, ...]:
    if types is None or types == ALL:
        return (ALL,)
    if isinstance(types, (str, NamespaceType)):
        types = (types,)
    out = []
    for t in types:
        if t == ALL:
            out.append(ALL)
            continue
        try:
            out.append((t if isinstance(t, NamespaceType) else NamespaceType.from_name(str(t))).ns_name)
        except ValueError as err:
            raise UsageError(str(err)) from None
    return tuple(out)


def make_options(pid: int | None, types="all", *, files=None, root=None, cwd=None, cwd_in_ns=None,
                 uid=None, gid=None, preserve_credentials=False, fork=None) -> EnterOptions:
    """EnterOptions from the keyword form used by ``enter`` and ``run_in``."""
    file_pairs = []
    for name, path in (files or {}).items():
        t = name if isinstance(name, NamespaceType) else NamespaceType.from_name(str(name))
        file_pairs.append((t.ns_name, os.fspath(path)))
    return EnterOptions(target=pid or None, types=_normalise_types(types) if types else (),
                        files=tuple(file_pairs), root=root, cwd=cwd, cwd_in_ns=cwd_in_ns, uid=uid, gid=gid,
                        preserve_credentials=preserve_credentials, fork=fork)


# -- step 1: open everything ---------------------------------------------------------------
def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        err.syscall = "open"  # type: ignore[attr-defined]
        raise


def _inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError as err:
        err.syscall = "stat"  # type: ignore[attr-defined]
        raise


def usable_for_all(target: int, ns: NamespaceType) -> bool:
    """Whether ``-a`` joins ``ns``: the kernel has it, and (user ns) it is not the caller's own.

    setns(2) refuses to re-enter the caller's own user namespace (EINVAL), and skipping it keeps a
    caller that dropped capabilities from regaining them. Other namespaces are joined even when
    identical (util-linux does; joining the same mount namespace resets root and cwd to its root).
    """
    mine = f"/proc/{os.getpid()}/ns/{ns.ns_name}"
    try:
        my_ino = os.stat(mine).st_ino
    except FileNotFoundError:
        return False
    except OSError:
        my_ino = 0
    if ns is NamespaceType.USER:
        return _inode(ns.proc_path(target)) != my_ino
    return True


class OpenTargets:
    """Everything opened before the first setns: (type, fd, path) in join order, root and cwd fds."""

    def __init__(self, options: EnterOptions):
        self.options = options
        self.namespaces: list[tuple[NamespaceType, int, str]] = []
        self.root_fd = -1
        self.cwd_fd = -1
        self.root_path = ""
        self.cwd_path = ""
        self.from_target_only = True

    @property
    def types(self) -> tuple[NamespaceType, ...]:
        return tuple(t for t, _, _ in self.namespaces)

    def close(self) -> None:
        for _, fd, _ in self.namespaces:
            if fd >= 0:
                os.close(fd)
        self.namespaces = [(t, -1, p) for t, _, p in self.namespaces]
        for name in ("root_fd", "cwd_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> "OpenTargets":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _target_path(target: int | None, what: str) -> str:
    if not target:
        raise UsageError(f"neither filename nor target pid supplied for {what}")
    return f"/proc/{target}/{what}"


def open_targets(options: EnterOptions) -> OpenTargets:
    """Open the namespace files, root and cwd named by ``options`` (step 1). Close with ``.close()``."""
    opened = OpenTargets(options)
    try:
        wanted = {NamespaceType.from_name(n) for n in options.types if n != ALL}
        # A type asked for both from the target and from a file: the target's wins (util-linux).
        paths = {NamespaceType.from_name(name): path for name, path in options.files}
        paths = {t: p for t, p in paths.items() if t not in wanted}
        explicit = set(paths)
        if options.all:
            if not options.target:
                raise UsageError("no target PID specified for --all")
            wanted |= {t for t in NSENTER_ORDER if t not in explicit and usable_for_all(options.target, t)}
        for t in wanted - explicit:
            paths[t] = _target_path(options.target, f"ns/{t.ns_name}")
        opened.from_target_only = not explicit
        for t in NSENTER_ORDER:
            if t in paths:
                opened.namespaces.append((t, _open(paths[t]), paths[t]))
        if options.root is not None and options.root is not False:
            opened.root_path = _target_path(options.target, "root") if options.root is True else options.root
            opened.root_fd = _open(opened.root_path)
        if options.cwd is not None and options.cwd is not False:
            opened.cwd_path = _target_path(options.target, "cwd") if options.cwd is True else options.cwd
            opened.cwd_fd = _open(opened.cwd_path)
    except BaseException:
        opened.close()
        raise
    return opened


# -- steps 2-4: join --------------------------------------------------------------------------
class Entered:
    """What ``enter``/``join`` did: the namespaces joined, and whether a fork is due (pid ns)."""

    __slots__ = ("types", "fork_needed", "uid", "gid", "setgroups_failed_before")

    def __init__(self, types: tuple[NamespaceType, ...], fork_needed: bool, uid: int | None,
                 gid: int | None, setgroups_failed_before: bool):
        self.types, self.fork_needed, self.uid, self.gid = types, fork_needed, uid, gid
        self.setgroups_failed_before = setgroups_failed_before

    def __repr__(self) -> str:
        names = ",".join(t.ns_name for t in self.types)
        return f"Entered(types=[{names}], fork_needed={self.fork_needed}, uid={self.uid}, gid={self.gid})"


def _credentials_wanted(options: EnterOptions, types) -> tuple[int | None, int | None]:
    uid, gid = options.uid, options.gid
    if NamespaceType.USER in types and not options.preserve_credentials:
        uid = 0 if uid is None else uid
        gid = 0 if gid is None else gid
    return uid, gid


def _setns_pidfd(opened: OpenTargets) -> bool:
    """The Linux 5.8+ fast path: join every namespace of the target at once. False: not taken."""
    if not (opened.from_target_only and opened.options.target and opened.namespaces):
        return False
    from ..linux.pidfd import pidfd_open
    try:
        pidfd = pidfd_open(opened.options.target)
    except OSError:
        return False
    try:
        sched.setns(pidfd, flags_of(opened.types), f"pidfd of {opened.options.target}")
        return True
    except OSError:
        return False  # atomic: nothing changed; the per-file passes report the precise failure
    finally:
        os.close(pidfd)


def _setns_two_passes(opened: OpenTargets) -> None:
    pending = [(t, fd, p) for t, fd, p in opened.namespaces]
    for last_pass in (False, True):
        still = []
        for t, fd, path in pending:
            if t is NamespaceType.USER and not last_pass:
                still.append((t, fd, path))
                continue
            try:
                sched.setns(fd, t.clone_flag, path)
            except OSError:
                if last_pass:
                    raise
                still.append((t, fd, path))
        pending = still


def _change_root_and_cwd(opened: OpenTargets) -> None:
    options = opened.options
    cwd_fd, cwd_path = opened.cwd_fd, opened.cwd_path
    own_cwd = -1
    if opened.root_fd >= 0 and cwd_fd < 0:
        own_cwd = cwd_fd = _open(".")  # keep the current directory across the chroot
        cwd_path = "."
    try:
        if opened.root_fd >= 0:
            _named("fchdir", lambda: os.fchdir(opened.root_fd), opened.root_path)
            _named("chroot", lambda: os.chroot("."), opened.root_path)
        if cwd_fd >= 0:
            _named("fchdir", lambda: os.fchdir(cwd_fd), cwd_path)
        if options.cwd_in_ns is not None:
            _named("chdir", lambda: os.chdir(options.cwd_in_ns), options.cwd_in_ns)
    finally:
        if own_cwd >= 0:
            os.close(own_cwd)


def _named(call: str, fn, path: str | None = None):
    try:
        return fn()
    except OSError as err:
        if getattr(err, "syscall", None) is None:
            exc = syscall_error(err.errno, call, path)
            raise exc from None
        raise


def join(opened: OpenTargets) -> Entered:
    """Steps 2-4 on already opened targets: setgroups, setns (fast path or two passes), root, cwd."""
    options = opened.options
    types = opened.types
    uid, gid = _credentials_wanted(options, types)
    setgroups_failed = False
    if NamespaceType.USER in types and not options.preserve_credentials:
        try:
            os.setgroups([])
        except OSError:
            setgroups_failed = True
    if types and not _setns_pidfd(opened):
        _setns_two_passes(opened)
    _change_root_and_cwd(opened)
    fork_needed = NamespaceType.PID in types if options.fork is None else bool(options.fork)
    return Entered(types, fork_needed, uid, gid, setgroups_failed)


# -- step 6: credentials ------------------------------------------------------------------------
def set_credentials(entered: Entered) -> None:
    """setgroups([]) + setgid + setuid as util-linux does after joining (and after its fork)."""
    if entered.gid is not None:
        try:
            os.setgroups([])
        except OSError as err:
            if entered.setgroups_failed_before:
                raise syscall_error(err.errno, "setgroups") from None
        _named("setgid", lambda: os.setgid(entered.gid), f"gid {entered.gid}")
    if entered.uid is not None:
        _named("setuid", lambda: os.setuid(entered.uid), f"uid {entered.uid}")


# -- the in-process API -------------------------------------------------------------------------
def _as_namespace_error(err: OSError) -> NamespaceError:
    exc = NamespaceError(describe_oserror(err))
    exc.errno, exc.syscall, exc.path = err.errno, getattr(err, "syscall", None), err.filename  # type: ignore[attr-defined]
    return exc


def enter_with(options: EnterOptions) -> Entered:
    """Join as ``options`` says, in this process (single-threaded callers). Never forks."""
    from ..proc.fork import assert_single_threaded
    from ..linux.prctl import set_dumpable
    assert_single_threaded("joining namespaces")
    try:
        with open_targets(options) as opened:
            if opened.types:
                set_dumpable(False)  # DESIGN §4.6: execve of the payload resets it
            entered = join(opened)
        set_credentials(entered)
    except OSError as err:
        raise _as_namespace_error(err) from err
    return entered


def enter(pid: int | None, types="all", *, files=None, root=None, cwd=None, cwd_in_ns=None,
          uid: int | None = None, gid: int | None = None, preserve_credentials: bool = False) -> Entered:
    """Join the namespaces of process ``pid`` in this (single-threaded) process.

    ``types``: "all" (``nsenter -a``: every namespace of the target, except the caller's own user
    namespace) or names such as ("net", "uts"). ``files``: {"net": "/run/netns/x"} joins from a
    namespace file instead. ``root``/``cwd``: True for the target's, or a directory path. A joined
    pid namespace applies to children only (see ``run_in``). Raises NamespaceError naming the call
    and path that failed; the process may be partly moved then, exactly as with util-linux.
    """
    return enter_with(make_options(pid, types, files=files, root=root, cwd=cwd, cwd_in_ns=cwd_in_ns,
                                   uid=uid, gid=gid, preserve_credentials=preserve_credentials))


# -- exec ---------------------------------------------------------------------------------------
def exec_program(argv: list[str] | None, env: dict | None = None):
    """execvp(argv), or the user's $SHELL as a login-style "-sh" when argv is empty (util-linux)."""
    from ..proc.fork import reset_signals_for_exec
    reset_signals_for_exec()
    if argv:
        try:
            if env is None:
                os.execvp(argv[0], argv)
            os.execvpe(argv[0], argv, env)
        except OSError as err:
            raise syscall_error(err.errno, "execvp", argv[0]) from None
    shell = (env if env is not None else os.environ).get("SHELL") or "/bin/sh"
    try:
        os.execve(shell, ["-" + os.path.basename(shell)], env if env is not None else os.environ)
    except OSError as err:
        raise syscall_error(err.errno, "execve", shell) from None


def exec_failure_code(err: OSError) -> int:
    """util-linux's exit status for a failed exec: 127 not found, 126 otherwise."""
    return 127 if err.errno == errno.ENOENT else 126


# -- run_in: a program inside ---------------------------------------------------------------------
class EnteredProcess:
    """A program started inside a target's namespaces: ``pid`` (host view), ``wait``, ``kill``.

    ``wait()`` returns the program's exit status (128+signal when killed), as nsenter's is.
    A context manager: leaving it kills a still-running program and reaps it.
    """

    def __init__(self, pid: int, waited_pid: int, popen=None):
        self.pid = pid
        self._waited = waited_pid
        self._popen = popen
        self.returncode: int | None = None
        self._pidfd = -1
        try:
            from ..linux.pidfd import pidfd_open
            self._pidfd = pidfd_open(pid)
        except OSError:
            pass  # already gone: signals become no-ops

    def poll(self) -> int | None:
        if self.returncode is None:
            self._reap(os.WNOHANG)
        return self.returncode

    def _reap(self, flags: int) -> None:
        from ..proc.fork import wait_status_to_code
        if self._popen is not None:
            code = self._popen.poll() if flags else self._popen.wait()
            if code is not None:
                self.returncode = code if code >= 0 else 128 - code
            return
        try:
            pid, status = os.waitpid(self._waited, flags)
        except ChildProcessError:
            self.returncode = self.returncode if self.returncode is not None else 255
            return
        if pid:
            self.returncode = wait_status_to_code(status)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            self._reap(0)
            return self.returncode  # type: ignore[return-value]
        import select
        import subprocess
        import time
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            if self._pidfd >= 0 and self._waited == self.pid:
                select.select([self._pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None or self._pidfd < 0:
            return
        from ..linux.pidfd import pidfd_send_signal
        try:
            pidfd_send_signal(self._pidfd, sig, self.pid)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.send_signal(sig)

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __enter__(self) -> "EnteredProcess":
        return self

    def __exit__(self, *exc) -> None:
        if self.poll() is None:
            self.kill()
            self.wait()
        self.close()

    def __repr__(self) -> str:
        return f"<EnteredProcess pid={self.pid} returncode={self.returncode}>"


def _relay_status(pid: int) -> None:
    """The waiting half after the pid-namespace fork: exit as the program did (util-linux)."""
    while True:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if os.WIFSTOPPED(status):
            os.kill(os.getpid(), signal.SIGSTOP)
            os.kill(pid, signal.SIGCONT)
            continue
        break
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal whose default action is not to terminate
    os._exit(os.waitstatus_to_exitcode(status))


def _child_main(options: EnterOptions, argv: list[str], env: dict | None, chan_fd: int,
                keep_fds: tuple[int, ...]) -> None:
    """The child (or helper) side of run_in: join, maybe fork, credentials, exec. Never returns."""
    import gc
    from ..linux.fd import close_fds_except
    from ..linux.prctl import set_dumpable, set_pdeathsig
    from ..proc.channel import Channel
    gc.disable()
    os.set_inheritable(chan_fd, False)  # the helper inherited it: exec must close it (EOF = exec'd)
    chan = Channel.from_fd(chan_fd)
    parent = os.getppid()
    step = "open"
    try:
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
        with open_targets(options) as opened:
            if opened.types:
                set_dumpable(False)  # DESIGN §4.6
            step = "setns"
            entered = join(opened)
        if entered.fork_needed:
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child:
                chan.send("pid", pid=child)
                chan.close()
                set_pdeathsig(0)  # hand-off: the relay lives as long as the program
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the program decides; we relay
                _relay_status(child)
            set_pdeathsig(signal.SIGKILL)
        else:
            chan.send("pid", pid=os.getpid())
        step = "credentials"
        set_credentials(entered)
        step = "exec"
        close_fds_except(frozenset(keep_fds) | {chan.fileno()})
        for fd in keep_fds:
            if fd > 2:
                os.set_inheritable(fd, True)
        set_pdeathsig(0)  # hand-off: the program outlives its starter, as a Popen child would
        exec_program(argv, env)
    except BaseException as exc:  # noqa: BLE001 - a child reports and exits, never unwinds
        code = exec_failure_code(exc) if step == "exec" and isinstance(exc, OSError) else 1
        try:
            if isinstance(exc, OSError):
                chan.send("error", kind="InitFailed", step=step, message=describe_oserror(exc),
                          syscall=getattr(exc, "syscall", None), path=exc.filename, errno=exc.errno)
            else:
                chan.send_error(exc, step)
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)
    os._exit(1)


def _helper_main() -> None:
    """Entry of the ``python -I -S`` helper a threaded caller starts (argv[1]: JSON request)."""
    import json
    req = json.loads(sys.argv[1])
    _child_main(EnterOptions.from_json(req["options"]), req["argv"], req["env"], req["chan_fd"],
                tuple(req["keep_fds"]))


def _src_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stdio_fds(stdin, stdout, stderr) -> list[int | None]:
    out = []
    for f in (stdin, stdout, stderr):
        out.append(None if f is None else (f if isinstance(f, int) else f.fileno()))
    return out


def run_in(pid: int | None, argv: list[str] | None, types="all", *, files=None, root=None, cwd=None,
           cwd_in_ns=None, uid: int | None = None, gid: int | None = None, preserve_credentials: bool = False,
           fork: bool | None = None, env: dict | None = None, stdin=None, stdout=None, stderr=None,
           pass_fds=(), timeout: float = 30.0) -> EnteredProcess:
    """Start ``argv`` (empty: $SHELL) inside the namespaces of ``pid``; return an EnteredProcess.

    Options as ``enter()``. ``fork``: None forks again after joining a pid namespace so the program
    is in it (False: it is not, as ``nsenter -F``). stdin/stdout/stderr: fds or files (None:
    inherited). Only fds 0-2 and ``pass_fds`` reach the program. Raises NamespaceError (or
    InitFailed with the step) when joining fails, FileNotFoundError-like InitFailed for a bad
    program; nothing is left running then.
    """
    from ..errors import NsboxError, PeerClosed, ProtocolError
    from ..proc.channel import Channel
    from ..proc.fork import fork_child, is_single_threaded
    options = make_options(pid, types, files=files, root=root, cwd=cwd, cwd_in_ns=cwd_in_ns, uid=uid,
                           gid=gid, preserve_credentials=preserve_credentials, fork=fork)
    argv = list(argv or [])
    keep = (0, 1, 2) + tuple(pass_fds)
    ours, theirs = Channel.pair()
    stdio = _stdio_fds(stdin, stdout, stderr)
    popen = None
    try:
        if is_single_threaded():
            def body():
                for target_fd, fd in enumerate(stdio):
                    if fd is not None and fd != target_fd:
                        os.dup2(fd, target_fd)
                ours.close()
                _child_main(options, argv, env, theirs.fileno(), keep)
            child = fork_child(body)
        else:
            import json
            import subprocess
            theirs_fd = theirs.fileno()
            req = {"options": options.to_json(), "argv": argv, "env": env, "chan_fd": theirs_fd,
                   "keep_fds": list(keep)}
            code = (f"import sys; sys.path.insert(0, {_src_root()!r}); "
                    "from nsbox.ns.join import _helper_main; _helper_main()")
            popen = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, json.dumps(req)],
                                     stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                     pass_fds=(theirs_fd,) + tuple(pass_fds), close_fds=True)
            child = popen.pid
    finally:
        theirs.close()
    try:
        with ours:
            try:
                msg, _ = ours.expect("pid", timeout)
            except NsboxError as exc:
                _reap_failed(child, popen, kill=isinstance(exc, ProtocolError))
                raise
            proc = EnteredProcess(int(msg["pid"]), child, popen)
            try:
                ours.recv(timeout)  # an error after the pid (credentials, exec), or EOF: exec'd
            except PeerClosed:
                return proc
            except ProtocolError:
                proc.kill()
                proc.wait()
                proc.close()
                raise
            except NsboxError:
                proc.wait()
                proc.close()
                raise
            proc.kill()
            proc.wait()
            proc.close()
            raise ProtocolError(f"unexpected message from the nsenter child after {msg}")
    except OSError as err:
        raise _as_namespace_error(err) from err


def _reap_failed(child: int, popen, kill: bool = False) -> None:
    if kill:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if popen is not None:
        popen.wait()
        return
    try:
        os.waitpid(child, 0)
    except ChildProcessError:
        pass
