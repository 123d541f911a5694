"""Stage 2: pid 1 of the container. Builds the container around itself, waits on exec.fifo, execs.

    launcher                               stage 2
      | <-- hooks {}  ---------------------- |  mounts done, before pivot: run prestart/createRuntime
      | --- hooks-done --------------------> |
      | <-- pty [master fd]  --------------- |  only with process.terminal
      | <-- ready {} ----------------------- |  everything set up, about to wait on exec.fifo
      | --- committed ---------------------> |  state.json written: safe to wait (EOF instead: exit)
                                             |  open exec.fifo (blocks until `start`), execve

Every import happens before the pivot (at the top of this module, or in ``preload`` for what only some
plans need: a terminal, hooks, a personality, the fallback security): after pivot_root the host's stdlib
is gone, and a module already imported is only looked up in sys.modules.
"""

from __future__ import annotations

import os

from ..linux import consts as c
from ..linux.fd import close_fds_except
from ..linux.mount import mount
from ..linux.prctl import set_dumpable
from ..linux.uts import setdomainname, sethostname
from ..proc.fork import reset_signals_for_exec
from ..rootfs.apply import (apply_ops, enter_root, make_root_readonly, mask_path, prepare_root,
                            readonly_path)

DEBUG = bool(os.environ.get("NSBOX_DEBUG"))
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def preload(plan) -> None:
    """Import, while the host's filesystem is still ours, what the steps will need (each costs start-up
    time, so only what this plan uses)."""
    if (plan.security or {}).get("engine") == "security":
        import nsbox.security.apply  # noqa: F401
        nsbox.security.apply.preload((plan.security or {}).get("plan"))
    else:
        from . import credentials  # noqa: F401
    if plan.terminal:
        import fcntl, struct, termios  # noqa: E401, F401
    if plan.hooks_create_container or plan.hooks_start_container:
        from . import hookexec  # noqa: F401
    if plan.personality is not None:
        from ..linux import personality  # noqa: F401


class Context:
    """What the steps share: the plan, the channel, the security module, fds handed over by the launcher."""

    def __init__(self, plan, chan, fifo_fd: int | None, state_json: str):
        self.plan, self.chan, self.fifo_fd, self.state_json = plan, chan, fifo_fd, state_json
        engine = (plan.security or {}).get("engine")
        if engine == "security":
            from ..security import apply as security_apply  # imported before the pivot
            self.security = security_apply
        else:
            from . import credentials as fallback_security  # preloaded
            self.security = fallback_security
        self.security_plan = (plan.security or {}).get("plan")
        self.executable: str | None = None
        self.env = list(plan.env)
        self.late_seccomp_done = False


# --- the steps ---------------------------------------------------------------------------------

def new_session(ctx):
    os.setsid()


def prepare_mounts(ctx):
    prepare_root(ctx.plan.root, ctx.plan.rootfs_propagation if not ctx.plan.rootfs_propagation & c.MS_SHARED
                 else c.MS_SLAVE | c.MS_REC, readonly=ctx.plan.root_readonly,
                 source=ctx.plan.root_source)


def apply_early_security(ctx):
    if ctx.security_plan is not None:
        ctx.security.apply_early(ctx.security_plan)


def mount_rootfs(ctx):
    apply_ops(ctx.plan.root, list(ctx.plan.rootfs_ops), in_userns=ctx.plan.userns_create,
              new_cgroupns=bool(ctx.plan.ns_create & c.CLONE_NEWCGROUP))


def runtime_hooks(ctx):
    if not ctx.plan.runtime_hooks:
        return  # no hook of the launcher's to wait for, none of ours needs its state document
    ctx.chan.send("hooks")
    msg, _ = ctx.chan.expect("hooks-done", timeout=None)
    ctx.state_json = msg.get("state") or ctx.state_json


def create_container_hooks(ctx):
    if ctx.plan.hooks_create_container:
        from .hookexec import run_hook  # preloaded
        for hook in ctx.plan.hooks_create_container:
            run_hook(hook, ctx.state_json, "createContainer")


def pivot_root(ctx):
    enter_root(ctx.plan.root, ctx.plan.no_pivot)
    if ctx.plan.rootfs_propagation & c.MS_SHARED:
        mount(None, "/", None, ctx.plan.rootfs_propagation)


