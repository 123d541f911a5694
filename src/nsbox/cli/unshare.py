"""`nsbox unshare`: run a program in new namespaces, with util-linux 2.38 unshare's options and exit codes.

Parsed like getopt_long with "+": options stop at the first program argument; long options may be
abbreviated; a namespace file is only given as ``--net=FILE`` (short options take none).
The work is ``nsbox.ns.launch.unshare_and_exec``: this process unshares itself and execs the program
(or forks it with -f), as util-linux does.
"""

from __future__ import annotations

import os
import sys

PROG = "nsbox unshare"

NS_LONG = {"mount": "mnt", "uts": "uts", "ipc": "ipc", "net": "net", "pid": "pid", "user": "user",
           "cgroup": "cgroup", "time": "time"}
NS_SHORT = {"m": "mnt", "u": "uts", "i": "ipc", "n": "net", "p": "pid", "U": "user", "C": "cgroup", "T": "time"}
# long option -> argument: None (no argument), "opt" (optional, only as --x=ARG), "req"
LONG = {**{k: "opt" for k in NS_LONG}, "fork": None, "kill-child": "opt", "mount-proc": "opt",
        "map-root-user": None, "map-current-user": None, "map-user": "req", "map-users": "req",
        "map-group": "req", "map-groups": "req", "map-auto": None, "setgroups": "req",
        "propagation": "req", "root": "req", "wd": "req", "setuid": "req", "setgid": "req",
        "monotonic": "req", "boottime": "req", "keep-caps": None, "help": None, "version": None,
        "debug": None}
SHORT_ALIAS = {"f": "fork", "r": "map-root-user", "c": "map-current-user", "R": "root", "w": "wd",
               "S": "setuid", "G": "setgid", "h": "help", "V": "version"}

USAGE = f"""Usage:
 {PROG} [options] [<program> [<argument>...]]

Run a program with some namespaces unshared from the parent.

Options:
 -m, --mount[=<file>]      unshare mounts namespace
 -u, --uts[=<file>]        unshare UTS namespace (hostname etc)
 -i, --ipc[=<file>]        unshare System V IPC namespace
 -n, --net[=<file>]        unshare network namespace
 -p, --pid[=<file>]        unshare pid namespace
 -U, --user[=<file>]       unshare user namespace
 -C, --cgroup[=<file>]     unshare cgroup namespace
 -T, --time[=<file>]       unshare time namespace

 -f, --fork                fork before launching <program>
 --map-user=<uid>|<name>   map current user to uid (implies --user)
 --map-group=<gid>|<name>  map current group to gid (implies --user)
 -r, --map-root-user       map current user to root (implies --user)
 -c, --map-current-user    map current user to itself (implies --user)
 --map-auto                map users and groups automatically (implies --user)
 --map-users=<outeruid>,<inneruid>,<count>|<inner>:<outer>:<count>|auto
                           map count users from outeruid to inneruid (implies --user)
 --map-groups=<outergid>,<innergid>,<count>|<inner>:<outer>:<count>|auto
                           map count groups from outergid to innergid (implies --user)

 --kill-child[=<signame>]  when dying, kill the forked child (implies --fork)
                             defaults to SIGKILL
 --mount-proc[=<dir>]      mount proc filesystem first (implies --mount)
 --propagation slave|shared|private|unchanged
                           modify mount propagation in mount namespace
 --setgroups allow|deny    control the setgroups syscall in user namespaces
 --keep-caps               retain capabilities granted in user namespaces

 -R, --root=<dir>          run the command with root directory set to <dir>
 -w, --wd=<dir>            change working directory to <dir>
 -S, --setuid <uid>        set uid in entered namespace
 -G, --setgid <gid>        set gid in entered namespace
 --monotonic <offset>      set clock monotonic offset (seconds) in time namespaces
 --boottime <offset>       set clock boottime offset (seconds) in time namespaces

 -h, --help                display this help
 -V, --version             display version
     --debug               show a traceback on errors
"""


class BadUsage(Exception):
    """getopt-style complaint: printed with the 'Try --help' line, exit 1."""


