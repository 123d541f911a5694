"""`nsbox images`: the unpacked images and rootfs tarballs `nsbox run --rootfs` keeps in its cache."""

from __future__ import annotations

import argparse
import sys

from .common import run


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nsbox images", description="list or remove the unpacked images and "
                                "rootfs tarballs that nsbox run keeps (each is unpacked once)")
    sub = p.add_subparsers(dest="action")
    ls = sub.add_parser("ls", help="list them (the default)")
    ls.add_argument("-q", "--quiet", action="store_true", help="ids only")
    ls.add_argument("--json", action="store_true")
    rm = sub.add_parser("rm", help="remove some (refused while a container uses one, unless -f)")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("ids", nargs="+", metavar="ID", help="an id or a unique prefix of it")
    sub.add_parser("prune", help="remove every one that no container uses")
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["ls", *argv]   # `nsbox images [-q|--json]` lists
    return p.parse_args(argv)


def body(argv: list[str]) -> int:
    from ..engine import images
    a = parse(argv)
    if a.action == "rm":
        for removed in images.remove_images(a.ids, force=a.force):
            print(removed)
        return 0
    if a.action == "prune":
        for removed in images.prune_images():
            print(removed)
        return 0
    entries = images.list_images()
    if a.json:
        import json
        print(json.dumps([{**e.to_json(), "containers": using} for e, using in entries], indent=2))
    elif a.quiet:
        for e, _ in entries:
            print(e.id)
    else:
        import time
        print(f"{'ID':<20} {'KIND':<8} {'UNPACKED':<17} {'CONTAINERS':<12} COMMAND")
        for e, using in entries:
            short = e.id.split(":")[-1][:12]
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
            print(f"{short:<20} {e.kind:<8} {when:<17} {','.join(using) or '-':<12} {' '.join(e.command) or '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("nsbox images", body, list(sys.argv[1:] if argv is None else argv))
