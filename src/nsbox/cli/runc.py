"""`nsbox-runc`: runc 1.1's command line over nsbox.runtime.

Errors: one line on stderr ("nsbox-runc: container x does not exist"), exit 1; with --log-format json a
runc/logrus JSON line ({"level","msg","time"}) goes to the --log file (or stderr).
"""

from __future__ import annotations

from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)
import os
import sys
import time

from .. import __version__

SPEC_VERSION = "1.0.2-dev"
PROG = "nsbox-runc"


def _parser_class():
    """argparse costs ~10 ms of start-up (re, gettext, locale): only for --help, errors and rare commands."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            from ..errors import UsageError
            raise UsageError(message)

    return Parser


GLOBAL_VALUE_OPTS = ("--root", "--log", "--log-format", "--rootless", "--criu")
GLOBAL_FLAGS = ("--debug", "--systemd-cgroup", "-v", "--version", "-h", "--help")
COMMAND_HELP = {
    "create": "create a container", "run": "create and run a container", "start": "start a created container",
    "state": "output the state of a container", "kill": "send a signal to the container's init (default SIGTERM)",
    "delete": "delete a container", "list": "list containers", "ps": "processes running inside a container",
    "exec": "execute a new process inside the container", "spec": "create a new specification file",
    "features": "show the enabled features", "pause": "pause all processes in the container",
    "resume": "resume all processes in the container",
    "update": "update container resource constraints",
    "events": "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
}


def split_global(argv: list[str]) -> tuple[list[str], list[str]]:
    """Global options (before the command) and the command with its own arguments."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_VALUE_OPTS:
            i += 1 if "=" in arg else 2
        elif arg in GLOBAL_FLAGS:
            i += 1
        else:
            break
    return argv[:i], argv[i:]


def build_global_parser():
    import argparse
    p = _parser_class()(prog=PROG, description="an OCI runtime (runc-compatible command line)",
               epilog="commands: " + ", ".join(COMMAND_HELP))
    p.add_argument("--root", default=None, help="state directory (default /run/nsbox, rootless $XDG_RUNTIME_DIR/nsbox)")
    p.add_argument("--log", default=None, help="log file (default stderr)")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--rootless", default="auto", choices=("true", "false", "auto"))
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    p.add_argument("-v", "--version", action="store_true")
    return p


def build_command_parser(name: str):
    """Only the parser of the command being run: building all of them costs ~15 ms of start-up."""
    import argparse
    c = _parser_class()(prog=f"{PROG} {name}", description=COMMAND_HELP[name])
    if name in ("create", "run"):
        c.add_argument("id")
        c.add_argument("-b", "--bundle", default=".")
        c.add_argument("--pid-file")
        c.add_argument("--console-socket")
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        c.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            c.add_argument("-d", "--detach", action="store_true")
            c.add_argument("--keep", action="store_true")
            c.add_argument("--no-subreaper", action="store_true")
    elif name in ("start", "state", "pause", "resume"):
        c.add_argument("id")
    elif name == "kill":
        c.add_argument("-a", "--all", action="store_true")
        c.add_argument("id")
        c.add_argument("signal", nargs="?", default="SIGTERM")
    elif name == "delete":
        c.add_argument("-f", "--force", action="store_true")
        c.add_argument("id")
    elif name == "list":
        c.add_argument("-f", "--format", default="table", choices=("table", "json"))
        c.add_argument("-q", "--quiet", action="store_true")
    elif name == "ps":
        c.add_argument("-f", "--format", default="table", choices=("table", "json"))
        c.add_argument("id")
        c.add_argument("ps_options", nargs=argparse.REMAINDER)
    elif name == "exec":
        c.add_argument("-p", "--process")
        c.add_argument("-t", "--tty", action="store_true")
        c.add_argument("-d", "--detach", action="store_true")
        c.add_argument("--pid-file")
        c.add_argument("--console-socket")
        c.add_argument("--cwd")
        c.add_argument("-e", "--env", action="append", default=[])
        c.add_argument("-u", "--user")
        c.add_argument("-g", "--additional-gids", action="append", default=[])
        c.add_argument("-c", "--cap", action="append", default=[])
        c.add_argument("--no-new-privs", action="store_true")
        c.add_argument("--preserve-fds", type=int, default=0)
        c.add_argument("--ignore-paused", action="store_true")
        c.add_argument("id")
        c.add_argument("args", nargs=argparse.REMAINDER)
    elif name == "update":
        c.add_argument("-r", "--resources", help="linux.resources JSON file, or - for stdin (other options ignored)")
        from ..runtime.update import FLAGS, IGNORED_FLAGS, RDT_FLAGS
        for flag, _, _, _ in FLAGS:
            names = ["--" + flag] + (["--cpu-shares"] if flag == "cpu-share" else [])
            c.add_argument(*names, dest=flag.replace("-", "_"), default=None)
        for flag in IGNORED_FLAGS + tuple(RDT_FLAGS):
            c.add_argument("--" + flag, dest=flag.replace("-", "_"), default=None)
        c.add_argument("id")
    elif name == "events":
        c.add_argument("--interval", default="5s")
        c.add_argument("--stats", action="store_true")
        c.add_argument("id")
    elif name == "spec":
        c.add_argument("--rootless", dest="spec_rootless", action="store_true")
        c.add_argument("-b", "--bundle", default=".")
    return c