def write_sysctls(ctx):
    for key, value in ctx.plan.sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError as err:
            err.syscall, err.filename = "write sysctl", path  # type: ignore[attr-defined]
            raise


def protect_paths(ctx):
    for path in ctx.plan.readonly_paths:
        readonly_path(path)
    for path in ctx.plan.masked_paths:
        mask_path(path)


def readonly_root(ctx):
    if ctx.plan.root_readonly:
        make_root_readonly()


def set_names(ctx):
    if ctx.plan.hostname is not None and ctx.plan.ns_create & c.CLONE_NEWUTS:
        sethostname(ctx.plan.hostname)
    if ctx.plan.domainname is not None and ctx.plan.ns_create & c.CLONE_NEWUTS:
        setdomainname(ctx.plan.domainname)


def setup_console(ctx):
    if not ctx.plan.terminal:
        return
    import fcntl, struct, termios  # noqa: E401 - preloaded
    if ctx.plan.exec_mode:
        os.setsid()  # the container's init runs new_session; an exec'd process needs its own for a tty
    master, slave = os.openpty()
    if ctx.plan.console_size and all(ctx.plan.console_size):
        rows, cols = ctx.plan.console_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    name = os.ttyname(slave)
    try:
        if not os.path.exists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        mount(name, "/dev/console", None, c.MS_BIND)
    except OSError:
        pass  # /dev may be read-only; the pty is still the controlling terminal
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    ctx.chan.send("pty", fds=[master])
    os.close(master)


def apply_personality(ctx):
    if ctx.plan.personality is not None:
        from ..linux.personality import set_personality  # preloaded
        set_personality(ctx.plan.personality)


def change_dir(ctx):
    cwd = ctx.plan.cwd or "/"
    try:
        os.makedirs(cwd, 0o755, exist_ok=True)
    except OSError:
        pass
    os.chdir(cwd)
    here = os.getcwd()
    if not here.startswith("/") or os.path.realpath(here) != os.path.realpath(cwd):
        raise OSError(1, f"working directory {cwd} is outside the container root ({here})")


def find_executable(ctx):
    ctx.executable = lookup_executable(ctx.plan.args[0], ctx.plan.env)


def finalize_security(ctx):
    if ctx.security_plan is not None:
        listener_fd = ctx.security.finalize_process(ctx.security_plan)
        if listener_fd is not None:
            send_seccomp_listener(ctx, listener_fd)


def send_seccomp_listener(ctx, fd: int) -> None:
    """As runc: the launcher hands the seccomp notify fd, with the container state, to listenerPath."""
    try:
        ctx.chan.send("seccomp", fds=[fd])
    finally:
        os.close(fd)
    ctx.chan.expect("seccomp-done", timeout=None)


def listener_seccomp(ctx):
    """A late filter (no_new_privs) whose listener goes to an agent is installed while the launcher
    still listens on the channel (runc: before the sync pipe closes), not after exec.fifo."""
    seccomp = (ctx.security_plan or {}).get("seccomp") or {}
    if seccomp.get("install") == "late" and seccomp.get("listener_path"):
        listener_fd = ctx.security.install_late_seccomp(ctx.security_plan)
        ctx.late_seccomp_done = True
        if listener_fd is not None:
            send_seccomp_listener(ctx, listener_fd)


def default_home(ctx):
    """As runc: without HOME in the environment, the user's home from the rootfs's /etc/passwd, else "/"."""
    if any(e.startswith("HOME=") for e in ctx.env):
        return
    uid, home = str(os.getuid()), "/"
    try:
        with open("/etc/passwd") as f:  # parsed by hand: pwd/NSS would load the container's libraries
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == uid:
                    home = fields[5] or "/"
                    break
    except OSError:
        pass
    ctx.env.append(f"HOME={home}")


def report_ready(ctx):
    ctx.chan.send("ready")
    ctx.chan.expect("committed", timeout=None)


def wait_for_start(ctx):
    if ctx.fifo_fd is None:
        return
    path = f"/proc/self/fd/{ctx.fifo_fd}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        err.syscall, err.filename = "open exec.fifo", path  # type: ignore[attr-defined]
        raise
    os.write(fd, b"0")
    os.close(fd)


