"""Rootless networking: user-mode network stacks for a network namespace the caller owns.

pasta (passt) is the default: it gives the namespace a copy of the host's addresses and routes
and forwards published ports; slirp4netns is the fallback (10.0.2.0/24, a tap device, ports added
through its API socket). Both run as a detached helper process that lives as long as the
namespace; stop() ends it by pid (after checking the pid still is that helper).

start(tool, pid, ports) -> dict (JSON-able): tool, helper_pid, helper_start, ifname, address,
gateway, dns, ports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ..errors import NetworkError
from .ports import PortMapping

TOOLS = ("pasta", "slirp4netns")
TUN = "/dev/net/tun"
SLIRP_ADDRESS, SLIRP_GATEWAY, SLIRP_DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"


def find_tool(preferred: str | None = None) -> tuple[str, str]:
    """(tool, path): ``preferred`` if given, else pasta, else slirp4netns; a clear error if none."""
    candidates = (preferred,) if preferred else TOOLS
    for tool in candidates:
        path = shutil.which(tool)
        if path:
            return tool, path
    if preferred:
        raise NetworkError(f"rootless networking with {preferred} needs {preferred}, which is not installed")
    raise NetworkError("rootless networking needs pasta (package passt) or slirp4netns; neither is installed")


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def helper_alive(pid: int, start: int | None) -> bool:
    """A helper is alive if its pid exists with the recorded start time and it is not a zombie
    (a double-forked helper whose reaper does not reap stays a zombie: it is dead for us)."""
    if pid <= 0:
        return False
    now = _start_time(pid)
    return now is not None and (start is None or now == start) and not _is_zombie(pid)


def stop(info: dict, timeout: float = 5.0) -> None:
    """End the helper of ``info`` (if it still runs) and reap it if it is our child."""
    pid, start = int(info.get("helper_pid") or 0), info.get("helper_start")
    if not helper_alive(pid, start):
        _reap(pid)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reap(pid) or not helper_alive(pid, start):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False


def start(tool: str | None, pid: int, ports: list[PortMapping] = (), timeout: float = 10.0) -> dict:
    """Give the network namespace of ``pid`` (and its user namespace) user-mode networking."""
    tool, path = find_tool(tool)
    if _start_time(pid) is None:
        raise NetworkError(f"process {pid} does not exist (no network namespace to configure)")
    if not os.access(TUN, os.R_OK | os.W_OK):
        raise NetworkError(f"{tool} needs read-write access to {TUN} (mode 0666 on a standard system; "
                           f"as root: chmod 0666 {TUN})")
    if tool == "pasta":
        return _start_pasta(path, pid, list(ports), timeout)
    return _start_slirp(path, pid, list(ports), timeout)


def _pasta_port(m: PortMapping) -> str:
    return f"{m.host_ip + '/' if m.host_ip else ''}{m.host_port}:{m.container_port}"


def _start_pasta(path: str, pid: int, ports: list[PortMapping], timeout: float) -> dict:
    tcp = [p for p in ports if p.protocol == "tcp"]
    udp = [p for p in ports if p.protocol == "udp"]
    with tempfile.TemporaryDirectory(prefix="nsbox-pasta-") as tmp:
        pidfile = os.path.join(tmp, "pid")
        argv = [path, "--config-net", "--quiet", "--pid", pidfile]
        # one -t/-u per mapping: pasta takes "ADDR/PORT:PORT" once per option, not a comma list of them
        for flag, group in (("-t", tcp), ("-u", udp)):
            argv += [w for m in group for w in (flag, _pasta_port(m))] if group else [flag, "none"]
        argv += ["-T", "none", "-U", "none", str(pid)]
        # pasta daemonises once the namespace is configured and the ports are bound.
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                             start_new_session=True)
        if res.returncode:
            lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip() and "syslog" not in ln]
            msg = " ".join(lines) or f"exit status {res.returncode}"
            raise NetworkError(f"pasta: {msg}")
        with open(pidfile) as f:
            helper = int(f.read().strip())
    info = {"tool": "pasta", "helper_pid": helper, "helper_start": _start_time(helper), "argv": argv,
            "ports": [p.to_json() for p in ports]}
    info.update(_inside_addresses(pid))
    return info


def _inside_addresses(pid: int) -> dict:
    """The interface and gateway pasta configured, read from /proc/PID/net/route (which shows the
    process's network namespace and needs no privilege), and the interface's address."""
    out = {"ifname": None, "address": None, "gateway": None, "dns": []}
    try:
        with open(f"/proc/{pid}/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    out["ifname"] = fields[0]
                    out["gateway"] = socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
                    break
    except OSError:
        pass
    if out["ifname"]:
        # SIOCGIFADDR needs a socket in that namespace; /proc/PID/net/fib_trie lists LOCAL addresses.
        try:
            with open(f"/proc/{pid}/net/fib_trie") as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines):
                if "/32 host LOCAL" in line and i > 0:
                    addr = lines[i - 1].split()[-1]
                    if not addr.startswith("127."):
                        out["address"] = addr
                        break
        except (OSError, IndexError):
            pass
    return out


def _start_slirp(path: str, pid: int, ports: list[PortMapping], timeout: float) -> dict:
    tmp = tempfile.mkdtemp(prefix="nsbox-slirp-")
    api = os.path.join(tmp, "api.sock")
    ready_r, ready_w = os.pipe()
    argv = [path, "--configure", "--mtu=65520", "--disable-host-loopback", f"--api-socket={api}",
            f"--ready-fd={ready_w}", str(pid), "tap0"]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, pass_fds=(ready_w,), start_new_session=True)
    except OSError as err:
        os.close(ready_r)
        os.close(ready_w)
        raise NetworkError(f"slirp4netns: {err.strerror}") from None
    os.close(ready_w)
    info = {"tool": "slirp4netns", "helper_pid": proc.pid, "helper_start": _start_time(proc.pid), "argv": argv,
            "api_socket": api, "ifname": "tap0", "address": f"{SLIRP_ADDRESS}/24", "gateway": SLIRP_GATEWAY,
            "dns": [SLIRP_DNS], "ports": [p.to_json() for p in ports]}
    try:
        _wait_ready(proc, ready_r, timeout)
        for m in ports:
            _slirp_hostfwd(api, m)
    except BaseException:
        stop(info)
        _remove_tree(tmp)
        raise
    finally:
        os.close(ready_r)
    proc.stderr.close()
    proc.returncode = 0  # the helper outlives this Popen object; stop() reaps it by pid
    return info


def _wait_ready(proc: subprocess.Popen, ready_r: int, timeout: float) -> None:
    import select
    ready, _, _ = select.select([ready_r], [], [], timeout)
    data = os.read(ready_r, 1) if ready else b""
    if data != b"1":
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        err = proc.stderr.read().decode(errors="replace") if proc.returncode is not None else ""
        msg = " ".join(err.split()[-30:]) or ("timed out" if not ready else f"exit status {proc.returncode}")
        raise NetworkError(f"slirp4netns: {msg}")


def _slirp_hostfwd(api: str, m: PortMapping) -> None:
    request = {"execute": "add_hostfwd", "arguments": {
        "proto": m.protocol, "host_addr": m.host_ip or "0.0.0.0", "host_port": m.host_port,
        "guest_addr": SLIRP_ADDRESS, "guest_port": m.container_port}}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(api)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    answer = json.loads(reply or b"{}")
    if "error" in answer or "return" not in answer:
        desc = answer.get("error", {}).get("desc") if isinstance(answer.get("error"), dict) else answer
        raise NetworkError(f"slirp4netns: publishing {m}: {desc}")


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def cleanup(info: dict) -> None:
    stop(info)
    api = info.get("api_socket")
    if api:
        _remove_tree(os.path.dirname(api))
