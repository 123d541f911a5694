"""`nsbox ps / stop / rm / exec / logs`: the detached containers of `nsbox run -d`."""

from __future__ import annotations

import argparse
import sys

from .common import run


def _ps(argv: list[str]) -> int:
    from ..engine.detached import ps
    p = argparse.ArgumentParser(prog="nsbox ps", description="list containers started with nsbox run -d")
    p.add_argument("-a", "--all", action="store_true", help="also exited containers")
    p.add_argument("-q", "--quiet", action="store_true", help="names only")
    p.add_argument("--format", choices=["table", "json"], default="table")
    a = p.parse_args(argv)
    rows = ps(all_containers=a.all)
    if a.format == "json":
        import json
        print(json.dumps([{k: r.get(k) for k in ("name", "status", "args", "network", "ports", "created")}
                          for r in rows], indent=2))
        return 0
    if a.quiet:
        for r in rows:
            print(r["name"])
        return 0
    print(f"{'NAME':<20} {'STATUS':<12} {'NETWORK':<16} {'PORTS':<24} COMMAND")
    for r in rows:
        print(f"{r['name']:<20} {r['status']:<12} {r['network']:<16} {','.join(r['ports']) or '-':<24} "
              f"{' '.join(r['args'])}")
    return 0


def _stop(argv: list[str]) -> int:
    from ..engine.detached import stop
    p = argparse.ArgumentParser(prog="nsbox stop", description="SIGTERM, then SIGKILL after --time seconds")
    p.add_argument("-t", "--time", type=float, default=10.0)
    p.add_argument("names", nargs="+")
    a = p.parse_args(argv)
    for name in a.names:
        stop(name, a.time)
        print(name)
    return 0


def _rm(argv: list[str]) -> int:
    from ..engine.detached import remove
    p = argparse.ArgumentParser(prog="nsbox rm", description="remove containers (their network, state and logs)")
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("names", nargs="+")
    a = p.parse_args(argv)
    for name in a.names:
        remove(name, a.force)
        print(name)
    return 0


def _exec(argv: list[str]) -> int:
    from ..engine.detached import exec_in
    p = argparse.ArgumentParser(prog="nsbox exec", description="run a command in a running container")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-w", "--workdir")
    p.add_argument("name")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("a command is required: nsbox exec NAME CMD...")
    return exec_in(a.name, cmd, tty=a.tty, env=a.env, workdir=a.workdir)


def _logs(argv: list[str]) -> int:
    from ..engine.detached import logs
    p = argparse.ArgumentParser(prog="nsbox logs", description="print a container's stdout and stderr")
    p.add_argument("name")
    a = p.parse_args(argv)
    logs(a.name)
    return 0


COMMANDS = {"ps": _ps, "stop": _stop, "rm": _rm, "exec": _exec, "logs": _logs}


def main_for(command: str):
    def main(argv: list[str] | None = None) -> int:
        return run(f"nsbox {command}", COMMANDS[command], list(sys.argv[1:] if argv is None else argv))
    return main


if __name__ == "__main__":  # python -m nsbox.cli.containers ps -a
    sys.exit(main_for(sys.argv[1])(sys.argv[2:]) if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else 2)
