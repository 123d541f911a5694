"""Published ports: parse ``-p [IP:]HOST:CONTAINER[/tcp|udp]`` and check the host port is free."""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import asdict, dataclass

from ..errors import NetworkError, UsageError

PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""          # "" = every host address

    def __str__(self) -> str:
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{self.host_port}:{self.container_port}/{self.protocol}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PortMapping":
        return cls(**data)


def _port(text: str, spec: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"invalid port mapping {spec!r}: {what} port {text!r} is not 1-65535")
    return int(text)


def parse_port(spec: str) -> PortMapping:
    """'8080:80', '127.0.0.1:8080:80/udp', '[::1]:8080:80' (IPv6 host addresses are rejected)."""
    body, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise UsageError(f"invalid port mapping {spec!r}: protocol must be tcp or udp")
    host_ip = ""
    if body.startswith("["):
        raise UsageError(f"invalid port mapping {spec!r}: IPv6 host addresses are not supported")
    parts = body.split(":")
    if len(parts) == 3:
        host_ip = parts[0]
        parts = parts[1:]
        try:
            ip = ipaddress.ip_address(host_ip)
        except ValueError:
            raise UsageError(f"invalid port mapping {spec!r}: {host_ip!r} is not an IP address") from None
        if ip.version != 4:
            raise UsageError(f"invalid port mapping {spec!r}: only IPv4 host addresses are supported")
        if ip.is_unspecified:
            host_ip = ""
    if len(parts) != 2:
        raise UsageError(f"invalid port mapping {spec!r}: expected [IP:]HOST:CONTAINER[/tcp|udp]")
    return PortMapping(_port(parts[0], spec, "host"), _port(parts[1], spec, "container"), proto, host_ip)


def parse_ports(specs) -> list[PortMapping]:
    """Parse every spec; refuse the same host (ip, port, protocol) twice."""
    out: list[PortMapping] = []
    for spec in specs:
        m = spec if isinstance(spec, PortMapping) else parse_port(spec)
        for other in out:
            if conflicts(m, other):
                raise UsageError(f"port mappings {other} and {m} use the same host port")
        out.append(m)
    return out


def conflicts(a: PortMapping, b: PortMapping) -> bool:
    return (a.protocol == b.protocol and a.host_port == b.host_port
            and (not a.host_ip or not b.host_ip or a.host_ip == b.host_ip))


def check_free(mapping: PortMapping) -> None:
    """Raise NetworkError if a host socket already holds the port (bind test; TIME_WAIT is ignored)."""
    kind = socket.SOCK_STREAM if mapping.protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((mapping.host_ip or "0.0.0.0", mapping.host_port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise NetworkError(f"host port {mapping.host_ip or '0.0.0.0'}:{mapping.host_port}/"
                                   f"{mapping.protocol} is already in use") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise NetworkError(f"port mapping {mapping}: {mapping.host_ip} is not an address of this host") from None
            if err.errno == errno.EACCES:
                return  # a privileged port as a user: the forwarder decides
            raise NetworkError(f"checking host port {mapping}: {err.strerror}") from None