# --- the fast path: the lifecycle commands in their plain spellings, without argparse -------------
# Anything not listed exactly here (abbreviations, -bX, --, -h, bad values, extra words) returns None
# from fast_parse and goes to argparse, which gives the same result or the same error as before.
# (name, dest, kind, default): kind "flag" (store_true), "str", "int", or a tuple of choices
FAST_GLOBAL = {"--root": ("root", "str"), "--log": ("log", "str"), "--log-format": ("log_format", ("text", "json")),
               "--debug": ("debug", "flag"), "--systemd-cgroup": ("systemd_cgroup", "flag"),
               "--rootless": ("rootless", ("true", "false", "auto")), "--criu": ("criu", "str"),
               "-v": ("version", "flag"), "--version": ("version", "flag")}
FAST_GLOBAL_DEFAULTS = {"root": None, "log": None, "log_format": "text", "debug": False, "systemd_cgroup": False,
                        "rootless": "auto", "criu": None, "version": False}
_CREATE_OPTS = {"-b": ("bundle", "str"), "--bundle": ("bundle", "str"), "--pid-file": ("pid_file", "str"),
                "--console-socket": ("console_socket", "str"), "--no-pivot": ("no_pivot", "flag"),
                "--no-new-keyring": ("no_new_keyring", "flag"), "--preserve-fds": ("preserve_fds", "int")}
_CREATE_DEFAULTS = {"bundle": ".", "pid_file": None, "console_socket": None, "no_pivot": False,
                    "no_new_keyring": False, "preserve_fds": 0}
# command -> (options, defaults, positional dests, how many of them are required)
FAST_COMMANDS = {
    "create": (_CREATE_OPTS, _CREATE_DEFAULTS, ("id",), 1),
    "run": ({**_CREATE_OPTS, "-d": ("detach", "flag"), "--detach": ("detach", "flag"), "--keep": ("keep", "flag"),
             "--no-subreaper": ("no_subreaper", "flag")},
            {**_CREATE_DEFAULTS, "detach": False, "keep": False, "no_subreaper": False}, ("id",), 1),
    "start": ({}, {}, ("id",), 1),
    "state": ({}, {}, ("id",), 1),
    "delete": ({"-f": ("force", "flag"), "--force": ("force", "flag")}, {"force": False}, ("id",), 1),
    "kill": ({"-a": ("all", "flag"), "--all": ("all", "flag")}, {"all": False, "signal": "SIGTERM"},
             ("id", "signal"), 1),
}


class Args:
    """What argparse.Namespace would hold, for the fast path."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return f"Args({self.__dict__!r})"


def _fast_options(argv: list[str], table: dict, values: dict, positional: list[str] | None) -> bool:
    """Fill ``values`` from ``argv``; False when argparse must decide (anything unusual)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            if positional is None:
                return False
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=")
        spec = table.get(name)
        if spec is None:
            return False
        dest, kind = spec
        if kind == "flag":
            if eq:
                return False
            values[dest] = True
            continue
        if not eq:
            if i >= len(argv):
                return False
            value = argv[i]
            i += 1
        if value.startswith("-"):
            return False
        if kind == "int":
            if not value.isdigit() or not value.isascii():
                return False
            values[dest] = int(value)
        elif isinstance(kind, tuple):
            if value not in kind:
                return False
            values[dest] = value
        else:
            values[dest] = value
    return True


def fast_parse(argv: list[str]):
    """The lifecycle commands without argparse; None when argparse has to parse ``argv``."""
    global_argv, rest = split_global(argv)
    values = dict(FAST_GLOBAL_DEFAULTS)
    if not rest or not _fast_options(global_argv, FAST_GLOBAL, values, None) or values["version"]:
        return None
    name = rest[0]
    if name not in FAST_COMMANDS:
        return None
    table, defaults, dests, required = FAST_COMMANDS[name]
    values.update(defaults)
    positional: list[str] = []
    if not _fast_options(rest[1:], table, values, positional):
        return None
    if not required <= len(positional) <= len(dests):
        return None
    values.update(zip(dests, positional))
    return Args(command=name, **values)


