"""Parsers for /proc files. Pure functions take text, so tests feed captured copies."""

from __future__ import annotations

import os

_OCTAL_DIGITS = frozenset("01234567")


def unescape_octal(s: str) -> str:
    """Replace each backslash followed by three octal digits with that character (as the regex
    ``\\([0-7]{3})`` would; without re, which costs ~2 ms of every start)."""
    if "\\" not in s:
        return s
    out = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        digits = s[i + 1:i + 4]
        if ch == "\\" and len(digits) == 3 and all(d in _OCTAL_DIGITS for d in digits):
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_stat(text: str) -> dict:
    """Fields of /proc/PID/stat: comm may contain spaces and parentheses, so split at the last ')'."""
    head, _, tail = text.rpartition(")")
    pid_s, _, comm = head.partition(" (")
    rest = tail.split()
    return {"pid": int(pid_s), "comm": comm, "state": rest[0], "ppid": int(rest[1]),
            "starttime": int(rest[19])}


def read_stat(pid: int | str) -> dict:
    with open(f"/proc/{pid}/stat") as f:
        return parse_stat(f.read())


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), None if the pid is gone."""
    try:
        return read_stat(pid)["starttime"]
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def parse_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def read_status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return parse_status(f.read())


def read_cmdline(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        raw = f.read()
    return [os.fsdecode(a) for a in raw.split(b"\0") if a] if raw else []


def list_pids() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def parse_mountinfo(text: str) -> list[dict]:
    """/proc/PID/mountinfo lines as dicts (mount id, parent, root, mountpoint, options, optional fields,
    fstype, source, super options). Octal escapes (\\040) in paths are decoded."""
    def unescape(s: str) -> str:
        # The kernel escapes space, tab, newline and backslash as \ooo octal; nothing else.
        return unescape_octal(s)
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        mounts.append({
            "id": int(f[0]), "parent": int(f[1]), "dev": f[2], "root": unescape(f[3]),
            "mountpoint": unescape(f[4]), "options": f[5], "optional": f[6:],
            "fstype": r[0] if r else "", "source": unescape(r[1]) if len(r) > 1 else "",
            "super_options": r[2] if len(r) > 2 else "",
        })
    return mounts


def read_mountinfo(pid: int | str = "self") -> list[dict]:
    # surrogateescape: mount points need not be UTF-8; os.fsencode() gives the bytes back.
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return parse_mountinfo(f.read())
