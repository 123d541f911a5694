"""Which namespaces exist, who is in them, and how they relate: the data behind ``nsbox lsns``.

Follows util-linux 2.38 ``lsns``: every readable /proc/PID contributes the namespaces in its
/proc/PID/ns; processes whose ns links we may not stat (rootless: other users' processes) are
skipped, not reported as errors. A namespace's representative is its lowest pid (PID, PPID, UID,
USER, COMMAND and PATH come from it). Owner (NS_GET_USERNS) and parent (NS_GET_PARENT, pid and
user namespaces only) are inode numbers, None where the kernel will not tell us (the top of what
the caller may see). Namespaces kept alive only by a bind mount (nsfs entries in
/proc/self/mountinfo) are found with ``persistent=True``; owners and parents that no listed
process is in are found with ``relatives=True`` (what ``lsns --tree`` shows with NPROCS 0).

    >>> from nsbox.ns import list_namespaces, NamespaceType
    >>> [ (n.type.ns_name, n.inode, n.nprocs) for n in list_namespaces(types=[NamespaceType.NET]) ]
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from ..errors import NamespaceError
from ..linux import nsfs
from ..proc import procfs
from .types import NamespaceType

# The order util-linux reads /proc/PID/ns entries in (it decides which namespace is created first).
SCAN_ORDER = (NamespaceType.MNT, NamespaceType.NET, NamespaceType.PID, NamespaceType.UTS,
              NamespaceType.IPC, NamespaceType.USER, NamespaceType.CGROUP, NamespaceType.TIME)
HIERARCHICAL = (NamespaceType.PID, NamespaceType.USER)
# /proc/PID/cmdline and comm are read with one BUFSIZ read, NULs turned into spaces, the last byte dropped.
_CMDLINE_MAX = 8192


@dataclass
class Namespace:
    """One namespace. ``pids`` in /proc order; ``pid`` is the lowest (util-linux's PID column)."""

    type: NamespaceType
    inode: int
    pids: list[int] = field(default_factory=list)
    owner: int | None = None        # inode of the owning user namespace
    parent: int | None = None       # inode of the parent (pid and user namespaces)
    uid: int | None = None          # uid of the lowest pid (the creator's uid if no process is in it)
    user: str | None = None
    command: str | None = None
    ppid: int | None = None
    nsfs: list[str] = field(default_factory=list)   # where it is bind-mounted (nsfs mounts)
    netnsid: int | None = None      # network namespaces: the nsid, -1 when none is assigned
    path: str | None = None         # /proc/PID/ns/TYPE of the lowest pid

    @property
    def pid(self) -> int | None:
        return min(self.pids) if self.pids else None

    @property
    def nprocs(self) -> int:
        return len(self.pids)


@dataclass
class ProcessNamespaces:
    """What one /proc/PID says: its ids and, per namespace type, (inode, parent inode, owner inode)."""

    pid: int
    ppid: int
    uid: int
    ns: dict[NamespaceType, tuple[int, int, int]]
    netnsid: int | None = None


# ---------------------------------------------------------------------------------------------
# reading /proc

def _related_inodes(fd: int, ns_type: NamespaceType, path: str) -> tuple[int, int]:
    """(parent inode, owner inode) of the namespace open as ``fd``; 0 where the kernel says EPERM."""
    parent = owner = 0
    if ns_type in HIERARCHICAL:
        parent = _ioctl_inode(nsfs.get_parent, fd, path)
    owner = _ioctl_inode(nsfs.get_userns, fd, path)
    return parent, owner


def _ioctl_inode(call, fd: int, path: str | None) -> int:
    try:
        other = call(fd, path)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EINVAL, errno.ENOTTY, errno.ENOSYS):
            return 0
        raise
    try:
        return os.fstat(other).st_ino
    finally:
        os.close(other)


