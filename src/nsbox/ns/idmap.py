"""uid/gid maps for user namespaces: parsing, /etc/subuid ranges, and writing them for a child.

Who may write what (user_namespaces(7)):
  - a process with CAP_SETUID/CAP_SETGID in the parent user namespace (root here) writes any map;
  - an unprivileged process may write one line mapping its own euid (egid, after
    ``setgroups deny``) with count 1;
  - anything else goes through the setuid helpers newuidmap/newgidmap, which check /etc/subuid
    and /etc/subgid.
``apply_idmap`` picks the right path; errors say what to install or configure.
"""

from __future__ import annotations

import os
import pwd
import grp
import shutil
import subprocess

from ..errors import IdMapError

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"
CAP_SETGID = 6
CAP_SETUID = 7


class IdMapping:
    """``count`` ids starting at ``inside`` in the namespace are ``outside``.. in the parent.

    Immutable and hashable; a plain slotted class because dataclasses costs ~15 ms to import and
    this module is on every runtime start.
    """
    __slots__ = ("inside", "outside", "count")

    def __init__(self, inside: int, outside: int, count: int = 1):
        for name, value in (("inside", inside), ("outside", outside), ("count", count)):
            if not isinstance(value, int) or value < 0 or value > 0xFFFFFFFF:
                raise IdMapError(f"id mapping {name} must be an integer in 0..4294967295, got {value!r}")
        if count == 0:
            raise IdMapError("id mapping count must be at least 1")
        object.__setattr__(self, "inside", inside)
        object.__setattr__(self, "outside", outside)
        object.__setattr__(self, "count", count)

    def __setattr__(self, name, value):
        raise AttributeError(f"IdMapping is immutable (cannot set {name})")

    def _key(self):
        return (self.inside, self.outside, self.count)

    def __eq__(self, other):
        return isinstance(other, IdMapping) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"IdMapping(inside={self.inside}, outside={self.outside}, count={self.count})"

    def line(self) -> str:
        return f"{self.inside} {self.outside} {self.count}"

    def to_oci(self) -> dict:
        return {"containerID": self.inside, "hostID": self.outside, "size": self.count}

    @classmethod
    def from_oci(cls, obj: dict) -> "IdMapping":
        return cls(int(obj["containerID"]), int(obj["hostID"]), int(obj["size"]))


class IdMap:
    """Everything to write for one new user namespace (immutable, like IdMapping)."""
    __slots__ = ("uids", "gids", "setgroups")

    def __init__(self, uids=(), gids=(), setgroups: str | None = None):
        # setgroups: "allow", "deny" or None (leave as is)
        object.__setattr__(self, "uids", tuple(uids))
        object.__setattr__(self, "gids", tuple(gids))
        object.__setattr__(self, "setgroups", setgroups)

    def __setattr__(self, name, value):
        raise AttributeError(f"IdMap is immutable (cannot set {name})")

    def __eq__(self, other):
        return isinstance(other, IdMap) and (self.uids, self.gids, self.setgroups) == \
            (other.uids, other.gids, other.setgroups)

    def __hash__(self):
        return hash((self.uids, self.gids, self.setgroups))

    def __repr__(self):
        return f"IdMap(uids={self.uids!r}, gids={self.gids!r}, setgroups={self.setgroups!r})"

    def to_json(self) -> dict:
        return {"uids": [m.line().split() for m in self.uids], "gids": [m.line().split() for m in self.gids],
                "setgroups": self.setgroups}

    @classmethod
    def from_json(cls, obj: dict) -> "IdMap":
        conv = lambda rows: tuple(IdMapping(*(int(x) for x in r)) for r in rows)  # noqa: E731
        return cls(conv(obj.get("uids", ())), conv(obj.get("gids", ())), obj.get("setgroups"))

    @property
    def empty(self) -> bool:
        return not self.uids and not self.gids


def format_map(mappings) -> str:
    return "".join(m.line() + "\n" for m in mappings)


