"""The content of /etc/hosts, /etc/resolv.conf and /etc/hostname for a container.

Containers on one network know each other's names: hosts_content() lists every peer's address.
write_files() puts the three files in a directory; an existing file is rewritten in place (same
inode), so a running container that bind-mounted it sees the new content."""

from __future__ import annotations

import os

LOCALHOST = ("127.0.0.1\tlocalhost\n"
             "::1\tlocalhost ip6-localhost ip6-loopback\n")


def hosts_content(own: tuple[str, str] | None, peers: list[tuple[str, str]] = (),
                  gateway_name: tuple[str, str] | None = None) -> str:
    """own = (address, hostname); peers = [(address, name), ...]."""
    lines = [LOCALHOST]
    if own:
        lines.append(f"{own[0]}\t{own[1]}\n")
    for addr, name in sorted(peers, key=lambda p: p[1]):
        if own and name == own[1]:
            continue
        lines.append(f"{addr}\t{name}\n")
    if gateway_name:
        lines.append(f"{gateway_name[0]}\t{gateway_name[1]}\n")
    return "".join(lines)


def host_resolv_conf(path: str = "/etc/resolv.conf") -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf_content(host_conf: str | None = None, nameservers: list[str] | None = None) -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a container netns);
    ``nameservers`` replace the host's (e.g. pasta's DNS forwarder)."""
    if host_conf is None:
        host_conf = host_resolv_conf()
    kept, servers = [], []
    for line in host_conf.splitlines():
        words = line.split()
        if words and words[0] == "nameserver" and len(words) > 1:
            if not (words[1].startswith("127.") or words[1] == "::1"):
                servers.append(words[1])
            continue
        if words and words[0] in ("search", "domain", "options"):
            kept.append(line.strip())
    if nameservers is not None:
        servers = list(nameservers)
    if not servers:
        servers = ["8.8.8.8"] if nameservers is None else []
    return "".join(f"nameserver {s}\n" for s in servers) + "".join(f"{k}\n" for k in kept)


def hostname_content(hostname: str) -> str:
    return f"{hostname}\n"


def write_files(directory: str, files: dict[str, str]) -> None:
    """files = {'hosts': ..., 'resolv.conf': ..., 'hostname': ...} written in ``directory``."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    for name, content in files.items():
        path = os.path.join(directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.truncate()
