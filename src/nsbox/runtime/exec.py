"""`exec`: run another process inside a running container (join its namespaces and cgroup).

The process is the container's config.json process with the CLI's changes (args, -e, --cwd, -u, --cap,
-t, --no-new-privs), or a process.json given with -p, as runc does.
"""

from __future__ import annotations

import copy
import json
import os

from ..errors import InvalidState, SpecError, UsageError
from . import status as st
from .plan import InitPlan

NS_FILES = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")


def namespaces_to_join(pid: int) -> tuple:
    """(name, /proc/PID/ns/name) for each namespace of ``pid`` that differs from ours, in join order."""
    out = []
    for name in NS_FILES:
        path = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(path).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino:
                out.append((name, path))
        except FileNotFoundError:
            continue
    return tuple(out)


def process_from_args(config: dict, args) -> dict:
    if args.process:
        try:
            with open(args.process) as f:
                return json.load(f)
        except (OSError, ValueError) as err:
            raise SpecError([("$", f"cannot read {args.process}: {err}")], source="process.json") from None
    cmd = [a for a in args.args if a != "--"] if args.args else []
    if not cmd:
        raise UsageError("exec needs a command (or -p process.json)")
    process = copy.deepcopy(config.get("process") or {})
    process["args"] = cmd
    process["terminal"] = bool(args.tty)
    env = list(process.get("env") or [])
    env += args.env
    process["env"] = env
    if args.cwd:
        process["cwd"] = args.cwd
    if args.user:
        uid, _, gid = args.user.partition(":")
        process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.additional_gids:
        process.setdefault("user", {})["additionalGids"] = [int(g) for g in args.additional_gids]
    if args.cap:
        caps = process.setdefault("capabilities", {})
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            caps[kind] = sorted(set(caps.get(kind) or []) | set(args.cap))
    if args.no_new_privs:
        process["noNewPrivileges"] = True
    return process


def exec_process(rt, container_id: str, process: dict, *, detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, preserve_fds: int = 0, ignore_paused: bool = False) -> int:
    from .launcher import launch
    from .planner import load_config, needs_sealed_runtime, plan_security
    state = rt.store.read(container_id)
    status = rt.status_of(container_id, state)
    if status == st.STOPPED:
        raise InvalidState(container_id, status, st.RUNNING, "cannot exec in a stopped container")
    if status == st.PAUSED and not ignore_paused:
        raise InvalidState(container_id, status, st.RUNNING, "cannot exec in a paused container (thaw it first)")
    if not isinstance(process.get("args"), list) or not process["args"]:
        raise SpecError([("args", "must be a non-empty list")], source="process.json")
    if process.get("terminal") and detach and not console_socket:
        raise UsageError("cannot allocate tty if runc will detach without setting console socket")
    config = load_config(state["bundle"])
    base = plan_security(config, state.get("rootless", rt.rootless), container_id,
                         new_keyring=not state.get("no_new_keyring", False))
    if base["engine"] == "security":
        from ..security import plan_exec_security
        sec = {"engine": "security", "plan": plan_exec_security(process, base["plan"])}
        for warning in sec["plan"].get("warnings") or ():
            rt.warn(warning)
    else:
        from .fallback_security import plan_fallback
        sec = {"engine": "fallback", "plan": plan_fallback({"process": process})}
    size = process.get("consoleSize") or {}
    plan = InitPlan(
        container_id=container_id, bundle=state["bundle"], root="/", root_readonly=False, ns_create=0,
        userns_create=False, ns_join=namespaces_to_join(state["pid"]), args=tuple(process["args"]),
        env=tuple(process.get("env") or ()), cwd=process.get("cwd") or "/", terminal=bool(process.get("terminal")),
        console_size=(int(size.get("height", 0)), int(size.get("width", 0))) if size else None,
        security=sec, preserve_fds=preserve_fds, new_keyring=False, exec_mode=True,
        seal_runtime=needs_sealed_runtime(config))
    cgroup = rt._cgroup(state)
    if not detach:
        from ..linux.prctl import set_child_subreaper
        set_child_subreaper(True)
    launched = launch(plan, fifo_path=None, cgroup=cgroup,
                      listener_state=lambda pid: rt._document(state, st.RUNNING))
    master = launched.console_master
    try:
        if master is not None and console_socket:
            from .console import send_console
            send_console(console_socket, master)
        if pid_file:
            from .container import write_pid_file
            write_pid_file(pid_file, launched.pid)
        launched.commit()
        if detach:
            return 0
        if master is not None and not console_socket:
            from .relay import relay_terminal
            relay_terminal(master, launched.pid)
        from .foreground import wait_for
        return wait_for(launched.pid)
    finally:
        if master is not None:
            os.close(master)


def exec_from_cli(rt, args) -> int:
    config_state = rt.store.read(args.id)
    from .planner import load_config
    process = process_from_args(load_config(config_state["bundle"]), args)
    if args.tty:
        process["terminal"] = True
    return exec_process(rt, args.id, process, detach=args.detach, pid_file=args.pid_file,
                        console_socket=args.console_socket, preserve_fds=args.preserve_fds,
                        ignore_paused=args.ignore_paused)