def parse(argv: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """[(long option name, value)], program argv."""
    opts: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, argv[i + 1:]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in LONG:
                matches = [k for k in LONG if k.startswith(name)] if name else []
                if len(matches) != 1:
                    kind = "ambiguous" if len(matches) > 1 else "unrecognized"
                    raise BadUsage(f"{kind} option '--{name}'")
                name = matches[0]
            kind = LONG[name]
            if kind is None and eq:
                raise BadUsage(f"option '--{name}' doesn't allow an argument")
            if kind == "req" and not eq:
                i += 1
                if i >= len(argv):
                    raise BadUsage(f"option '--{name}' requires an argument")
                value = argv[i]
            opts.append((name, value if (eq or kind == "req") else None))
            i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                if ch in NS_SHORT:
                    opts.append((next(k for k, v in NS_LONG.items() if v == NS_SHORT[ch]), None))
                elif ch in SHORT_ALIAS:
                    name = SHORT_ALIAS[ch]
                    if LONG[name] == "req":
                        value = arg[j + 1:]
                        if not value:
                            i += 1
                            if i >= len(argv):
                                raise BadUsage(f"option requires an argument -- '{ch}'")
                            value = argv[i]
                        opts.append((name, value))
                        break
                    opts.append((name, None))
                else:
                    raise BadUsage(f"invalid option -- '{ch}'")
                j += 1
            i += 1
            continue
        return opts, argv[i:]
    return opts, []


def _int(value: str, what: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        from ..errors import UsageError
        raise UsageError(f"failed to parse {what}: '{value}'") from None


def _signal(value: str) -> int:
    import signal
    name = value.upper()
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
    if sig is None:
        from ..errors import UsageError
        raise UsageError(f"unknown signal: {value}")
    return int(sig)


def options_from(pairs, program: list[str]):
    from ..ns.launch import build_options
    kw: dict = {"persist": {}, "time_offsets": {}}
    names: set[str] = set()
    fork = False
    for name, value in pairs:
        if name in NS_LONG:
            names.add(NS_LONG[name])
            if value:
                kw["persist"][NS_LONG[name]] = value
        elif name == "fork":
            fork = True
        elif name == "kill-child":
            kw["kill_signal"] = _signal(value) if value else 9
            fork = True
        elif name == "mount-proc":
            kw["mount_proc"] = value or True
        elif name == "map-root-user":
            kw["map_user"], kw["map_group"] = 0, 0
        elif name == "map-current-user":
            kw["map_user"], kw["map_group"] = os.geteuid(), os.getegid()
        elif name == "map-user":
            kw["map_user"] = value
        elif name == "map-group":
            kw["map_group"] = value
        elif name == "map-users":
            kw["map_users"] = value
        elif name == "map-groups":
            kw["map_groups"] = value
        elif name == "map-auto":
            kw["map_users"] = kw["map_groups"] = "auto"
        elif name == "setgroups":
            if value not in ("allow", "deny"):
                from ..errors import UsageError
                raise UsageError(f"unsupported --setgroups argument '{value}'")
            kw["setgroups"] = value
        elif name == "propagation":
            kw["propagation"] = value
        elif name == "root":
            kw["root"] = value
        elif name == "wd":
            kw["cwd"] = value
        elif name == "setuid":
            kw["uid"] = _int(value, "uid")
        elif name == "setgid":
            kw["gid"] = _int(value, "gid")
        elif name in ("monotonic", "boottime"):
            kw["time_offsets"][name] = _int(value, f"{name} offset")
        elif name == "keep-caps":
            kw["keep_caps"] = True
    return build_options(tuple(names), argv=program or None, fork=fork, **kw)


def body(argv: list[str]) -> int:
    try:
        pairs, program = parse(argv)
    except BadUsage as err:
        sys.stderr.write(f"{PROG}: {err}\nTry '{PROG} --help' for more information.\n")
        return 1
    for name, _ in pairs:
        if name == "help":
            sys.stdout.write(USAGE)
            return 0
        if name == "version":
            from .. import __version__
            sys.stdout.write(f"{PROG} (nsbox {__version__}; util-linux 2.38 compatible)\n")
            return 0
    opts = options_from(pairs, program)
    from ..ns.launch import unshare_and_exec
    code = unshare_and_exec(opts, PROG)  # returns only with --fork, after the child ended
    # Nothing is left to clean up: skip the interpreter's ~10 ms teardown, as the exec path does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    from .common import run
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        debug = any(name == "debug" for name, _ in parse(argv)[0])
    except BadUsage:
        debug = False
    return run(PROG, body, argv, debug=debug or bool(os.environ.get("NSBOX_DEBUG")))


if __name__ == "__main__":
    sys.exit(main())