def parse_args(argv: list[str]):
    fast = fast_parse(argv)
    if fast is not None:
        return fast
    from ..errors import UsageError
    global_argv, rest = split_global(argv)
    args = build_global_parser().parse_args(global_argv)
    args.command = None
    if args.version or not rest:
        return args
    name = rest[0]
    if name not in COMMAND_HELP:
        raise UsageError(f"unknown command {name!r} (commands: {', '.join(COMMAND_HELP)})")
    args.command = name
    build_command_parser(name).parse_args(rest[1:], namespace=args)
    return args


def in_user_namespace() -> bool:
    """True inside a user namespace other than the initial one (its uid_map is not the identity)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def resolve_rootless(value: str) -> bool:
    """runc's --rootless auto: rootless when not root, or root only inside a user namespace."""
    if value == "true":
        return True
    if value == "false":
        return False
    return os.geteuid() != 0 or in_user_namespace()


def default_root() -> str | None:
    """As runc: $XDG_RUNTIME_DIR/nsbox also for "root" inside a user namespace (rootless podman)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() == 0 and xdg and in_user_namespace() and os.environ.get("USER") != "root":
        return os.path.join(xdg, "nsbox")
    return None


def runtime_for(args):
    from ..runtime.container import Runtime
    return Runtime(root=args.root or default_root(), rootless=resolve_rootless(args.rootless),
                   warn=lambda message: log_warning(args, message))


# --- commands -------------------------------------------------------------------------------------

def _warm_cgroup_lock() -> None:
    """Before the runtime's imports: see nsbox.runtime.cgroup_warmup (launch() stops it before forking)."""
    from ..runtime import cgroup_warmup
    cgroup_warmup.start()


def do_create(args) -> int:
    _warm_cgroup_lock()
    runtime_for(args).create(args.id, args.bundle, pid_file=args.pid_file, console_socket=args.console_socket,
                             no_pivot=args.no_pivot, no_new_keyring=args.no_new_keyring,
                             preserve_fds=args.preserve_fds)
    return 0


def do_run(args) -> int:
    _warm_cgroup_lock()
    from ..runtime.foreground import run_container
    return run_container(runtime_for(args), args.id, args.bundle, detach=args.detach, keep=args.keep,
                         pid_file=args.pid_file, console_socket=args.console_socket, no_pivot=args.no_pivot,
                         no_new_keyring=args.no_new_keyring, preserve_fds=args.preserve_fds,
                         subreaper=not args.no_subreaper)


def do_start(args) -> int:
    runtime_for(args).start(args.id)
    return 0


def do_state(args) -> int:
    print(json.dumps(runtime_for(args).state(args.id), indent=2))
    return 0


def do_kill(args) -> int:
    from ..errors import UsageError
    from ..oci.signals import parse_signal
    try:
        sig = parse_signal(args.signal)
    except ValueError as err:
        raise UsageError(str(err)) from None
    runtime_for(args).kill(args.id, sig, all_processes=args.all)
    return 0


def do_delete(args) -> int:
    runtime_for(args).delete(args.id, force=args.force)
    return 0


def do_list(args) -> int:
    docs = runtime_for(args).list()
    if args.quiet:
        for d in docs:
            print(d["id"])
    elif args.format == "json":
        print(json.dumps(docs or None))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"], d["owner"]) for d in docs]
        widths = [max(12, max(len(r[i]) + 3 for r in rows)) for i in range(6)]
        for r in rows:
            print("".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + r[-1])
    return 0


def do_ps(args) -> int:
    import subprocess
    rt = runtime_for(args)
    state = rt.state(args.id)
    pids = rt.pids(args.id)
    if args.format == "json":
        print(json.dumps(pids or None))  # runc (Go) prints a nil slice as null
        return 0
    opts = [o for o in args.ps_options if o != "--"] or ["-ef"]
    res = subprocess.run(["ps", *opts], capture_output=True, text=True, timeout=30)
    if res.returncode:
        from ..errors import NsboxError
        raise NsboxError(f"ps {' '.join(opts)} failed: {res.stderr.strip()}")
    lines = res.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        from ..errors import NsboxError
        raise NsboxError("couldn't find PID field in ps output")
    col = header.index("PID")
    print(lines[0])
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)
    _ = state
    return 0


