"""Attach a container's network namespace to a network, detach it, and clean up after crashes.

attach(network, netns=..., container_id=...) on a bridge network, in this order:
    1. check everything that can be checked first: the network exists, the namespace is not the
       host's, the container id is not attached yet, the published host ports are free
    2. write the attachment record (state "configuring", with every name it will create), so a crash
       from here on leaves something cleanup_stale() can undo
    3. lease an address (ipam), make sure the bridge and the network's masquerade rules exist,
       net.ipv4.ip_forward=1
    4. veth pair: host end on the bridge, peer created in the namespace; inside: lo up, peer renamed
       to eth0 (eth1, ... if taken), address, default route via the gateway
    5. DNAT rules for the published ports
    6. /etc/hosts, /etc/resolv.conf, /etc/hostname content (written to ``files_dir`` if given; the
       other containers of the network get their hosts files refreshed)
    7. record state "ready"
Any failure undoes what was done, in reverse, and re-raises: nothing half-configured stays.

On the rootless networks "pasta" and "slirp4netns" (not stored networks), attach() starts that
helper for the namespace of ``netns`` (a pid) with the published ports instead.

detach(container_id) removes the veth (or stops the helper), the rules and the lease.
cleanup_stale() detaches every record whose namespace died (its veth vanished with it, or its
helper or target process exited) and removes our veths, rules and leases that have no record.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field

from ..errors import NetworkError, UsageError
from . import files as netfiles
from .ipam import Ipam
from .lock import locked, read_json, write_json_atomic
from .ports import PortMapping, check_free, conflicts, parse_ports
from .store import ROOTLESS_NETWORKS, Network, NetworkStore, state_root

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class Attachment:
    container_id: str
    network: str
    driver: str                     # "bridge", "pasta" or "slirp4netns"
    netns: str                      # /proc/PID/ns/net or a bind-mounted path
    netns_inode: int = 0
    state: str = "configuring"      # "configuring" -> "ready"
    owner_pid: int = 0              # the process that is configuring (for crash detection)
    hostname: str = ""
    ifname: str | None = None       # inside the namespace
    host_interface: str | None = None
    peer_interface: str | None = None
    bridge: str | None = None
    address: str | None = None      # "10.89.0.2/24"
    gateway: str | None = None
    mac: str | None = None
    ports: list[dict] = field(default_factory=list)
    nft_handles: list[dict] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    files_dir: str | None = None
    helper: dict = field(default_factory=dict)   # rootless helper (tool, helper_pid, ...)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Attachment":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def ip(self) -> str | None:
        return self.address.split("/")[0] if self.address else None


def root_key(root: str) -> str:
    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:8]


def interface_names(root: str, container_id: str) -> tuple[str, str]:
    """(host end, temporary peer name): 15 characters, unique to (state dir, container)."""
    h = hashlib.sha256(f"{os.path.realpath(root)}\0{container_id}".encode()).hexdigest()
    key = root_key(root)[:4]
    return f"nv{key}{h[:9]}", f"np{key}{h[:9]}"


class Attachments:
    """The records under <root>/attachments/<container id>.json."""

    def __init__(self, root: str):
        self.root = root
        self.dir = os.path.join(root, "attachments")

    def path(self, container_id: str) -> str:
        return os.path.join(self.dir, f"{container_id}.json")

    def get(self, container_id: str) -> Attachment | None:
        data = read_json(self.path(container_id))
        return Attachment.from_json(data) if data else None

    def save(self, att: Attachment) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        write_json_atomic(self.path(att.container_id), att.to_json())

    def remove(self, container_id: str) -> None:
        try:
            os.unlink(self.path(container_id))
        except FileNotFoundError:
            pass

    def all(self) -> list[Attachment]:
        try:
            names = sorted(f[:-5] for f in os.listdir(self.dir) if f.endswith(".json"))
        except FileNotFoundError:
            return []
        return [a for a in (self.get(n) for n in names) if a is not None]


def _check_id(container_id: str) -> None:
    if not ID_RE.match(container_id or ""):
        raise UsageError(f"invalid container id {container_id!r}")


def attach(network: str, *, netns: str | int, container_id: str, hostname: str | None = None,
           ports: list[str] = (), root: str | None = None, files_dir: str | None = None,
           ifname: str | None = None) -> Attachment:
    """Connect the network namespace ``netns`` (a pid or an nsfs path) to ``network``."""
    _check_id(container_id)
    mappings = parse_ports(ports)
    hostname = hostname or container_id[:12]
    root = root or state_root()
    records = Attachments(root)
    if network in ROOTLESS_NETWORKS:
        return _attach_rootless(network, netns, container_id, hostname, mappings, records, files_dir)
    if os.geteuid() != 0:
        raise NetworkError(f"network {network}: bridge networks need root; rootless containers use "
                           f"the pasta or slirp4netns network")
    from . import bridge
    store = NetworkStore(root)
    with locked(root):
        net = store.get(network)
        if records.get(container_id) is not None:
            raise NetworkError(f"container {container_id} is already attached to a network")
        bridge.check_foreign_netns(netns)
        for other in records.all():
            for taken in map(PortMapping.from_json, other.ports):
                for m in mappings:
                    if conflicts(m, taken):
                        raise NetworkError(f"host port {m.host_port}/{m.protocol} is already published "
                                           f"by container {other.container_id}")
        for m in mappings:
            check_free(m)
        host_if, peer_if = interface_names(root, container_id)
        att = Attachment(container_id=container_id, network=network, driver="bridge",
                         netns=bridge.netns_path(netns), netns_inode=bridge.netns_inode(netns),
                         owner_pid=os.getpid(), hostname=hostname, host_interface=host_if,
                         peer_interface=peer_if, bridge=net.bridge, gateway=net.gateway,
                         ports=[m.to_json() for m in mappings], files_dir=files_dir)
        records.save(att)
        try:
            _configure_bridge(att, net, root, mappings, ifname)
            att.files = _files_for(att, records)
            if files_dir:
                netfiles.write_files(files_dir, att.files)
            att.state, att.owner_pid = "ready", 0
            records.save(att)
        except BaseException:
            try:
                _teardown(att, root)
            except Exception:  # noqa: BLE001 - the first error is the one to report; the record stays
                pass           # for cleanup_stale() when something could not be removed
            raise
        _refresh_peers(net.name, records, skip=container_id)
        return att


def _configure_bridge(att: Attachment, net: Network, root: str, mappings: list[PortMapping],
                      ifname: str | None) -> None:
    from . import bridge, nat
    att.address = f"{Ipam(root).allocate(net, att.container_id)}/{net.prefixlen}"
    ensure_network(net, root)
    bridge.create_veth(att.host_interface, att.peer_interface, net.bridge, att.netns)
    inside = bridge.configure_inside(att.netns, att.peer_interface, ifname, att.ip, net.prefixlen, net.gateway)
    att.ifname, att.mac = inside["ifname"], inside["mac"]
    if mappings:
        comment = nat.container_comment(root_key(root), att.container_id)
        rules = [r for m in mappings for r in nat.port_rules(comment, m, att.ip)]
        att.nft_handles = nat.add_rules(rules)


def ensure_network(net: Network, root: str) -> None:
    """The bridge with its gateway address, the masquerade rules, IPv4 forwarding on (idempotent)."""
    from . import bridge, nat
    bridge.ensure_bridge(net.bridge, net.gateway, net.prefixlen)
    comment = nat.network_comment(root_key(root), net.name)
    if not nat.rules_with_prefix(comment):
        nat.add_rules(nat.masquerade_rules(comment, net.subnet, net.bridge))
    bridge.write_sysctl("ipv4/ip_forward", "1")


def teardown_network(net: Network, root: str) -> None:
    """Remove the bridge and the network's rules (the caller checked nothing is attached)."""
    from . import bridge, nat
    bridge.delete_link(net.bridge)
    nat.delete_by_comment(nat.network_comment(root_key(root), net.name))
    nat.drop_table_if_empty()


