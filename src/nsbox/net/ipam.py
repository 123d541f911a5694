"""Address allocation per network: leases keyed by container id, in <root>/leases/<network>.json,
changed only under the state-dir flock. The lowest free host address wins; the gateway is never leased."""

from __future__ import annotations

import ipaddress
import os

from ..errors import NetworkError
from .lock import locked, read_json, write_json_atomic
from .store import Network


class Ipam:
    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, "leases")

    def _path(self, network: str) -> str:
        return os.path.join(self.dir, f"{network}.json")

    def leases(self, network: str) -> dict[str, str]:
        """{container_id: address} of a network."""
        return dict(read_json(self._path(network), {}) or {})

    def allocate(self, network: Network, container_id: str, address: str | None = None) -> str:
        """Lease an address (the lowest free one, or ``address``) to ``container_id``; idempotent."""
        with locked(self.root):
            leases = self.leases(network.name)
            if container_id in leases:
                return leases[container_id]
            net = ipaddress.ip_network(network.subnet)
            used = set(leases.values()) | {network.gateway}
            if address is not None:
                addr = ipaddress.ip_address(address)
                if addr not in net or addr in (net.network_address, net.broadcast_address):
                    raise NetworkError(f"address {addr} is not a host address of {net}")
                if str(addr) in used:
                    raise NetworkError(f"address {addr} is already in use on network {network.name}")
                chosen = str(addr)
            else:
                chosen = next((str(h) for h in net.hosts() if str(h) not in used), None)
                if chosen is None:
                    raise NetworkError(f"network {network.name} ({net}) has no free address left")
            leases[container_id] = chosen
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            write_json_atomic(self._path(network.name), leases)
            return chosen

    def release(self, network: str, container_id: str) -> str | None:
        """Drop the lease of ``container_id``; returns the address it had (None: there was none)."""
        with locked(self.root):
            leases = self.leases(network)
            addr = leases.pop(container_id, None)
            if addr is not None:
                write_json_atomic(self._path(network), leases)
            return addr

    def all_leases(self) -> dict[str, dict[str, str]]:
        try:
            names = [f[:-5] for f in os.listdir(self.dir) if f.endswith(".json")]
        except FileNotFoundError:
            return {}
        return {n: self.leases(n) for n in names}