def start_container_hooks(ctx):
    if ctx.plan.hooks_start_container:
        from .hookexec import run_hook  # preloaded
        for hook in ctx.plan.hooks_start_container:
            run_hook(hook, ctx.state_json, "startContainer")


def late_seccomp(ctx):
    if ctx.security_plan is not None and not ctx.late_seccomp_done:
        ctx.security.install_late_seccomp(ctx.security_plan)


# Order matters; the reason for each position:
SETUP_STEPS = (
    new_session,             # pid 1 leads its own session (and can take a controlling tty)
    prepare_mounts,          # propagation first, so nothing below leaks mounts back to the host
    apply_early_security,    # rlimits/oom_score_adj, the session keyring: still privileged, in the old root
    mount_rootfs,            # mounts, devices, /dev symlinks: paths resolved inside the rootfs
    runtime_hooks,           # prestart/createRuntime: namespaces exist, the rootfs is mounted
    create_container_hooks,  # createContainer: in the container's namespaces, before the pivot
    pivot_root,              # from here on the host's filesystem (and stdlib) is gone
    write_sysctls,           # needs the container's own /proc/sys, before it is made read-only
    protect_paths,           # readonlyPaths, maskedPaths (after sysctls were written)
    readonly_root,           # root.readonly last among mounts
    set_names,               # hostname, domainname
    setup_console,           # the pty from the container's devpts; sent to the launcher
    apply_personality,
    change_dir,              # cwd inside the new root (checked)
    find_executable,         # a missing binary fails `create`, as in runc
    finalize_security,       # groups, uid/gid, capabilities, no_new_privs: the last privileged step
    default_home,            # HOME for the final uid, from the container's /etc/passwd
    listener_seccomp,        # a late filter with a listenerPath: its fd must reach the launcher
    report_ready,            # the launcher writes state.json; we may now wait
)
EXEC_STEPS = (
    apply_early_security,    # rlimits of the exec'd process
    setup_console,           # its own pty, when it asks for a terminal
    change_dir,
    find_executable,
    finalize_security,
    default_home,
    listener_seccomp,
    report_ready,
)
START_STEPS = (
    wait_for_start,          # blocks until `start` opens exec.fifo
    start_container_hooks,
    late_seccomp,            # seccomp last, right before execve
)


def lookup_executable(name: str, env) -> str:
    """runc's wording, which callers (podman) map to exit codes 127 (not found) and 126 (not executable)."""
    if "/" in name:
        if not os.path.exists(name):
            raise OSError(2, f'exec: "{name}": stat {name}: no such file or directory')
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise OSError(13, f'exec: "{name}": permission denied')
        return name
    path = DEFAULT_PATH
    for item in env:
        if item.startswith("PATH="):
            path = item[5:]
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise OSError(2, f'exec: "{name}": executable file not found in $PATH')


def exec_payload(ctx) -> None:
    keep = set(range(3, 3 + ctx.plan.preserve_fds))
    close_fds_except(keep)
    reset_signals_for_exec()
    env = dict(e.split("=", 1) for e in ctx.env if "=" in e)
    os.execve(ctx.executable, list(ctx.plan.args), env)


def run_steps(ctx, steps) -> None:
    for step in steps:
        try:
            step(ctx)
        except BaseException as exc:  # noqa: BLE001 - crosses to the launcher as fields
            if DEBUG:
                import traceback  # only with NSBOX_DEBUG: may fail after the pivot
                traceback.print_exc()
            ctx.chan.send_error(exc, step.__name__.replace("_", " "))
            os._exit(1)


def run(plan, chan, fifo_fd: int | None = None, state_json: str = "{}", sync=None) -> int:
    if sync is not None:
        os.close(sync[1])
        released = os.read(sync[0], 1)  # stage 1 has sent our pid; EOF: it died, and so do we
        os.close(sync[0])
        if not released:
            return 1
    try:
        ctx = Context(plan, chan, fifo_fd, state_json)
    except BaseException as exc:  # noqa: BLE001
        chan.send_error(exc, "stage 2")
        return 1
    run_steps(ctx, SETUP_STEPS if not plan.exec_mode else EXEC_STEPS)
    run_steps(ctx, START_STEPS)
    try:
        exec_payload(ctx)
    except OSError as exc:
        os.write(2, f"nsbox-runc: exec {ctx.executable}: {exc.strerror}\n".encode())
    return 127
