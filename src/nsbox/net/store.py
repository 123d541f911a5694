"""Named networks persisted as JSON, one file per network, under a file-locked state directory.

Layout of the state directory (``state_root()``):
    <root>/<name>.json              a network: name, subnet, gateway, bridge, created
    <root>/leases/<name>.json       address leases of that network (see ipam.py)
    <root>/attachments/<id>.json    what attach() set up for a container (see attach.py)
    <root>/.lock                    one flock serialises every change

The root is /var/lib/nsbox/networks as root, <cache_root()>/networks rootless, or $NSBOX_NET_ROOT
(tests and experiments never touch a user's real networks).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import time
from dataclasses import asdict, dataclass

from ..errors import NetworkError, UsageError
from ..paths import cache_root
from .lock import locked, read_json, write_json_atomic

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_POOL = ipaddress.ip_network("10.89.0.0/16")
ROOTLESS_NETWORKS = ("pasta", "slirp4netns")  # not stored: rootless user-mode networking


def state_root() -> str:
    env = os.environ.get("NSBOX_NET_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/nsbox/networks"
    return os.path.join(cache_root(), "networks")


@dataclass(frozen=True)
class Network:
    name: str
    subnet: str        # "10.89.0.0/24"
    gateway: str       # "10.89.0.1"
    bridge: str        # host bridge interface name (<= 15 chars)
    created: float = 0.0
    driver: str = "bridge"

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Network":
        return cls(**{k: data[k] for k in ("name", "subnet", "gateway", "bridge", "created", "driver") if k in data})


def bridge_name(root: str, name: str) -> str:
    """A host interface name unique to (state dir, network): 'nsbr' + 10 hex digits."""
    return "nsbr" + hashlib.sha256(f"{os.path.realpath(root)}\0{name}".encode()).hexdigest()[:10]


def check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise UsageError(f"invalid network name {name!r}: use letters, digits, '_', '.', '-' (max 63)")
    if name in ROOTLESS_NETWORKS:
        raise UsageError(f"network name {name!r} is reserved (rootless networking)")


def parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as err:
        raise UsageError(f"invalid subnet {subnet!r}: {err}") from None
    if net.version != 4:
        raise UsageError(f"subnet {subnet}: only IPv4 subnets are supported")
    if net.prefixlen > 29:
        raise UsageError(f"subnet {subnet} is too small (need at least a /29)")
    return net


class NetworkStore:
    """Create, read, list and remove named networks. Every change holds the state-dir lock."""

    def __init__(self, root: str | None = None):
        self.root = root or state_root()

    def _path(self, name: str) -> str:
        return os.path.join(self.root, f"{name}.json")

    def lock(self):
        return locked(self.root)

    def get(self, name: str) -> Network:
        check_name(name)
        data = read_json(self._path(name))
        if data is None:
            raise NetworkError(f"network {name} does not exist")
        return Network.from_json(data)

    def exists(self, name: str) -> bool:
        return os.path.exists(self._path(name))

    def list(self) -> list[Network]:
        try:
            names = sorted(f[:-5] for f in os.listdir(self.root) if f.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            data = read_json(self._path(n))
            if data:
                out.append(Network.from_json(data))
        return out

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None,
               host_routes: list[str] | None = None) -> Network:
        """Store a new network. ``host_routes``: CIDRs already used on the host (checked for overlap);
        None asks the kernel (bridge.host_networks())."""
        check_name(name)
        net = parse_subnet(subnet) if subnet else None
        if gateway and net is None:
            raise UsageError("--gateway needs --subnet")
        with self.lock():
            if self.exists(name):
                raise NetworkError(f"network {name} already exists")
            taken = [(n.name, ipaddress.ip_network(n.subnet)) for n in self.list()]
            if host_routes is None:
                from .bridge import host_networks
                host_routes = host_networks()
            host = [("host route", ipaddress.ip_network(r, strict=False)) for r in host_routes]
            host = [(w, r) for w, r in host if r.version == 4 and r.prefixlen > 0 and not r.is_loopback]
            if net is None:
                net = self._pick_subnet(taken + host)
            else:
                for who, other in taken + host:
                    if net.overlaps(other):
                        where = f"network {who}" if who != "host route" else "a host route"
                        raise NetworkError(f"subnet {net} overlaps {other} of {where}")
            gw = self._gateway(net, gateway)
            network = Network(name=name, subnet=str(net), gateway=str(gw), bridge=bridge_name(self.root, name),
                              created=time.time())
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            write_json_atomic(self._path(name), network.to_json())
            return network

    @staticmethod
    def _gateway(net: ipaddress.IPv4Network, gateway: str | None) -> ipaddress.IPv4Address:
        if not gateway:
            return net.network_address + 1
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise UsageError(f"invalid gateway {gateway!r}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise UsageError(f"gateway {gw} is not a host address of {net}")
        return gw

    @staticmethod
    def _pick_subnet(taken) -> ipaddress.IPv4Network:
        for candidate in DEFAULT_POOL.subnets(new_prefix=24):
            if not any(candidate.overlaps(other) for _, other in taken):
                return candidate
        raise NetworkError(f"no free /24 left in {DEFAULT_POOL}: pass --subnet")

    def remove(self, name: str) -> Network:
        """Forget a network (the caller tears down its bridge and rules first)."""
        with self.lock():
            network = self.get(name)
            os.unlink(self._path(name))
            try:
                os.unlink(os.path.join(self.root, "leases", f"{name}.json"))
            except FileNotFoundError:
                pass
            return network