def do_exec(args) -> int:
    from ..runtime.exec import exec_from_cli
    return exec_from_cli(runtime_for(args), args)


def do_spec(args) -> int:
    from ..errors import NsboxError
    from ..oci.defaults import default_spec
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise NsboxError("File config.json exists. Remove it first.")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=args.spec_rootless), f, indent="\t")
    return 0


def do_features(args) -> int:
    from ..oci.features import features_document
    print(json.dumps(features_document(), indent=4))
    return 0


def do_pause(args) -> int:
    return _freeze(args, True)


def do_resume(args) -> int:
    return _freeze(args, False)


def _freeze(args, freeze: bool) -> int:
    from ..errors import InvalidState, Unsupported
    rt = runtime_for(args)
    state = rt.store.read(args.id)
    cg = rt._cgroup(state)
    if cg is None:
        raise Unsupported("pause/resume", "the container has no cgroup")
    status = rt.status_of(args.id, state)
    if freeze and status != "running":
        raise InvalidState(args.id, status, "running", "container not running")
    if not freeze and status != "paused":
        raise InvalidState(args.id, status, "paused", "container not paused")
    cg.freeze() if freeze else cg.thaw()
    return 0


def do_update(args) -> int:
    from ..runtime import update
    if args.resources:
        res = update.resources_from_file(args.resources)
    else:
        res = update.resources_from_flags(vars(args))
    update.update_container(runtime_for(args), args.id, res)
    return 0


def do_events(args) -> int:
    from ..runtime import events
    interval = events.parse_duration(args.interval)
    rt = runtime_for(args)
    if args.stats:
        events.print_stats(rt, args.id)
    else:
        events.stream(rt, args.id, interval)
    return 0


COMMANDS = {"create": do_create, "run": do_run, "start": do_start, "state": do_state, "kill": do_kill,
            "delete": do_delete, "list": do_list, "ps": do_ps, "exec": do_exec, "spec": do_spec,
            "features": do_features, "pause": do_pause, "resume": do_resume, "update": do_update,
            "events": do_events}


# --- errors and logs ------------------------------------------------------------------------------

def log_line(fmt: str, level: str, msg: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if fmt == "json":
        return json.dumps({"level": level, "msg": msg, "time": now}, separators=(",", ":"))
    return f'time="{now}" level={level} msg={json.dumps(msg)}'


def log_warning(args, message: str) -> None:
    """As runc: a logrus line (text or JSON) at level warning, to --log if given, else stderr."""
    line = log_line(getattr(args, "log_format", "text"), "warning", message) + "\n"
    log = getattr(args, "log", None)
    if log:
        try:
            with open(log, "a") as f:
                f.write(line)
            return
        except OSError:
            pass
    sys.stderr.write(line)
    sys.stderr.flush()


def report_error(args, message: str) -> None:
    fmt = getattr(args, "log_format", "text") if args else "text"
    log = getattr(args, "log", None) if args else None
    if log:
        try:
            with open(log, "a") as f:
                f.write(log_line(fmt, "error", message) + "\n")
        except OSError:
            pass
    if fmt == "json" and not log:
        sys.stderr.write(log_line(fmt, "error", message) + "\n")
    else:
        sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """With ``argv`` None (the program itself) the process ends here: stdio flushed, then os._exit, which
    skips the interpreter's teardown (~10 ms of freeing modules nobody will use again)."""
    if argv is not None:
        return _main(list(argv))
    import gc
    gc.disable()  # a short-lived process: collections during start-up (~1.5-2 ms) find nothing to free
    code = _main(sys.argv[1:], program=True)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = 120  # as the interpreter's own exit does when stdout cannot be flushed
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _main(argv: list[str], program: bool = False) -> int:
    from ..cli.common import message_for
    args = None
    debug = "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)] or bool(os.environ.get("NSBOX_DEBUG"))
    try:
        args = parse_args(argv)
        if program and args.command not in FAST_COMMANDS:
            import gc
            gc.enable()  # events, exec, ps, ...: may run long; only the lifecycle commands go without
        if args.version:
            print(f"{PROG} version {__version__}\nspec: {SPEC_VERSION}")
            return 0
        if args.command is None:
            build_global_parser().print_help()
            return 0
        if args.systemd_cgroup:
            from ..errors import Unsupported
            raise Unsupported("--systemd-cgroup", "systemd cgroup driver is not supported")
        return COMMANDS[args.command](args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - the one place errors become output
        if debug:
            import traceback
            traceback.print_exc()
        report_error(args, message_for(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