def _files_for(att: Attachment, records: Attachments) -> dict[str, str]:
    peers = [(o.ip, o.hostname) for o in records.all()
             if o.network == att.network and o.container_id != att.container_id and o.state == "ready" and o.ip]
    own = (att.ip, att.hostname) if att.ip else None
    if att.driver == "bridge":
        resolv = netfiles.resolv_conf_content()
    else:
        resolv = netfiles.resolv_conf_content(nameservers=att.helper.get("dns") or None)
    return {"hosts": netfiles.hosts_content(own, peers), "resolv.conf": resolv,
            "hostname": netfiles.hostname_content(att.hostname)}


def _refresh_peers(network: str, records: Attachments, skip: str | None = None) -> None:
    """Rewrite the hosts file of every other container of the network (they learn the new name)."""
    for other in records.all():
        if other.network != network or other.container_id == skip or other.state != "ready":
            continue
        hosts = _files_for(other, records)["hosts"]
        if hosts != other.files.get("hosts"):
            other.files["hosts"] = hosts
            if other.files_dir and os.path.isdir(other.files_dir):
                try:
                    netfiles.write_files(other.files_dir, {"hosts": hosts})
                except OSError:
                    pass
            records.save(other)


def _attach_rootless(tool: str, netns, container_id: str, hostname: str, mappings: list[PortMapping],
                     records: Attachments, files_dir: str | None) -> Attachment:
    from . import rootless
    if isinstance(netns, str) and not netns.isdigit():
        raise NetworkError(f"rootless networking with {tool} needs the pid of a process in the namespace, "
                           f"not a path ({netns})")
    pid = int(netns)
    with locked(records.root):
        if records.get(container_id) is not None:
            raise NetworkError(f"container {container_id} is already attached to a network")
        for m in mappings:
            check_free(m)
        helper = rootless.start(tool, pid, mappings)
        att = Attachment(container_id=container_id, network=tool, driver=tool, netns=f"/proc/{pid}/ns/net",
                         netns_inode=_inode(f"/proc/{pid}/ns/net"), hostname=hostname,
                         ifname=helper.get("ifname"), address=helper.get("address"),
                         gateway=helper.get("gateway"), ports=[m.to_json() for m in mappings],
                         helper=helper, files_dir=files_dir, state="ready")
        att.helper["target_pid"] = pid
        try:
            att.files = _files_for(att, records)
            if files_dir:
                netfiles.write_files(files_dir, att.files)
            records.save(att)
        except BaseException:
            rootless.cleanup(helper)
            records.remove(container_id)
            raise
        return att


