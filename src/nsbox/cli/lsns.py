"""`nsbox lsns`: util-linux 2.38 lsns(8) over nsbox.ns.inspect (same options, columns, output, exit codes).

Beyond util-linux 2.38: -P/--persistent (from util-linux 2.40: only namespaces no process is in,
found from nsfs bind mounts in /proc/self/mountinfo).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

from ..ns.types import NamespaceType
from .smartcols import Column, Table

PROG = "lsns"

# name: (width hint, right aligned, truncatable, wrapping, json type, help)
COLUMNS = {
    "NS": (10, True, False, False, "number", "namespace identifier (inode number)"),
    "TYPE": (5, False, False, False, "string", "kind of namespace"),
    "PATH": (0, False, False, False, "string", "path to the namespace"),
    "NPROCS": (5, True, False, False, "number", "number of processes in the namespace"),
    "PID": (5, True, False, False, "number", "lowest PID in the namespace"),
    "PPID": (5, True, False, False, "number", "PPID of the PID"),
    "COMMAND": (0, False, True, False, "string", "command line of the PID"),
    "UID": (0, True, False, False, "number", "UID of the PID"),
    "USER": (0, False, False, False, "string", "username of the PID"),
    "NETNSID": (0, True, False, False, "string", "namespace ID as used by network subsystem"),
    "NSFS": (0, False, False, True, "string", "nsfs mountpoint (usually used network subsystem)"),
    "PNS": (10, True, False, False, "number", "parent namespace identifier (inode number)"),
    "ONS": (10, True, False, False, "number", "owner namespace identifier (inode number)"),
}
MAX_COLUMNS = len(COLUMNS) * 2
TYPE_NAMES = ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time")
TREE_NONE, TREE_PROCESS, TREE_OWNER, TREE_PARENT = range(4)

USAGE = """
Usage:
 lsns [options] [<namespace>]

List system namespaces.

Options:
 -J, --json             use JSON output format
 -l, --list             use list format output
 -n, --noheadings       don't print headings
 -o, --output <list>    define which output columns to use
     --output-all       output all columns
 -P, --persistent       namespaces without processes
 -p, --task <pid>       print process namespaces
 -r, --raw              use the raw output format
 -u, --notruncate       don't truncate text in columns
 -W, --nowrap           don't use multi-line representation
 -t, --type <name>      namespace type (mnt, net, ipc, user, pid, uts, cgroup, time)
 -T, --tree <rel>       use tree format (parent, owner, or process)

 -h, --help             display this help
 -V, --version          display version

Available output columns:
""" + "".join(f" {name:>11}  {info[5]}\n" for name, info in COLUMNS.items()) + "\nFor more details see lsns(8).\n"

# long name: (short letter / key, takes argument: 0 no, 1 required, 2 optional)
LONG_OPTIONS = {
    "json": ("J", 0), "task": ("p", 1), "help": ("h", 0), "output": ("o", 1),
    "output-all": ("output-all", 0), "persistent": ("P", 0), "notruncate": ("u", 0),
    "version": ("V", 0), "noheadings": ("n", 0), "nowrap": ("W", 0), "list": ("l", 0),
    "raw": ("r", 0), "type": ("t", 1), "tree": ("T", 2),
}
SHORT_OPTIONS = {"J": 0, "l": 0, "P": 0, "p": 1, "o": 1, "n": 0, "r": 0, "u": 0, "h": 0, "V": 0,
                 "t": 1, "T": 2, "W": 0}
EXCLUSIVE = (("J", "r"), ("P", "p"))
LONG_OF = {short: name for name, (short, _) in LONG_OPTIONS.items()}


class Usage(Exception):
    """Bad command line: message, and whether to add util-linux's "Try 'lsns --help'" line."""

    def __init__(self, message: str, try_help: bool = False):
        super().__init__(message)
        self.try_help = try_help


