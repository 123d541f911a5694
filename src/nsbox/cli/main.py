"""`nsbox`: one command, subcommands dispatched to their own modules (imported only when used)."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    # name: (module under nsbox.cli, one-line help)
    "unshare": ("unshare", "run a program in new namespaces (util-linux unshare)"),
    "nsenter": ("nsenter", "run a program in the namespaces of another process (util-linux nsenter)"),
    "lsns": ("lsns", "list namespaces (util-linux lsns)"),
    "run": ("box", "run a container (the host's filesystem read-only by default)"),
    "ps": ("ps", "list containers started with nsbox run -d"),
    "exec": ("box_exec", "run a command in a running container"),
    "logs": ("logs", "print a container's output"),
    "stop": ("stop", "stop a container (SIGTERM, then SIGKILL)"),
    "rm": ("rm", "remove a container, its network and logs"),
    "network": ("network", "create, list, inspect and remove container networks"),
    "images": ("images", "list or remove the unpacked images and rootfs tarballs nsbox run keeps"),
}

USAGE = "usage: nsbox [--debug] <command> [<args>...]\n\ncommands:\n" + "".join(
    f"  {name:<10} {help_}\n" for name, (_, help_) in SUBCOMMANDS.items()
) + "\n'nsbox <command> --help' for a command's options; nsbox-runc is the OCI runtime.\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    while argv and argv[0] == "--debug":
        debug = True
        argv.pop(0)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 1
    if argv[0] in ("-V", "--version"):
        from .. import __version__
        print(f"nsbox {__version__}")
        return 0
    entry = SUBCOMMANDS.get(argv[0])
    if entry is None:
        sys.stderr.write(f"nsbox: unknown command {argv[0]!r}\n\n{USAGE}")
        return 1
    module = importlib.import_module(f".{entry[0]}", __package__)
    if debug:
        argv.insert(1, "--debug")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