def parse_map_text(text: str) -> list[IdMapping]:
    """The contents of /proc/PID/uid_map."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(IdMapping(int(parts[0]), int(parts[1]), int(parts[2])))
    return out


def parse_mapping_option(text: str) -> IdMapping:
    """A --map-users/--map-groups value (not 'auto').

    util-linux 2.39+ writes ``inner:outer:count``; 2.38 (Debian 12) writes ``outer,inner,count``.
    Both are accepted, told apart by the separator.
    """
    if ":" in text:
        parts, order = text.split(":"), "inner"
    elif "," in text:
        parts, order = text.split(","), "outer"
    else:
        raise IdMapError(f"bad id range {text!r}: expected inner:outer:count (or outer,inner,count)")
    if len(parts) != 3:
        raise IdMapError(f"bad id range {text!r}: expected three numbers")
    try:
        a, b, count = (int(p) for p in parts)
    except ValueError:
        raise IdMapError(f"bad id range {text!r}: not a number") from None
    return IdMapping(a, b, count) if order == "inner" else IdMapping(b, a, count)


def resolve_user(value: str | int) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    try:
        return pwd.getpwnam(str(value)).pw_uid
    except KeyError:
        raise IdMapError(f"unknown user {value!r}") from None


def resolve_group(value: str | int) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    try:
        return grp.getgrnam(str(value)).gr_gid
    except KeyError:
        raise IdMapError(f"unknown group {value!r}") from None


def subid_ranges(path: str, name: str | None, ident: int) -> list[tuple[int, int]]:
    """(start, count) ranges for a user/group (by name or numeric id) from /etc/subuid or /etc/subgid."""
    ranges = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or line.lstrip().startswith("#"):
            continue
        owner, start, count = parts
        if owner == name or owner == str(ident):
            try:
                ranges.append((int(start), int(count)))
            except ValueError:
                continue
    return ranges


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def auto_uid_range(uid: int | None = None) -> IdMapping:
    """The first /etc/subuid block of the user, mapped to start at 0 (unshare --map-users=auto)."""
    uid = os.geteuid() if uid is None else uid
    ranges = subid_ranges(SUBUID_FILE, _user_name(uid), uid)
    if not ranges:
        raise IdMapError(f"no subordinate uid range for user {_user_name(uid) or uid} in {SUBUID_FILE}"
                         f" (add one, e.g. with usermod --add-subuids 100000-165535)")
    start, count = ranges[0]
    return IdMapping(0, start, count)


def auto_gid_range(uid: int | None = None) -> IdMapping:
    """The first /etc/subgid block of the user (subgid is keyed by user name), mapped to start at 0."""
    uid = os.geteuid() if uid is None else uid
    name = _user_name(uid)
    ranges = subid_ranges(SUBGID_FILE, name, uid)
    if not ranges:
        raise IdMapError(f"no subordinate gid range for user {name or uid} in {SUBGID_FILE}"
                         f" (add one, e.g. with usermod --add-subgids 100000-165535)")
    start, count = ranges[0]
    return IdMapping(0, start, count)


def rootless_default(uid: int | None = None, gid: int | None = None) -> IdMap:
    """What rootless containers use: caller -> 0, plus the subid block (if any) from 1 upwards."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    name = _user_name(uid)
    uids = [IdMapping(0, uid, 1)]
    gids = [IdMapping(0, gid, 1)]
    sub_u = subid_ranges(SUBUID_FILE, name, uid)
    sub_g = subid_ranges(SUBGID_FILE, name, uid)
    if sub_u and sub_g and shutil.which("newuidmap") and shutil.which("newgidmap"):
        uids.append(IdMapping(1, sub_u[0][0], sub_u[0][1]))
        gids.append(IdMapping(1, sub_g[0][0], sub_g[0][1]))
        return IdMap(tuple(uids), tuple(gids), None)
    return IdMap(tuple(uids), tuple(gids), "deny")


def has_cap(cap: int) -> bool:
    from ..linux.caps import capget
    return bool(capget().effective & (1 << cap))


def _direct_allowed(mappings, own_id: int, privileged: bool) -> bool:
    if privileged:
        return True
    return len(mappings) == 1 and mappings[0].count == 1 and mappings[0].outside == own_id


def _write_proc(pid: int, name: str, text: str) -> None:
    path = f"/proc/{pid}/{name}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as err:
        hint = ""
        if name == "gid_map" and err.errno == 1:
            hint = " (an unprivileged gid map needs setgroups deny, or newgidmap)"
        raise IdMapError(f"write {path}: {err.strerror}{hint} [{text.strip()!r}]") from err


def _run_helper(tool: str, pid: int, mappings) -> None:
    exe = shutil.which(tool)
    if exe is None:
        raise IdMapError(f"{tool} is needed to map more than your own id: install the 'uidmap' package")
    argv = [exe, str(pid)]
    for m in mappings:
        argv += [str(m.inside), str(m.outside), str(m.count)]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        detail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"
        sub = SUBUID_FILE if tool == "newuidmap" else SUBGID_FILE
        raise IdMapError(f"{tool} {pid} {' '.join(argv[2:])} failed: {detail}"
                         f" (are the ranges allowed for this user in {sub}?)")


def apply_idmap(pid: int, idmap: IdMap) -> None:
    """Write setgroups, uid_map and gid_map of ``pid`` (a child that just made a user namespace)."""
    uid, gid = os.geteuid(), os.getegid()
    priv_uid = has_cap(CAP_SETUID) if uid == 0 else False
    priv_gid = has_cap(CAP_SETGID) if uid == 0 else False
    if idmap.uids:
        if _direct_allowed(idmap.uids, uid, priv_uid):
            _write_proc(pid, "uid_map", format_map(idmap.uids))
        else:
            _run_helper("newuidmap", pid, idmap.uids)
    if idmap.setgroups is not None:
        _write_proc(pid, "setgroups", idmap.setgroups)
    if idmap.gids:
        if _direct_allowed(idmap.gids, gid, priv_gid) and (priv_gid or idmap.setgroups == "deny"):
            _write_proc(pid, "gid_map", format_map(idmap.gids))
        else:
            _run_helper("newgidmap", pid, idmap.gids)
