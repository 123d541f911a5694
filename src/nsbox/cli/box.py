"""`nsbox run`: run a command in a container (the host's filesystem read-only by default)."""

from __future__ import annotations

import argparse
import sys

from .common import run


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nsbox run", description="run a command in a new container, in the foreground")
    p.add_argument("--rootfs", help="root filesystem: a directory or a tarball (default: the host's, read-only)")
    p.add_argument("--hostname", default="nsbox")
    p.add_argument("--name", help="container id (default: a random box-XXXX)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open (it always is)")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--rm", action="store_true", help="remove the container afterwards (always done)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-w", "--workdir", default="/")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("a command is required: nsbox run [options] [--] CMD...")
    return args


def body(argv: list[str]) -> int:
    from ..engine.box import BoxOptions, run_box
    a = parse(argv)
    return run_box(BoxOptions(args=a.command, rootfs=a.rootfs, hostname=a.hostname, tty=a.tty, env=a.env,
                              workdir=a.workdir, name=a.name))


def main(argv: list[str] | None = None) -> int:
    return run("nsbox run", body, list(sys.argv[1:] if argv is None else argv))