def getopt_long(argv: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """GNU getopt_long with argument permutation, clustered short options, optional args, prefixes."""
    opts: list[tuple[str, str | None]] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in LONG_OPTIONS if n.startswith(name)]
            exact = [n for n in matches if n == name]
            if exact:
                matches = exact
            if not matches:
                raise Usage(f"unrecognized option '{arg}'", True)
            if len(matches) > 1:
                raise Usage(f"option '{arg}' is ambiguous; possibilities:"
                            + "".join(f" '--{m}'" for m in matches), True)
            key, has_arg = LONG_OPTIONS[matches[0]]
            if has_arg == 0 and eq:
                raise Usage(f"option '--{matches[0]}' doesn't allow an argument", True)
            if has_arg == 1 and not eq:
                if i >= len(argv):
                    raise Usage(f"option '--{matches[0]}' requires an argument", True)
                value, i = argv[i], i + 1
            opts.append((key, value if (eq or has_arg == 1) else None))
        elif arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter not in SHORT_OPTIONS:
                    raise Usage(f"invalid option -- '{letter}'", True)
                has_arg = SHORT_OPTIONS[letter]
                if has_arg == 0:
                    opts.append((letter, None))
                    continue
                value = arg[j:]
                if has_arg == 1 and not value:
                    if i >= len(argv):
                        raise Usage(f"option requires an argument -- '{letter}'", True)
                    value, i = argv[i], i + 1
                opts.append((letter, value if has_arg == 1 else (value or None)))
                break
        else:
            rest.append(arg)
    return opts, rest


@dataclass
class Options:
    json: bool = False
    raw: bool = False
    list_format: bool = False
    noheadings: bool = False
    notruncate: bool = False
    nowrap: bool = False
    persistent: bool = False
    tree: int = TREE_NONE
    pid: int = 0
    namespace: int = 0
    types: list[NamespaceType] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def parse_int(text: str, signed: bool, what: str) -> int:
    if not re.fullmatch(r"\s*[+-]?[0-9]+", text):
        raise Usage(f"{what}: '{text}'")
    value = int(text)
    limit = (-2**31, 2**31 - 1) if signed else (0, 2**64 - 1)
    if not limit[0] <= value <= limit[1]:
        raise Usage(f"{what}: '{text}': Numerical result out of range")
    return value


def add_columns(spec: str, columns: list[str]) -> list[str]:
    """-o LIST (replace) or -o +LIST (append): util-linux's string_add_to_idarray, quirks included
    (an empty name fails silently; an unknown one is reported with the rest of the list)."""
    if not spec:
        raise Usage("")
    if spec.startswith("+"):
        spec, out = spec[1:], list(columns)
    else:
        out = []
    if not spec:
        raise Usage("")
    begin = None
    for p, ch in enumerate(spec):
        if len(out) >= MAX_COLUMNS:
            raise Usage("")
        if begin is None:
            begin = p
        end = p if ch == "," else None
        if p + 1 == len(spec):
            end = p + 1
        if end is None:
            continue
        if end <= begin:
            raise Usage("")
        name = spec[begin:end]
        match = next((c for c in COLUMNS if c.lower() == name.lower()), None)
        if match is None:
            raise Usage(f"unknown column: {spec[begin:]}")
        out.append(match)
        begin = None
    return out


