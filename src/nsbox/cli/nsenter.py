"""`nsbox nsenter`: run a program in the namespaces of another process (util-linux 2.38.1 nsenter).

Options are parsed the getopt_long way (util-linux's "+ahVt:m::u::i::n::p::C::U::T::S:G:r::w::W:FZ"):
an optional argument must be attached (``-n/run/netns/x``, ``--net=/run/netns/x``), long options may
be abbreviated, and parsing stops at the first non-option (the program).
"""

from __future__ import annotations

import os
import signal
import sys

from ..errors import UsageError

PROG = "nsbox nsenter"

USAGE = """
Usage:
 nsbox nsenter [options] [<program> [<argument>...]]

Run a program with namespaces of other processes.

Options:
 -a, --all              enter all namespaces
 -t, --target <pid>     target process to get namespaces from
 -m, --mount[=<file>]   enter mount namespace
 -u, --uts[=<file>]     enter UTS namespace (hostname etc)
 -i, --ipc[=<file>]     enter System V IPC namespace
 -n, --net[=<file>]     enter network namespace
 -p, --pid[=<file>]     enter pid namespace
 -C, --cgroup[=<file>]  enter cgroup namespace
 -U, --user[=<file>]    enter user namespace
 -T, --time[=<file>]    enter time namespace
 -S, --setuid <uid>     set uid in entered namespace
 -G, --setgid <gid>     set gid in entered namespace
     --preserve-credentials do not touch uids or gids
 -r, --root[=<dir>]     set the root directory
 -w, --wd[=<dir>]       set the working directory
 -W, --wdns <dir>       set the working directory in namespace
 -F, --no-fork          do not fork before exec'ing <program>
 -Z, --follow-context   set SELinux context according to --target PID

     --debug            show a traceback on errors
 -h, --help             display this help
 -V, --version          display version

For more details see nsenter(1).
"""

NO, REQUIRED, OPTIONAL = 0, 1, 2
# short letter -> (long name, argument kind)
OPTIONS = {
    "a": ("all", NO), "h": ("help", NO), "V": ("version", NO), "t": ("target", REQUIRED),
    "m": ("mount", OPTIONAL), "u": ("uts", OPTIONAL), "i": ("ipc", OPTIONAL), "n": ("net", OPTIONAL),
    "p": ("pid", OPTIONAL), "C": ("cgroup", OPTIONAL), "U": ("user", OPTIONAL), "T": ("time", OPTIONAL),
    "S": ("setuid", REQUIRED), "G": ("setgid", REQUIRED), "r": ("root", OPTIONAL), "w": ("wd", OPTIONAL),
    "W": ("wdns", REQUIRED), "F": ("no-fork", NO), "Z": ("follow-context", NO),
}
LONG_ONLY = {"preserve-credentials": NO, "debug": NO}
LONG = {name: (short, kind) for short, (name, kind) in OPTIONS.items()}
LONG.update({name: (name, kind) for name, kind in LONG_ONLY.items()})
NAMESPACE_OPTIONS = {"m": "mnt", "u": "uts", "i": "ipc", "n": "net", "p": "pid", "C": "cgroup",
                     "U": "user", "T": "time"}


