"""Detached containers (`nsbox run -d --name NAME`), monitored by conmon, not by a Python process.

    name = run_detached(BoxOptions(args=["httpd", "-f"], name="web", network="bridge", ports=["8080:80"]))
    ps(); exec_in("web", ["ip", "addr"]); logs("web"); stop("web"); remove("web", force=True)

Start-up (as podman): conmon runs `nsbox-runc create` once it reads a byte from its start pipe and
reports the init's pid on its sync pipe; we attach the network to that pid's namespace and then
start the container. conmon stays as the container's subreaper, writes its stdout/stderr to
ctr.log and its exit status to exit/NAME, and then runs `python -m nsbox.engine.detached exited`,
which detaches the network and deletes the runtime's container (the record stays for ps/logs until
`nsbox rm`). Cost per running container: one conmon (~1 MB RSS), no interpreter.

-p with --network none (or ns:PATH): the fd forward's relay (record["forward"]: its pid, start time
and ports, for ps) ends by itself when its target exits (the init as root; rootless the namespace
holder, which follows the init); the exit command, stop/rm and a failed run also stop it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid

from ..errors import InvalidState, NsboxError
from ..paths import runtime_state_root
from .records import Records, box_root

CONMON_TIMEOUT = 5.0


def _runtime(state_root: str | None = None):
    from ..runtime.container import Runtime
    return Runtime(state_root or runtime_state_root())


def _runc_path() -> str:
    here = os.path.join(os.path.dirname(sys.executable), "nsbox-runc")
    return here if os.path.exists(here) else (shutil.which("nsbox-runc") or here)


def run_detached(opts) -> str:
    """Create, network and start ``opts`` under conmon; returns the container's name."""
    from . import network as netmod
    from .box import apply_resources, box_config, prepare_rootfs, write_config
    conmon = shutil.which("conmon")
    if not conmon:
        raise NsboxError("nsbox run -d needs conmon (package conmon), which is not installed")
    rootless = os.geteuid() != 0
    records = Records()
    name = opts.name or "box-" + uuid.uuid4().hex[:12]
    mode = netmod.parse_network(opts.network, rootless)
    netmod.check_network(mode, opts.ports)
    rootfs_dir, opts = prepare_rootfs(opts)
    config = box_config(opts, rootfs_dir, rootless)
    apply_resources(config, opts.resources(), name, rootless)
    joined = netmod.joined_netns(mode) if mode.kind == "container" else None
    state_root = runtime_state_root()
    os.makedirs(state_root, mode=0o711, exist_ok=True)
    bundle = records.make(name)
    record = {"name": name, "args": list(opts.args), "network": str(mode), "ports": list(opts.ports),
              "created": time.time(), "bundle": bundle, "state_root": state_root, "hostname": opts.hostname,
              "files_dir": os.path.join(bundle, "etc"), "log": os.path.join(bundle, "ctr.log"),
              "auto_remove": bool(getattr(opts, "auto_remove", False))}
    try:
        netmod.initial_files(record["files_dir"], opts.hostname, mode)
        netmod.configure_spec(config, mode, record["files_dir"], joined)
        config["process"]["terminal"] = False if not opts.tty else True
        holder = None
        forwarding = bool(opts.ports) and mode.forwards   # -p through the fd forward (see engine.network)
        if rootless and (mode.attaches or forwarding):
            # see network.RootlessNamespaces: it lives as long as the container
            holder = netmod.RootlessNamespaces.start(follow=forwarding)
            holder.configure_spec(config)
            from ..proc.procfs import start_time
            record["holder"] = {"pid": holder.pid, "start_time": start_time(holder.pid)}
            records.write(record)
            if forwarding:
                record["forward"] = netmod.publish(mode, holder.pid, opts.ports).to_json()
            else:
                netmod.connect(mode, name, holder.pid, opts.hostname, opts.ports, record["files_dir"])
                record["attached"] = True
        write_config(bundle, config)
        records.write(record)
        pid = _start_conmon(conmon, name, bundle, state_root, opts.tty, record)
        records.write(record)
        if holder is None and mode.attaches:
            netmod.connect(mode, name, pid, opts.hostname, opts.ports, record["files_dir"])
            record["attached"] = True
        if forwarding and holder is None:
            record["forward"] = netmod.publish(mode, pid, opts.ports).to_json()   # root: the init is openable
        elif forwarding:
            holder.follow(pid)
        records.write(record)
        _runtime(state_root).start(name)
    except BaseException:
        _undo_run(name, records, record)
        raise
    return name


