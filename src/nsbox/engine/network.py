"""`nsbox run --network MODE -p PORT...`: the container's network, as docker/podman.

MODE: none (only lo), host (the host's namespace), bridge[:NAME] (a veth on a bridge network of
nsbox.net; default network "nsbox"), pasta / slirp4netns (rootless user-mode stacks), ns:PATH (join
a persistent namespace, e.g. from `nsbox network netns add`), container:ID (share a running front-end
container's namespace).

-p with none or ns:PATH publishes through the fd-passing forward (nsbox.net.fdforward): a relay on
the host listens on the host port and connects sockets made inside the container's namespace, so the
container still reaches nothing outside. Root: the forward targets the init between create and start.
Rootless: the init is not dumpable before it execs (its /proc/PID/ns/* cannot be opened), so the
container joins the user+net namespaces of a holder made first (RootlessNamespaces, follow=True), the
forward targets the holder, and the holder exits when the init does: the relay ends with it.

The order around the runtime: configure_spec() before create (namespaces; bind mounts of the
container's own /etc/hosts, /etc/resolv.conf, /etc/hostname, written empty first so the mount
targets exist), connect() after create (the init's pid names the namespace) and before start, and
disconnect() after the container is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import NetworkError, UsageError

ETC_FILES = ("hosts", "resolv.conf", "hostname")


@dataclass(frozen=True)
class NetworkMode:
    kind: str                 # none | host | bridge | pasta | slirp4netns | ns | container
    name: str = ""            # bridge network name, ns path or container name

    @property
    def attaches(self) -> bool:
        """Does connect() configure something (and disconnect() have something to undo)?"""
        return self.kind in ("bridge", "pasta", "slirp4netns")

    @property
    def forwards(self) -> bool:
        """Are -p ports published through the fd forward (a private namespace without a route out)?"""
        return self.kind in ("none", "ns")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


def default_mode(rootless: bool) -> NetworkMode:
    """``--network default``, as docker/podman's default: root -> the bridge network "nsbox",
    rootless -> pasta (or slirp4netns)."""
    if rootless:
        from ..net.rootless import find_tool
        return NetworkMode(find_tool()[0])
    from ..net.attach import DEFAULT_BRIDGE_NETWORK
    return NetworkMode("bridge", DEFAULT_BRIDGE_NETWORK)


def parse_network(text: str | None, rootless: bool) -> NetworkMode:
    if text is None:
        return NetworkMode("none")   # attaching costs ~0.4 s (3x the whole run): opt in with --network
    if text == "default":
        return default_mode(rootless)
    kind, sep, rest = text.partition(":")
    if kind in ("none", "host", "pasta", "slirp4netns") and not sep:
        if kind in ("pasta", "slirp4netns"):
            from ..net.rootless import find_tool
            find_tool(kind)  # "needs pasta, which is not installed": before anything is created
        return NetworkMode(kind)
    if kind == "bridge":
        from ..net.attach import DEFAULT_BRIDGE_NETWORK
        if rootless:
            raise NetworkError("--network bridge needs root; rootless containers use --network pasta or slirp4netns")
        return NetworkMode("bridge", rest or DEFAULT_BRIDGE_NETWORK)
    if kind == "ns" and rest:
        from ..net import netns
        path = netns.resolve(rest)
        if not netns.is_netns(path):
            raise NetworkError(f"--network ns:{rest}: {path} is not a network namespace")
        return NetworkMode("ns", path)
    if kind == "container" and rest:
        return NetworkMode("container", rest)
    if not sep and kind and not rootless:
        return NetworkMode("bridge", kind)   # --network NAME: a named bridge network, as docker
    raise UsageError(f"invalid --network {text!r}: use none, host, bridge[:NAME], pasta, slirp4netns, "
                     f"ns:PATH or container:NAME")


def check_network(mode: NetworkMode, ports: list[str]) -> None:
    """Everything that can be refused before the container exists: the network, the ports."""
    from ..net.ports import check_free, parse_ports
    mappings = parse_ports(ports)
    if mappings and mode.kind == "host":
        raise UsageError("-p is not possible with --network host: the container uses the host's ports directly")
    if mappings and mode.kind == "container":
        raise UsageError(f"-p is not possible with --network {mode}: publish the ports when running {mode.name}")
    if mappings and mode.kind == "ns" and os.geteuid() != 0:
        raise UsageError("-p with --network ns:PATH needs root; rootless, use -p with --network none, pasta "
                         "or slirp4netns")
    if mode.kind == "bridge":
        from ..net.store import NetworkStore
        from ..net.attach import DEFAULT_BRIDGE_NETWORK, default_network
        if mode.name == DEFAULT_BRIDGE_NETWORK:
            default_network()   # created on first use
        else:
            NetworkStore().get(mode.name)   # "network X does not exist"
    for m in mappings:
        check_free(m)


def configure_spec(spec: dict, mode: NetworkMode, files_dir: str | None, joined_netns: str | None = None) -> None:
    """Namespaces and /etc bind mounts of ``spec`` for ``mode``. ``joined_netns``: the path of the
    namespace to join for container:ID (the caller resolved it)."""
    linux = spec["linux"]
    others = [n for n in linux["namespaces"] if n["type"] != "network"]
    if mode.kind == "host":
        linux["namespaces"] = others
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys"] + [
            {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}]
    elif mode.kind == "ns":
        linux["namespaces"] = others + [{"type": "network", "path": mode.name}]
    elif mode.kind == "container":
        linux["namespaces"] = others + [{"type": "network", "path": joined_netns}]
        if linux.get("uidMappings"):
            # rootless: that namespace belongs to the other container's user namespace; join it too
            linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"] + [
                {"type": "user", "path": joined_netns[:-len("net")] + "user"}]
            linux.pop("uidMappings", None)
            linux.pop("gidMappings", None)
    if files_dir and mode.kind != "host":
        for name in ETC_FILES:
            spec["mounts"].append({"destination": f"/etc/{name}", "type": "bind",
                                   "source": os.path.join(files_dir, name), "options": ["bind", "ro"]})


def initial_files(files_dir: str, hostname: str, mode: NetworkMode) -> None:
    """The /etc files before connect() fills them in (as they stay for none, ns: and container:)."""
    from ..net import files
    if mode.kind == "host":
        return
    content = {"hosts": files.hosts_content(None), "hostname": files.hostname_content(hostname),
               "resolv.conf": files.resolv_conf_content() if mode.kind == "ns" else ""}
    files.write_files(files_dir, content)


def connect(mode: NetworkMode, container_id: str, pid: int, hostname: str, ports: list[str],
            files_dir: str | None):
    """Attach the namespace of ``pid`` (after create, before start); None when nothing to attach."""
    if not mode.attaches:
        return None
    from ..net.attach import attach
    network = mode.name if mode.kind == "bridge" else mode.kind
    return attach(network, netns=pid, container_id=container_id, hostname=hostname, ports=list(ports),
                  files_dir=files_dir)


def disconnect(container_id: str) -> None:
    """Undo connect() (quietly when there is nothing to undo); then reclaim what crashes left."""
    from ..net.attach import Attachments, cleanup_stale, detach
    from ..net.store import state_root
    root = state_root()
    if Attachments(root).get(container_id) is not None:
        detach(container_id, root)
    cleanup_stale(root)


def publish(mode: NetworkMode, pid: int, ports: list[str]):
    """Start the fd forward of ``ports`` into the network namespace of ``pid`` (the init as root, the
    holder rootless); None when ``mode`` does not forward or there are no ports. Raises NetworkError
    (one line: port in use, namespace not joinable, ...) with nothing left running."""
    if not (ports and mode.forwards):
        return None
    from ..net.fdforward import start_forward
    return start_forward(pid, ports)


def unpublish(info) -> None:
    """Stop a forward from publish() (a ForwardInfo or its JSON); quiet when it already ended."""
    if not info:
        return
    from ..net.fdforward import stop_forward
    stop_forward(info)


def joined_netns(mode: NetworkMode) -> str:
    """container:NAME -> /proc/PID/ns/net of that running front-end container's init."""
    from ..errors import ContainerNotFound
    from .records import Records
    try:
        rec = Records().read(mode.name)
    except ContainerNotFound:
        raise NetworkError(f"--network container:{mode.name}: no such container") from None
    from ..runtime.container import Runtime
    try:
        state = Runtime(rec["state_root"]).state(mode.name)
    except Exception:  # noqa: BLE001 - gone from the runtime: it exited
        state = {"status": "stopped"}
    if state.get("status") != "running":
        raise NetworkError(f"--network container:{mode.name}: the container is not running")
    return f"/proc/{state['pid']}/ns/net"