def read_process(pid: int | str, types=SCAN_ORDER, netnsids: "NetnsidCache | None" = None,
                 related: dict[int, tuple[int, int]] | None = None) -> ProcessNamespaces | None:
    """The namespaces of one process; None if it vanished or may not be inspected at all.

    ``related`` caches (parent, owner) per namespace inode across calls: they never change, so the
    ioctls are made once per namespace instead of once per process."""
    try:
        dirfd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        uid = os.fstat(dirfd).st_uid
        with open(os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd), "rb") as f:
            stat = procfs.parse_stat(f.read().decode("utf-8", "surrogateescape"))
        proc = ProcessNamespaces(pid=stat["pid"], ppid=stat["ppid"], uid=uid, ns={})
        for ns_type in SCAN_ORDER:
            if ns_type not in types:
                continue
            entry = _read_ns_entry(dirfd, ns_type, f"/proc/{pid}/ns/{ns_type.ns_name}", related)
            if entry is None:
                continue
            proc.ns[ns_type] = entry
            if ns_type is NamespaceType.NET and netnsids is not None:
                proc.netnsid = netnsids.lookup(entry[0], dirfd)
        return proc
    except (OSError, ValueError, IndexError, KeyError):
        return None  # the process exited while we read it
    finally:
        os.close(dirfd)