def _start_conmon(conmon: str, name: str, bundle: str, state_root: str, tty: bool, record: dict) -> int:
    sync_r, sync_w = os.pipe()
    start_r, start_w = os.pipe()
    os.makedirs(os.path.join(bundle, "exit"), exist_ok=True)
    os.makedirs(os.path.join(bundle, "sock"), exist_ok=True)  # conmon links its attach socket dir here
    argv = [conmon, "--api-version", "1", "-c", name, "-u", name, "-n", name, "-r", _runc_path(),
            "-b", bundle, "-p", os.path.join(bundle, "pidfile"), "-P", os.path.join(bundle, "conmon.pid"),
            "-l", f"k8s-file:{record['log']}", "--exit-dir", os.path.join(bundle, "exit"),
            "--socket-dir-path", os.path.join(bundle, "sock"), "--log-level", os.environ.get("NSBOX_CONMON_LOG", "error"),
            "--runtime-arg", "--root", "--runtime-arg", state_root,
            "--exit-command", sys.executable]
    for arg in ("-m", "nsbox.engine.detached", "exited", "--box-root", box_root(), "--net-root", _net_root(), name):
        argv += ["--exit-command-arg", arg]
    if tty:
        argv.append("-t")
    env = {**os.environ, "_OCI_SYNCPIPE": str(sync_w), "_OCI_STARTPIPE": str(start_r)}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env, pass_fds=(sync_w, start_r), start_new_session=True)
    finally:
        os.close(sync_w)
        os.close(start_r)
    try:
        os.write(start_w, b"0")
        msg = _read_sync(sync_r, proc)
    finally:
        os.close(start_w)
        os.close(sync_r)
    try:
        proc.wait(timeout=CONMON_TIMEOUT)   # the first conmon exits once its child runs the container
    except subprocess.TimeoutExpired:
        pass
    with open(os.path.join(bundle, "conmon.pid")) as f:
        record["conmon_pid"] = int(f.read().strip() or 0)
    pid = int(msg.get("data", -1))
    if pid <= 0:
        raise NsboxError(f"creating container {name}: {(msg.get('message') or 'conmon failed').strip()}")
    record["pid"] = pid
    return pid