def getopt(argv: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """getopt_long with a leading '+': (option key, value) pairs and the remaining operands."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return out, argv[i + 1:]
        if not arg.startswith("-") or arg == "-":
            return out, argv[i:]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in LONG if n.startswith(name)]
            if name in LONG:
                matches = [name]
            if not matches:
                raise UsageError(f"unrecognized option '--{name}'")
            if len(matches) > 1:
                raise UsageError(f"option '--{name}' is ambiguous; possibilities: "
                                 + " ".join(f"'--{m}'" for m in matches))
            key, kind = LONG[matches[0]]
            if kind == NO and eq:
                raise UsageError(f"option '--{matches[0]}' doesn't allow an argument")
            if kind == REQUIRED and not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"option '--{matches[0]}' requires an argument")
                i += 1
                value = argv[i]
            out.append((key, value if (eq or kind == REQUIRED) else None))
            i += 1
            continue
        j = 1
        while j < len(arg):
            letter = arg[j]
            if letter not in OPTIONS:
                raise UsageError(f"invalid option -- '{letter}'")
            kind = OPTIONS[letter][1]
            rest = arg[j + 1:]
            if kind == NO:
                out.append((letter, None))
                j += 1
                continue
            if rest:
                out.append((letter, rest))
            elif kind == OPTIONAL:
                out.append((letter, None))
            else:
                if i + 1 >= len(argv):
                    raise UsageError(f"option requires an argument -- '{letter}'")
                i += 1
                out.append((letter, argv[i]))
            break
        i += 1
    return out, []


def parse_number(value: str, what: str) -> int:
    try:
        number = int(value.strip(), 10)
    except ValueError:
        number = -1
    if not 0 <= number <= 0xFFFFFFFF:
        raise UsageError(f"failed to parse {what}: '{value}'")
    return number


def parse(argv: list[str]):
    """argv -> (EnterOptions, program argv, follow_context, debug) or "help" / "version"."""
    from ..ns.join import EnterOptions
    target = None
    types: list[str] = []
    files: dict[str, str] = {}
    root = cwd = cwd_in_ns = None
    uid = gid = None
    preserve = False
    fork = None
    follow_context = False
    debug = False
    pairs, program = getopt(argv)
    for key, value in pairs:
        if key == "h":
            return "help"
        if key == "V":
            return "version"
        if key == "a":
            types.append("all")
        elif key == "t":
            target = parse_number(value, "pid")
        elif key in NAMESPACE_OPTIONS:
            name = NAMESPACE_OPTIONS[key]
            if value is None:
                types.append(name)  # util-linux: the target's file wins over a --ns=FILE
            else:
                files[name] = value
        elif key == "S":
            uid = parse_number(value, "uid")
        elif key == "G":
            gid = parse_number(value, "gid")
        elif key == "r":
            root = True if value is None else value
        elif key == "w":
            cwd = True if value is None else value
        elif key == "W":
            cwd_in_ns = value
        elif key == "F":
            fork = False
        elif key == "Z":
            follow_context = True
        elif key == "preserve-credentials":
            preserve = True
        elif key == "debug":
            debug = True
    if cwd is not None and cwd_in_ns is not None:
        raise UsageError("mutually exclusive arguments: --wdns --wd")
    options = EnterOptions(target=target or None, types=tuple(dict.fromkeys(types)),
                           files=tuple(files.items()), root=root, cwd=cwd, cwd_in_ns=cwd_in_ns, uid=uid,
                           gid=gid, preserve_credentials=preserve, fork=fork)
    return options, program, follow_context, debug


def follow_selinux_context(target: int | None) -> None:
    """-Z: exec with the target's SELinux context (an error where SELinux is not enabled)."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        raise UsageError("--follow-context: SELinux is not enabled on this system")
    if not target:
        raise UsageError("no target PID specified for --follow-context")
    try:
        with open(f"/proc/{target}/attr/current", "rb") as f:
            context = f.read().rstrip(b"\0\n")
        with open("/proc/self/attr/exec", "wb") as f:
            f.write(context)
    except OSError as err:
        raise UsageError(f"failed to follow the SELinux context of pid {target}: {err.strerror}") from None


def continue_as_child() -> None:
    """Fork after joining a pid namespace; the parent waits and exits as the program did."""
    from ..ns.join import _relay_status
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # like util-linux: a ^C ends both
    _relay_status(child)


def finish_in_child(entered, program: list[str], debug: bool) -> None:
    """Credentials and exec in the forked child: report failures here and _exit (DESIGN §4.1)."""
    from ..ns.join import exec_failure_code, exec_program, set_credentials
    from .common import message_for
    step = "credentials"
    try:
        set_credentials(entered)
        step = "exec"
        exec_program(program)
    except BaseException as exc:  # noqa: BLE001
        if debug:
            import traceback
            traceback.print_exc()
        os.write(2, f"{PROG}: {message_for(exc)}\n".encode())
        os._exit(exec_failure_code(exc) if step == "exec" and isinstance(exc, OSError) else 1)


def body(argv: list[str], state: dict) -> int:
    from .. import __version__
    parsed = parse(argv)
    if parsed == "help":
        sys.stdout.write(USAGE)
        return 0
    if parsed == "version":
        sys.stdout.write(f"{PROG} from nsbox {__version__}\n")
        return 0
    options, program, follow_context, debug = parsed
    state["debug"] = state["debug"] or debug
    if follow_context:
        follow_selinux_context(options.target)
    from ..linux.prctl import set_dumpable
    from ..ns.join import exec_failure_code, join, open_targets
    from ..proc.fork import assert_single_threaded
    assert_single_threaded("nsenter")
    with open_targets(options) as opened:
        if opened.types:
            set_dumpable(False)  # DESIGN §4.6 (execve of the program resets it)
        entered = join(opened)
    if entered.fork_needed:
        continue_as_child()
        finish_in_child(entered, program, state["debug"])
    from ..ns.join import exec_program, set_credentials
    set_credentials(entered)
    try:
        exec_program(program)
    except OSError as err:
        err.exit_code = exec_failure_code(err)  # type: ignore[attr-defined]
        raise
    return 1


def main(argv: list[str] | None = None) -> int:
    from .common import message_for
    argv = list(sys.argv[1:] if argv is None else argv)
    state = {"debug": bool(os.environ.get("NSBOX_DEBUG"))}
    try:
        return body(argv, state)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except BaseException as exc:  # noqa: BLE001 - the one place exceptions become output
        if state["debug"]:
            import traceback
            traceback.print_exc()
        hint = f" (try '{PROG} --help')" if isinstance(exc, UsageError) and "option" in str(exc) else ""
        sys.stderr.write(f"{PROG}: {message_for(exc)}{hint}\n")
        sys.stderr.flush()
        return getattr(exc, "exit_code", 1)


if __name__ == "__main__":
    sys.exit(main())