def parse_args(argv: list[str]) -> Options | int:
    opts, args = getopt_long(argv)
    o = Options()
    seen: dict[int, str] = {}
    outarg = None
    for key, value in opts:
        for k, group in enumerate(EXCLUSIVE):
            if key in group:
                if k in seen and seen[k] != key:
                    names = " ".join(f"--{LONG_OF[x]}" for x in group)
                    raise Usage(f"mutually exclusive arguments: {names}")
                seen[k] = key
        if key == "J":
            o.json = True
        elif key == "l":
            o.list_format = True
        elif key == "o":
            outarg = value
        elif key == "output-all":
            o.columns = list(COLUMNS)
        elif key == "P":
            o.persistent = True
        elif key == "p":
            o.pid = parse_int(value or "", True, "invalid PID argument")
        elif key == "n":
            o.noheadings = True
        elif key == "r":
            o.raw = o.nowrap = True
        elif key == "u":
            o.notruncate = True
        elif key == "t":
            if value not in TYPE_NAMES:
                raise Usage(f"unknown namespace type: {value}")
            t = NamespaceType.from_name(value)
            if t not in o.types:
                o.types.append(t)
        elif key == "W":
            o.nowrap = True
        elif key == "T":
            o.tree = TREE_OWNER
            if value is not None:
                rel = value[1:] if value.startswith("=") else value
                trees = {"parent": TREE_PARENT, "process": TREE_PROCESS, "owner": TREE_OWNER}
                if rel not in trees:
                    raise Usage(f"unknown tree type: {rel}")
                o.tree = trees[rel]
        elif key == "h":
            sys.stdout.write(USAGE)
            return 0
        elif key == "V":
            from .. import __version__
            sys.stdout.write(f"lsns from nsbox {__version__}\n")
            return 0
    if args:
        if o.pid:
            raise Usage("--task is mutually exclusive with <namespace>")
        o.namespace = parse_int(args[0], False, "invalid namespace argument")
        if not o.tree and not o.list_format:
            o.tree = TREE_PROCESS
        if not o.columns:
            o.columns = ["PID", "PPID", "USER", "COMMAND"]
    if not o.columns:
        o.columns = ["NS", "TYPE", "NPROCS", "PID", "USER"]
        if NamespaceType.NET in o.types:
            o.columns += ["NETNSID", "NSFS"]
        o.columns.append("COMMAND")
        if not o.tree and not o.list_format:
            o.tree = TREE_PROCESS
    if outarg is not None:
        o.columns = add_columns(outarg, o.columns)
    return o


# ---------------------------------------------------------------------------------------------

def make_table(o: Options) -> Table:
    columns = []
    for name in o.columns:
        whint, right, trunc, wrap, json_type, _ = COLUMNS[name]
        col = Column(name, whint, right=right, trunc=trunc and not o.notruncate,
                     wrap=wrap and not o.nowrap, json_type=json_type if o.json else "string")
        if o.tree == TREE_PROCESS and name == "COMMAND":
            col.tree = True
        if o.tree in (TREE_OWNER, TREE_PARENT) and name == "NS":
            col.tree, col.right = True, False
        columns.append(col)
    return Table(columns, "namespaces", raw=o.raw, json=o.json, noheadings=o.noheadings)


def netnsid_text(value) -> str | None:
    if value is None:
        return None
    return "unassigned" if value == -1 else (str(value) if value >= 0 else None)


def cells_for(o: Options, ns, proc, command: str | None) -> list[str | None]:
    """One output row; ``proc`` is the process shown for ``ns`` (None: no process is in it)."""
    from ..ns.inspect import user_name
    uid = proc.uid if proc is not None else ns.uid
    values = {
        "NS": str(ns.inode),
        "TYPE": ns.type.ns_name,
        "PATH": f"/proc/{proc.pid}/ns/{ns.type.ns_name}" if proc is not None else None,
        "NPROCS": str(ns.nprocs),
        "PID": str(proc.pid) if proc is not None else None,
        "PPID": str(proc.ppid) if proc is not None else None,
        "COMMAND": command if proc is not None else None,
        "UID": str(uid if uid is not None else 0),
        "USER": user_name(uid if uid is not None else 0),
        "NETNSID": netnsid_text(proc.netnsid) if proc is not None and ns.type is NamespaceType.NET else None,
        "NSFS": ("," if o.nowrap else "\n").join(ns.nsfs) or None,
        "PNS": str(ns.parent or 0),
        "ONS": str(ns.owner or 0),
    }
    return [values[name] for name in o.columns]