def _read_sync(fd: int, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + CONMON_TIMEOUT
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            try:
                return json.loads(data.decode())
            except ValueError:
                continue
    err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
    raise NsboxError(f"conmon did not report the container's pid: {' '.join(err.split()[-30:]) or 'timed out'}")


# --- status, ps, exec, logs, stop, rm -------------------------------------------------------------
def status(record: dict, records: Records) -> str:
    code = records.exit_code(record["name"])
    if code is not None:
        return f"exited ({code})"
    try:
        return _runtime(record.get("state_root")).state(record["name"])["status"]
    except NsboxError:
        return "exited"


def ps(all_containers: bool = True) -> list[dict]:
    """The records with their status; reclaims what crashed containers left on the networks."""
    records = Records()
    _reclaim_stale()
    out = []
    for name in records.names():
        try:
            rec = records.read(name)
        except NsboxError:
            continue
        rec["status"] = status(rec, records)
        if all_containers or rec["status"] == "running":
            out.append(rec)
    return out


def _reclaim_stale() -> None:
    from ..net.attach import Attachments, cleanup_stale
    root = _net_root()
    if Attachments(root).all():
        try:
            cleanup_stale(root)
        except NsboxError as err:
            sys.stderr.write(f"nsbox: warning: cleaning up stale network attachments: {err}\n")


def exec_in(name: str, args: list[str], *, tty: bool = False, env: list[str] = (), workdir: str | None = None) -> int:
    from ..runtime.exec import exec_process
    from ..runtime.planner import load_config
    rec = Records().read(name)
    rt = _runtime(rec.get("state_root"))
    process = dict(load_config(rec["bundle"])["process"])
    process["args"] = list(args)
    process["terminal"] = tty
    if workdir:
        process["cwd"] = workdir
    extra = [e for e in env if "=" in e]
    if extra:
        keys = {e.split("=", 1)[0] for e in extra}
        process["env"] = [e for e in process.get("env", []) if e.split("=", 1)[0] not in keys] + extra
    return exec_process(rt, name, process)


def logs(name: str, out=None, err=None) -> None:
    """Write the container's stdout and stderr (k8s-file lines: TIME STREAM F|P TEXT) to ours."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    rec = Records().read(name)
    try:
        f = open(rec["log"], "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            parts = line.rstrip(b"\n").split(b" ", 3)
            if len(parts) < 3:
                continue
            text = parts[3] if len(parts) > 3 else b""
            stream = err if parts[1] == b"stderr" else out
            stream.write(text + (b"\n" if parts[2] == b"F" else b""))
    out.flush()
    err.flush()


def stop(name: str, timeout: float = 10.0) -> None:
    """SIGTERM to the init; SIGKILL to everything after ``timeout`` seconds (as docker stop)."""
    records = Records()
    rec = records.read(name)
    rt = _runtime(rec.get("state_root"))
    try:
        rt.kill(name, signal.SIGTERM)
    except (InvalidState, NsboxError):
        return _wait_exited(name, records, 5.0)
    if not _wait_exited(name, records, timeout):
        try:
            rt.kill(name, signal.SIGKILL, all_processes=True)
        except NsboxError:
            pass
        _wait_exited(name, records, 10.0)


def _wait_exited(name: str, records: Records, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if records.exit_code(name) is not None:
            return True
        time.sleep(0.02)
    return records.exit_code(name) is not None


def remove(name: str, force: bool = False) -> None:
    records = Records()
    rec = records.read(name)
    st = status(rec, records)
    if st in ("running", "created", "paused") and not force:
        raise InvalidState(name, st, "exited", f"container {name} is {st}: stop it first or use rm -f")
    if st in ("running", "created", "paused"):
        try:
            _runtime(rec.get("state_root")).kill(name, signal.SIGKILL, all_processes=True)
        except NsboxError:
            pass
        _wait_exited(name, records, 10.0)
    _remove_everything(name, records, rec)


def _undo_run(name: str, records: Records, record: dict) -> None:
    """A failed `run -d`: undo only what this run made (another container may have the same id in
    the runtime or on the network: that is often why it failed)."""
    if record.get("pid"):
        _wait_conmon(record.get("conmon_pid"), 0.0)
    _release(name, record, runtime=bool(record.get("pid")), network=bool(record.get("attached")))
    records.remove(name)


def _remove_everything(name: str, records: Records, rec: dict) -> None:
    """Runtime container, network attachment, conmon, record: all of it, quietly."""
    _wait_conmon(rec.get("conmon_pid"), 5.0)
    _release(name, rec)
    records.remove(name)


def _release(name: str, rec: dict, runtime: bool = True, network: bool = True) -> None:
    """Quietly free what a container holds outside its record: its runtime state, its network
    attachment, the port forward and the namespace holder."""
    from .network import disconnect
    if runtime:
        try:
            _runtime(rec.get("state_root")).delete(name, force=True)
        except NsboxError:
            pass
    if network:
        try:
            disconnect(name)
        except NsboxError:
            pass
    _stop_forward(rec.get("forward"))
    _stop_holder(rec.get("holder"))


def _stop_forward(forward: dict | None) -> None:
    """End the container's fd forward (it also ends by itself when its target process exits)."""
    if not forward:
        return
    from .network import unpublish
    try:
        unpublish(forward)
    except (NsboxError, OSError, KeyError, ValueError, TypeError):
        pass


def _stop_holder(holder: dict | None) -> None:
    """Kill the rootless namespace holder (`sleep`) of a container, if that pid still is it."""
    if not holder:
        return
    from ..proc.procfs import start_time
    try:
        if start_time(holder["pid"]) == holder["start_time"]:
            os.kill(holder["pid"], signal.SIGKILL)
    except (OSError, ValueError, TypeError):
        pass


def _wait_conmon(pid: int | None, timeout: float) -> None:
    """Let conmon finish (its exit command) before the record goes; kill it if it hangs."""
    if not pid:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _net_root() -> str:
    from ..net.store import state_root
    return state_root()


def exited(name: str) -> None:
    """conmon's exit command: the container exited; free its network and runtime state, keep the record."""
    records = Records()
    try:
        rec = records.read(name)
    except NsboxError:
        return
    _release(name, rec)
    if rec.get("auto_remove"):
        records.remove(name)   # (conmon, our parent, is still running: do not wait for it)


def _main(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="nsbox-exit-command")
    p.add_argument("what", choices=["exited"])
    p.add_argument("--box-root")
    p.add_argument("--net-root")
    p.add_argument("name")
    a = p.parse_args(argv)
    if a.box_root:
        os.environ["NSBOX_BOX_ROOT"] = a.box_root
    if a.net_root:
        os.environ["NSBOX_NET_ROOT"] = a.net_root
    try:
        exited(a.name)
    except Exception as err:  # noqa: BLE001 - conmon ignores our status; say what failed
        sys.stderr.write(f"nsbox: cleaning up after {a.name}: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