def _inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def detach(container_id: str, root: str | None = None) -> Attachment:
    """Undo attach(): veth (or helper), rules, lease, record. Safe to call after the netns died."""
    root = root or state_root()
    records = Attachments(root)
    with locked(root):
        att = records.get(container_id)
        if att is None:
            raise NetworkError(f"container {container_id} is not attached to any network")
        _teardown(att, root)
        if att.driver == "bridge":
            _refresh_peers(att.network, records)
        return att


def _teardown(att: Attachment, root: str) -> None:
    """Remove everything ``att`` names, in reverse order of creation; keep going on errors and
    raise the first one at the end (the record stays if something could not be removed)."""
    errors: list[Exception] = []

    def step(fn, *args):
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - remove as much as possible
            errors.append(err)

    if att.driver == "bridge":
        from . import bridge, nat
        step(nat.delete_handles, att.nft_handles)
        step(nat.delete_by_comment, nat.container_comment(root_key(root), att.container_id))
        if att.host_interface:
            step(bridge.delete_link, att.host_interface)
        step(Ipam(root).release, att.network, att.container_id)
    else:
        from . import rootless
        step(rootless.cleanup, att.helper)
    if errors:
        raise errors[0]
    Attachments(root).remove(att.container_id)


def _is_stale(att: Attachment) -> bool:
    if att.driver == "bridge":
        from . import bridge
        if att.state != "ready":
            return True  # attach() holds the lock until "ready": under the lock this is a crashed attach
        return not att.host_interface or not bridge.link_exists(att.host_interface)
    from . import rootless
    helper = att.helper
    target = int(helper.get("target_pid") or 0)
    return (not rootless.helper_alive(int(helper.get("helper_pid") or 0), helper.get("helper_start"))
            or _inode(f"/proc/{target}/ns/net") != att.netns_inode)


