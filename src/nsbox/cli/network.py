"""`nsbox network`: create, list, inspect and remove container networks; attach a network namespace
by hand; persistent network namespaces.

    nsbox network create [--subnet CIDR] [--gateway IP] NAME
    nsbox network ls [-q] [--json]
    nsbox network inspect NAME...
    nsbox network rm NAME...
    nsbox network connect NAME --netns PID|PATH --id ID [--hostname H] [-p [IP:]HOST:CONTAINER[/proto]]...
                                                   (NAME may be pasta or slirp4netns, rootless)
    nsbox network disconnect ID
    nsbox network cleanup                         remove what crashed or exited containers left
    nsbox network netns add|rm NAME|PATH  /  nsbox network netns ls

--root DIR (or $NSBOX_NET_ROOT) picks the state directory.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nsbox network", description="manage container networks")
    p.add_argument("--root", help="state directory (default /var/lib/nsbox/networks as root)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    c = sub.add_parser("create", help="create a bridge network")
    c.add_argument("--subnet", help="IPv4 CIDR (default: a free /24 in 10.89.0.0/16)")
    c.add_argument("--gateway", help="gateway address (default: the subnet's first host)")
    c.add_argument("name")
    ls = sub.add_parser("ls", aliases=["list"], help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true", help="names only")
    ls.add_argument("--json", action="store_true")
    i = sub.add_parser("inspect", help="show networks as JSON")
    i.add_argument("names", nargs="+")
    r = sub.add_parser("rm", aliases=["remove"], help="remove networks")
    r.add_argument("names", nargs="+")
    con = sub.add_parser("connect", help="attach a network namespace to a network")
    con.add_argument("name")
    con.add_argument("--netns", required=True, help="pid of a process in the namespace, or an nsfs path")
    con.add_argument("--id", required=True, dest="container_id", help="container id (the lease key)")
    con.add_argument("--hostname")
    con.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/PROTO]")
    con.add_argument("--files-dir", help="write hosts, resolv.conf and hostname here")
    d = sub.add_parser("disconnect", help="detach a container")
    d.add_argument("container_id")
    sub.add_parser("cleanup", help="remove what crashed or exited containers left behind")
    ns = sub.add_parser("netns", help="persistent network namespaces")
    nsub = ns.add_subparsers(dest="nscmd", required=True, metavar="COMMAND")
    nsub.add_parser("add").add_argument("target", help="NAME (under /run/nsbox/netns) or PATH")
    nsub.add_parser("rm").add_argument("target")
    nsub.add_parser("ls")
    return p


def _body(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cmd = args.cmd
    if cmd == "create":
        from ..net.store import NetworkStore
        net = NetworkStore(args.root).create(args.name, args.subnet, args.gateway)
        print(net.name)
    elif cmd in ("ls", "list"):
        from ..net.store import NetworkStore
        nets = NetworkStore(args.root).list()
        if args.json:
            print(json.dumps([n.to_json() for n in nets], indent=2))
        elif args.quiet:
            for n in nets:
                print(n.name)
        else:
            print(f"{'NAME':<20} {'SUBNET':<18} {'GATEWAY':<15} BRIDGE")
            for n in nets:
                print(f"{n.name:<20} {n.subnet:<18} {n.gateway:<15} {n.bridge}")
    elif cmd == "inspect":
        from ..net.attach import inspect_network
        print(json.dumps([inspect_network(n, args.root) for n in args.names], indent=2))
    elif cmd in ("rm", "remove"):
        from ..net.attach import remove_network
        for n in args.names:
            remove_network(n, args.root)
            print(n)
    elif cmd == "connect":
        from ..net.attach import attach
        netns = int(args.netns) if args.netns.isdigit() else args.netns
        att = attach(args.name, netns=netns, container_id=args.container_id, hostname=args.hostname,
                     ports=args.publish, root=args.root, files_dir=args.files_dir)
        print(json.dumps(att.to_json(), indent=2))
    elif cmd == "disconnect":
        from ..net.attach import detach
        detach(args.container_id, args.root)
        print(args.container_id)
    elif cmd == "cleanup":
        from ..net.attach import cleanup_stale
        removed = cleanup_stale(args.root)
        for kind, items in removed.items():
            for item in items:
                print(f"removed {kind[:-1]} {item}")
    elif cmd == "netns":
        from ..net import netns
        if args.nscmd == "add":
            print(netns.create(args.target))
        elif args.nscmd == "rm":
            netns.delete(args.target)
        else:
            for path in netns.list_all():
                print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("nsbox network", _body, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