# The holder with follow=True: says "r" once running, reads the init's pid, exits when that process
# does (pidfd), or at once when its stdin closes first (the front end failed or died before create).
_FOLLOWER = """import os, select
os.write(1, b"r")
os.close(1)
data = b""
while not data.endswith(b"\\n"):
    chunk = os.read(0, 32)
    if not chunk:
        os._exit(0)
    data += chunk
try:
    fd = os.pidfd_open(int(data))
except (OSError, ValueError):
    os._exit(0)
select.select([fd], [], [])
"""


class RootlessNamespaces:
    """Rootless pasta/slirp4netns/fd forward: a user + network namespace made BEFORE the container,
    which joins both by path (as rootless podman does). The container's init is not dumpable until it
    execs, so pasta (or the fd forward) could not open its /proc/PID/ns/* between create and start;
    this holder process (util-linux `unshare -Un sleep`) can be opened, so the network is up before
    the command runs.

        holder = RootlessNamespaces.start(); holder.configure_spec(spec); ...; holder.stop()

    ``follow=True`` (the fd forward, which ends when its target process does): the holder is a tiny
    ``python -I -S`` instead of sleep; ``holder.follow(init_pid)`` after create makes it exit when the
    container's init exits, whoever cleans up (or nobody: a killed front end or conmon).
    """

    def __init__(self, proc):
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, timeout: float = 10.0, follow: bool = False) -> "RootlessNamespaces":
        import shutil
        import subprocess
        import time
        from ..ns.idmap import apply_idmap, rootless_default
        tool = shutil.which("unshare")
        if not tool:
            raise NetworkError("rootless networking needs util-linux unshare, which is not installed")
        if follow:
            return cls._start_follower(tool, timeout)
        sleep = shutil.which("sleep") or "/bin/sleep"
        own = os.stat("/proc/self/ns/net").st_ino
        proc = subprocess.Popen([tool, "--user", "--net", "--", sleep, "infinity"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        holder = cls(proc)
        try:
            deadline = time.monotonic() + timeout
            while True:   # until `unshare` has made the namespaces and exec'd sleep
                if proc.poll() is not None:
                    raise NetworkError(f"cannot make a user and network namespace: "
                                       f"{proc.stderr.read().decode(errors='replace').strip()}")
                try:
                    if (os.stat(f"/proc/{proc.pid}/ns/net").st_ino != own
                            and os.readlink(f"/proc/{proc.pid}/exe") == os.path.realpath(sleep)):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise NetworkError("timed out making a user and network namespace for the container")
                time.sleep(0.001)
            apply_idmap(proc.pid, rootless_default())
        except BaseException:
            holder.stop()
            raise
        return holder

    @classmethod
    def _start_follower(cls, tool: str, timeout: float) -> "RootlessNamespaces":
        import select
        import subprocess
        import sys
        from ..ns.idmap import apply_idmap, rootless_default
        proc = subprocess.Popen([tool, "--user", "--net", "--", sys.executable, "-I", "-S", "-c", _FOLLOWER],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        holder = cls(proc)
        try:
            ready = select.select([proc.stdout], [], [], timeout)[0] and os.read(proc.stdout.fileno(), 1)
            if ready != b"r":
                if proc.poll() is None:
                    raise NetworkError("timed out making a user and network namespace for the container")
                proc.wait()
                raise NetworkError(f"cannot make a user and network namespace: "
                                   f"{proc.stderr.read().decode(errors='replace').strip()}")
            apply_idmap(proc.pid, rootless_default())
        except BaseException:
            holder.stop()
            raise
        finally:
            proc.stdout.close()
        return holder

    def follow(self, pid: int) -> None:
        """From now on the holder lives as long as process ``pid`` (the container's init)."""
        try:
            self.proc.stdin.write(b"%d\n" % pid)
            self.proc.stdin.close()
        except OSError:
            raise NetworkError("the container's namespace holder exited before the container started") from None

    def configure_spec(self, spec: dict) -> None:
        """Join the holder's user and network namespaces (their id maps are already written)."""
        linux = spec["linux"]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] not in ("user", "network")] + [
            {"type": "user", "path": f"/proc/{self.pid}/ns/user"},
            {"type": "network", "path": f"/proc/{self.pid}/ns/net"}]
        linux.pop("uidMappings", None)
        linux.pop("gidMappings", None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stderr):
            if pipe and not pipe.closed:
                try:
                    pipe.close()
                except OSError:
                    pass