def cleanup_stale(root: str | None = None) -> dict[str, list[str]]:
    """Remove what crashes and dead containers left behind; returns what was removed, by kind."""
    root = root or state_root()
    records = Attachments(root)
    removed: dict[str, list[str]] = {"attachments": [], "interfaces": [], "rules": [], "leases": []}
    with locked(root):
        for att in records.all():
            if _is_stale(att):
                _teardown(att, root)
                removed["attachments"].append(att.container_id)
        live = {a.container_id: a for a in records.all()}
        if os.geteuid() == 0:
            from . import bridge, nat
            key = root_key(root)
            known = {a.host_interface for a in live.values()}
            for name in bridge.links_with_prefix(f"nv{key[:4]}"):
                if name not in known and bridge.delete_link(name):
                    removed["interfaces"].append(name)
            prefix = f"nsbox:{key}:"
            networks = {n.name for n in NetworkStore(root).list()}
            for rule in nat.rules_with_prefix(prefix):
                kind, _, owner = rule["comment"][len(prefix):].partition(":")
                if (kind == "ct" and owner not in live) or (kind == "net" and owner not in networks):
                    nat.delete_handles([{"chain": rule["chain"], "handle": rule["handle"]}])
                    removed["rules"].append(rule["comment"])
        ipam = Ipam(root)
        for network, leases in ipam.all_leases().items():
            for cid in leases:
                if cid not in live:
                    ipam.release(network, cid)
                    removed["leases"].append(f"{network}:{cid}")
    return removed


DEFAULT_BRIDGE_NETWORK = "nsbox"


def default_network(root: str | None = None) -> str:
    """What ``--network`` means when not given: as root the bridge network "nsbox" (created on first
    use, with a free 10.89.x.0/24); rootless "pasta", or "slirp4netns" when pasta is missing."""
    if os.geteuid() != 0:
        from .rootless import find_tool
        return find_tool()[0]
    store = NetworkStore(root or state_root())
    with locked(store.root):
        if not store.exists(DEFAULT_BRIDGE_NETWORK):
            store.create(DEFAULT_BRIDGE_NETWORK)
    return DEFAULT_BRIDGE_NETWORK


def remove_network(name: str, root: str | None = None) -> Network:
    """Remove a network that no container is attached to: bridge, rules, leases, record."""
    root = root or state_root()
    store = NetworkStore(root)
    with locked(root):
        net = store.get(name)
        users = [a.container_id for a in Attachments(root).all() if a.network == name]
        if users:
            raise NetworkError(f"network {name} is in use by {len(users)} container(s): {', '.join(users[:5])}")
        if os.geteuid() == 0:
            teardown_network(net, root)
        return store.remove(name)


def inspect_network(name: str, root: str | None = None) -> dict:
    root = root or state_root()
    net = NetworkStore(root).get(name)
    containers = {a.container_id: {"address": a.address, "hostname": a.hostname, "mac": a.mac,
                                   "interface": a.host_interface, "ports": [str(PortMapping.from_json(p)) for p in a.ports]}
                  for a in Attachments(root).all() if a.network == name}
    data = net.to_json()
    data["containers"] = containers
    data["leases"] = Ipam(root).leases(name)
    return data
