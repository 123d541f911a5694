"""`nsbox run`: run a command in a container (the host's filesystem read-only by default)."""

from __future__ import annotations

import argparse
import sys

from .common import run


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nsbox run", description="run a command in a new container, in the foreground")
    p.add_argument("--rootfs", help="root filesystem: a directory, a rootfs tarball, or an OCI image (a layout "
                   "directory or an oci-archive, as PATH or PATH:REF) (default: the host's, read-only)")
    p.add_argument("--hostname", help="default: the --name, else nsbox")
    p.add_argument("--name", help="container id (default: a random box-XXXX)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open (it always is)")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits (always done in the "
                   "foreground; with -d: its record and logs too)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-w", "--workdir", help="working directory (default: the image's, else /)")
    p.add_argument("-u", "--user", metavar="USER[:GROUP]", help="user to run as, names or numbers "
                   "(default: the image's, else root)")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background (monitored by conmon); "
                   "prints the name")
    net = p.add_argument_group("network")
    net.add_argument("--network", "--net", metavar="MODE",
                     help="none (the default: only lo), host, bridge[:NAME], pasta, slirp4netns, ns:PATH, "
                          "container:NAME, or default (bridge as root, pasta rootless)")
    net.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/tcp|udp]",
                     help="publish a container port on the host (repeatable): with none (the default) or "
                          "ns:PATH through a relay that passes sockets made in the container's namespace "
                          "(the container still reaches nothing outside); with bridge by DNAT; with "
                          "pasta/slirp4netns by their port forwarding; not with host or container:NAME")
    res = p.add_argument_group("resources")
    res.add_argument("-m", "--memory", metavar="SIZE", help="memory limit, e.g. 256m, 1g")
    res.add_argument("--memory-swap", metavar="SIZE", help="memory+swap limit (-1: unlimited swap; default 2x --memory)")
    res.add_argument("--cpus", metavar="N", help="CPU quota in CPUs, e.g. 1.5")
    res.add_argument("--cpu-shares", metavar="N", help="relative CPU weight (default 1024)")
    res.add_argument("--pids-limit", metavar="N", help="maximum number of processes (0 or -1: unlimited)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    return args


def body(argv: list[str]) -> int:
    from ..engine.box import BoxOptions, run_box
    a = parse(argv)
    hostname = a.hostname if a.hostname is not None else (a.name or "nsbox")
    opts = BoxOptions(args=a.command, rootfs=a.rootfs, hostname=hostname, tty=a.tty, env=a.env,
                      workdir=a.workdir, user=a.user, name=a.name, network=a.network, ports=a.publish, memory=a.memory,
                      memory_swap=a.memory_swap, cpus=a.cpus, cpu_shares=a.cpu_shares, pids_limit=a.pids_limit,
                      auto_remove=a.rm)
    if a.detach:
        from ..engine.detached import run_detached
        print(run_detached(opts))
        return 0
    return run_box(opts)


def main(argv: list[str] | None = None) -> int:
    return run("nsbox run", body, list(sys.argv[1:] if argv is None else argv))