def _read_ns_entry(dirfd: int, ns_type: NamespaceType, path: str,
                   related: dict[int, tuple[int, int]] | None = None) -> tuple[int, int, int] | None:
    rel = f"ns/{ns_type.ns_name}"
    try:
        inode = os.stat(rel, dir_fd=dirfd).st_ino
    except OSError:  # EACCES (not ours), ENOENT (kernel without it), ESRCH (gone)
        return None
    if related is not None and inode in related:
        return (inode, *related[inode])
    try:
        fd = os.open(rel, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return (inode, 0, 0)
    try:
        parent, owner = _related_inodes(fd, ns_type, path)
    except OSError:
        parent = owner = 0
    finally:
        os.close(fd)
    if related is not None:
        related[inode] = (parent, owner)
    return (inode, parent, owner)


class NetnsidCache:
    """RTM_GETNSID answers per network-namespace inode, over one rtnetlink socket."""

    def __init__(self):
        from ..linux import netnsid
        self._mod = netnsid
        try:
            self._sock = netnsid.open_route_socket()
        except OSError:
            self._sock = None
        self._cache: dict[int, int | None] = {}

    def lookup(self, inode: int, dirfd: int) -> int | None:
        if inode not in self._cache:
            self._cache[inode] = self._query(dirfd)
        return self._cache[inode]

    def _query(self, dirfd: int) -> int | None:
        if self._sock is None:
            return None
        try:
            fd = os.open("ns/net", os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError:
            return None
        try:
            return self._mod.get_netnsid(self._sock, fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def read_processes(types=SCAN_ORDER, netnsids: NetnsidCache | None = None) -> list[ProcessNamespaces]:
    """Every process we may inspect, in /proc directory order."""
    procs = []
    related: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = read_process(name, types, netnsids, related)
            if proc is not None:
                procs.append(proc)
    return procs


# ---------------------------------------------------------------------------------------------
# from processes to namespaces

def read_cmdline_text(pid: int) -> str | None:
    """util-linux's COMMAND: the cmdline with NULs as spaces (comm for kernel threads)."""
    for name in ("cmdline", "comm"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                raw = f.read(_CMDLINE_MAX)
        except OSError:
            return None
        if raw:
            return os.fsdecode(raw.replace(b"\0", b" ")[:-1])
    return None


def user_name(uid: int, _cache: dict[int, str] = {}) -> str:  # noqa: B006 - a deliberate per-process cache
    name = _cache.get(uid)
    if name is None:
        import pwd
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _cache[uid] = name
    return name


def group_by_namespace(procs: list[ProcessNamespaces]) -> list[Namespace]:
    """Namespaces in the order util-linux meets them (process order, then SCAN_ORDER)."""
    found: dict[int, Namespace] = {}
    reps: dict[int, ProcessNamespaces] = {}
    for proc in procs:
        for ns_type in SCAN_ORDER:
            entry = proc.ns.get(ns_type)
            if entry is None:
                continue
            inode, parent, owner = entry
            ns = found.get(inode)
            if ns is None:
                ns = found[inode] = Namespace(type=ns_type, inode=inode, parent=parent or None,
                                              owner=owner or None)
            ns.pids.append(proc.pid)
            if inode not in reps or reps[inode].pid > proc.pid:
                reps[inode] = proc
    for inode, ns in found.items():
        rep = reps[inode]
        ns.uid, ns.ppid = rep.uid, rep.ppid
        ns.path = f"/proc/{rep.pid}/ns/{ns.type.ns_name}"
        if ns.type is NamespaceType.NET:
            ns.netnsid = rep.netnsid
    return list(found.values())


def fill_details(namespaces: list[Namespace], mountinfo: list[dict] | None = None) -> None:
    """USER, COMMAND and NSFS for each namespace (read now, as util-linux does when printing)."""
    if mountinfo is None:
        mountinfo = procfs.read_mountinfo("self")
    mounts = nsfs_mounts(mountinfo)
    for ns in namespaces:
        if ns.uid is not None:
            ns.user = user_name(ns.uid)
        if ns.pids:
            ns.command = read_cmdline_text(ns.pid)
        ns.nsfs = mounts.get(f"{ns.type.ns_name}:[{ns.inode}]", [])


def nsfs_mounts(mountinfo: list[dict]) -> dict[str, list[str]]:
    """'net:[4026532177]' -> the mount points where that namespace is bind-mounted, in mount order."""
    out: dict[str, list[str]] = {}
    for m in mountinfo:
        if m["fstype"] != "nsfs":
            continue
        targets = out.setdefault(m["root"], [])
        if m["mountpoint"] not in targets:
            targets.append(m["mountpoint"])
    return out


# ---------------------------------------------------------------------------------------------
# namespaces no process is in: bind-mounted ones, and owners/parents of listed ones

def namespace_from_fd(fd: int, inode: int, path: str | None, known: dict[int, Namespace],
                      added: list[Namespace]) -> Namespace | None:
    """Add the namespace open as ``fd`` (and, recursively, its owner and parent) to ``known``."""
    try:
        ns_type = NamespaceType.from_clone_flag(nsfs.get_nstype(fd, path))
    except (OSError, ValueError):
        return None
    owner_fd = parent_fd = -1
    try:
        owner_fd, owner = _related_fd(nsfs.get_userns, fd, path)
        parent_fd, parent = _related_fd(nsfs.get_parent, fd, path)
        ns = Namespace(type=ns_type, inode=inode, owner=owner or None,
                       parent=(parent or None) if ns_type in HIERARCHICAL else None)
        try:
            ns.uid = nsfs.get_owner_uid(fd, path)
        except OSError:
            ns.uid = 0  # only user namespaces have an owner uid; util-linux shows 0 for the rest
        known[inode] = ns
        added.append(ns)
        if ns_type in HIERARCHICAL and parent and parent != inode and parent not in known:
            namespace_from_fd(parent_fd, parent, path, known, added)
        if owner and owner not in known:
            namespace_from_fd(owner_fd, owner, path, known, added)
        return ns
    finally:
        for other in (owner_fd, parent_fd):
            if other >= 0:
                os.close(other)


def _related_fd(call, fd: int, path: str | None) -> tuple[int, int]:
    try:
        other = call(fd, path)
    except OSError:
        return -1, 0
    try:
        return other, os.fstat(other).st_ino
    except OSError:
        os.close(other)
        return -1, 0


def add_missing_relatives(namespaces: list[Namespace]) -> list[Namespace]:
    """Owners and parents of listed namespaces that no listed process is in (NPROCS 0).

    Mirrors util-linux: orphans are resolved parents first, then owners, the most recently met
    orphan first, through the lowest pid's /proc/PID/ns file. Returns what was added.
    """
    known = {ns.inode: ns for ns in namespaces}
    orphans: dict[str, list[Namespace]] = {"parent": [], "owner": []}
    for ns in namespaces:
        if ns.type in HIERARCHICAL and ns.parent and ns.parent not in known:
            orphans["parent"].append(ns)
        if ns.owner and ns.owner not in known:
            orphans["owner"].append(ns)
    added: list[Namespace] = []
    for relation, call in (("parent", nsfs.get_parent), ("owner", nsfs.get_userns)):
        for ns in reversed(orphans[relation]):
            wanted = getattr(ns, relation)
            if wanted in known or not ns.pids:
                continue
            path = f"/proc/{ns.pid}/ns/{ns.type.ns_name}"
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                other, inode = _related_fd(call, fd, path)
            finally:
                os.close(fd)
            if other < 0:
                continue
            try:
                if inode == wanted:
                    namespace_from_fd(other, inode, path, known, added)
            finally:
                os.close(other)
    return added


def persistent_namespaces(mountinfo: list[dict], known: dict[int, Namespace]) -> list[Namespace]:
    """Namespaces bind-mounted somewhere (nsfs in mountinfo) that no listed process is in."""
    added: list[Namespace] = []
    for m in mountinfo:
        if m["fstype"] != "nsfs":
            continue
        root = m["root"]
        start, end = root.find("["), root.rfind("]")
        if start < 0 or end < start or not root[start + 1:end].isdigit():
            continue
        inode = int(root[start + 1:end])
        if inode in known:
            continue
        try:
            fd = os.open(m["mountpoint"], os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_ino == inode:
                namespace_from_fd(fd, inode, m["mountpoint"], known, added)
        finally:
            os.close(fd)
    return added


# ---------------------------------------------------------------------------------------------
# the public entry point

def _normalise_types(types) -> tuple[NamespaceType, ...]:
    if types is None:
        return SCAN_ORDER
    if isinstance(types, (NamespaceType, str)):
        types = [types]
    out = []
    for t in types:
        if isinstance(t, str):
            try:
                t = NamespaceType.from_name(t)
            except ValueError as exc:
                raise NamespaceError(str(exc)) from None
        out.append(t)
    return tuple(out)


def list_namespaces(types=None, pid: int | None = None, persistent: bool = False, *,
                    relatives: bool = False, netnsid: bool = True) -> list[Namespace]:
    """The namespaces on this system that the caller may inspect, sorted by inode.

    types: NamespaceType values or names ('net', 'mnt', ...); default all eight.
    pid: only the namespaces this process is in (an empty list if it does not exist).
    persistent: also namespaces held only by a bind mount (nsfs mounts in /proc/self/mountinfo).
    relatives: also owners/parents of listed namespaces that no listed process is in.
    netnsid: ask rtnetlink for network namespaces' ids (RTM_GETNSID).
    """
    wanted = _normalise_types(types)
    cache = NetnsidCache() if netnsid and NamespaceType.NET in wanted else None
    try:
        procs = read_processes(wanted, cache)
    finally:
        if cache is not None:
            cache.close()
    namespaces = group_by_namespace(procs)
    mountinfo = procfs.read_mountinfo("self")
    known = {ns.inode: ns for ns in namespaces}
    if persistent:
        namespaces += [ns for ns in persistent_namespaces(mountinfo, known) if ns.type in wanted]
    if relatives:
        namespaces += add_missing_relatives(namespaces)
    if pid is not None:
        keep = {ns.inode for ns in namespaces if pid in ns.pids}
        namespaces = [ns for ns in namespaces if ns.inode in keep]
    namespaces.sort(key=lambda ns: ns.inode)
    fill_details(namespaces, mountinfo)
    return namespaces


def namespace_of(pid: int | str, ns_type: NamespaceType) -> int:
    """The inode of ``pid``'s namespace of ``ns_type`` (what /proc/PID/ns/TYPE links to)."""
    path = ns_type.proc_path(pid)
    try:
        return os.stat(path).st_ino
    except OSError as exc:
        raise NamespaceError(f"cannot inspect {path}: {exc.strerror}") from exc