def show_namespaces(o: Options, table: Table, namespaces, procs_by_pid) -> None:
    known = {ns.inode: ns for ns in namespaces}
    proc_line: dict[int, object] = {}
    ns_line: dict[int, object] = {}
    from ..ns.inspect import HIERARCHICAL

    def related(ns, which):
        if which == "parent" and ns.type not in HIERARCHICAL:
            return None
        return known.get(getattr(ns, which))

    def show(ns):
        owner, parent = related(ns, "owner"), related(ns, "parent")
        if o.tree == TREE_OWNER and owner is not None and owner.inode not in ns_line:
            show(owner)
        elif o.tree == TREE_PARENT:
            if parent is not None:
                if parent.inode not in ns_line:
                    show(parent)
            elif owner is not None and owner.inode not in ns_line:
                show(owner)
        proc = procs_by_pid.get(ns.pid) if ns.pids else None
        up = None
        if o.tree == TREE_PROCESS and proc is not None and proc.ppid in procs_by_pid:
            up = proc_line.get(proc.ppid)
        elif o.tree == TREE_PARENT and parent is not None:
            up = ns_line.get(parent.inode)
        elif o.tree == TREE_OWNER and owner is not None:
            up = ns_line.get(owner.inode)
        line = table.new_line(cells_for(o, ns, proc, ns.command), up)
        if o.tree in (TREE_OWNER, TREE_PARENT):
            ns_line[ns.inode] = line
        elif proc is not None:
            proc_line[proc.pid] = line

    for ns in namespaces:
        if o.pid and o.pid not in ns.pids:
            continue
        if o.persistent and ns.pids:
            continue
        if ns.inode not in ns_line:
            show(ns)


def show_namespace_processes(o: Options, table: Table, ns, procs_by_pid) -> None:
    from ..ns.inspect import read_cmdline_text
    lines: dict[int, object] = {}

    def show(proc):
        parent = procs_by_pid.get(proc.ppid)
        if (o.tree == TREE_PROCESS and parent is not None and parent.pid not in lines
                and parent.ns.get(ns.type, (0,))[0] == proc.ns.get(ns.type, (0,))[0]):
            show(parent)
        up = lines.get(proc.ppid) if o.tree == TREE_PROCESS and parent is not None else None
        lines[proc.pid] = table.new_line(cells_for(o, ns, proc, read_cmdline_text(proc.pid)), up)

    for pid in ns.pids:
        if pid not in lines:
            show(procs_by_pid[pid])


def collect(o: Options):
    from ..ns import inspect
    from ..proc import procfs
    types = tuple(o.types) or inspect.SCAN_ORDER
    cache = inspect.NetnsidCache() if "NETNSID" in o.columns else None
    try:
        procs = inspect.read_processes(types, cache)
    finally:
        if cache is not None:
            cache.close()
    namespaces = inspect.group_by_namespace(procs)
    mountinfo = procfs.read_mountinfo("self")
    if o.persistent:
        known = {ns.inode: ns for ns in namespaces}
        namespaces += [ns for ns in inspect.persistent_namespaces(mountinfo, known) if ns.type in types]
    if o.tree in (TREE_OWNER, TREE_PARENT):
        namespaces += inspect.add_missing_relatives(namespaces)
    namespaces.sort(key=lambda ns: ns.inode)
    inspect.fill_details(namespaces, mountinfo)
    return namespaces, {p.pid: p for p in procs}


def render(o: Options, namespaces, procs_by_pid, is_term: bool = False, termwidth: int = 80) -> str:
    """The whole output for already collected namespaces (sorted by inode) and their processes."""
    table = make_table(o)
    if o.namespace:
        ns = next((n for n in namespaces if n.inode == o.namespace), None)
        if ns is None:
            raise Usage(f"not found namespace: {o.namespace}")
        show_namespace_processes(o, table, ns, procs_by_pid)
    else:
        show_namespaces(o, table, namespaces, procs_by_pid)
    return table.render(is_term=is_term, termwidth=termwidth)


def terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        try:
            return int(os.environ.get("COLUMNS", "80"))
        except ValueError:
            return 80


def body(argv: list[str]) -> int:
    o = parse_args(argv)
    if isinstance(o, int):
        return o
    namespaces, procs_by_pid = collect(o)
    is_term = sys.stdout.isatty()
    text = render(o, namespaces, procs_by_pid, is_term, terminal_width() if is_term else 80)
    sys.stdout.flush()
    # command lines are bytes: undecodable ones come back out as the bytes they were
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    from .common import run, strip_debug
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, debug = strip_debug(argv)

    def guarded(args):
        try:
            return body(args)
        except Usage as exc:
            if str(exc):
                sys.stderr.write(f"{PROG}: {exc}\n")
            if exc.try_help:
                sys.stderr.write(f"Try '{PROG} --help' for more information.\n")
            return 1
    return run(PROG, guarded, argv, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
