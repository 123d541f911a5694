"""Links through netlink (pyroute2, imported lazily): the bridge of a network, veth pairs whose peer
lives in a container's network namespace, addresses, routes, loopback.

A network namespace is named by a pid (its /proc/PID/ns/net) or by a path (a bind-mounted nsfs
file such as /run/nsbox/netns/NAME, or /proc/PID/ns/net). Errors are NetworkError naming the
operation and the interface.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import NetworkError

SYSCTL = "/proc/sys/net"


def netns_path(netns: str | int) -> str:
    return f"/proc/{int(netns)}/ns/net" if isinstance(netns, int) or str(netns).isdigit() else str(netns)


def netns_inode(netns: str | int) -> int:
    path = netns_path(netns)
    try:
        return os.stat(path).st_ino
    except OSError as err:
        raise NetworkError(f"network namespace {path}: {err.strerror}") from None


def check_foreign_netns(netns: str | int) -> None:
    """Refuse what is not a network namespace, and the host's own one (attaching it would
    reconfigure the host)."""
    from ..linux import consts
    from ..linux.nsfs import get_nstype
    path = netns_path(netns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise NetworkError(f"network namespace {path}: {err.strerror}") from None
    try:
        kind = get_nstype(fd, path)
    except OSError:
        kind = None
    finally:
        os.close(fd)
    if kind != consts.CLONE_NEWNET:
        raise NetworkError(f"{path} is not a network namespace")
    if netns_inode(netns) == os.stat("/proc/self/ns/net").st_ino:
        raise NetworkError(f"{path} is the host's network namespace, not a container's")


def _iproute(netns: str | int | None = None):
    try:
        from pyroute2 import IPRoute
    except ImportError:
        raise NetworkError("bridge networking needs the pyroute2 package (pip install pyroute2)") from None
    if netns is None:
        return IPRoute()
    return IPRoute(netns=netns_path(netns), flags=0)


def _netlink_error(what: str, err: Exception) -> NetworkError:
    code = getattr(err, "code", None)
    reason = os.strerror(code) if isinstance(code, int) and code > 0 else str(err)
    return NetworkError(f"{what}: {reason}")


@contextlib.contextmanager
def _netlink(what: str, netns: str | int | None = None):
    try:
        ipr = _iproute(netns)
    except NetworkError:
        raise
    except Exception as err:  # pyroute2 raises its own types, OSError included
        raise _netlink_error(f"{what}: netlink in {netns_path(netns) if netns else 'host'}", err) from err
    try:
        yield ipr
    except NetworkError:
        raise
    except Exception as err:
        raise _netlink_error(what, err) from err
    finally:
        ipr.close()


def _index(ipr, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def link_exists(ifname: str) -> bool:
    with _netlink(f"look up {ifname}") as ipr:
        return _index(ipr, ifname) is not None


def links_with_prefix(prefix: str) -> list[str]:
    with _netlink("list links") as ipr:
        names = (link.get("ifname") for link in ipr.get_links())
        return sorted(n for n in names if n and n.startswith(prefix))


def host_networks() -> list[str]:
    """IPv4 networks the host already routes (connected and static routes of the main table)."""
    with _netlink("list routes") as ipr:
        out = []
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get("dst")
            if dst:
                out.append(f"{dst}/{route['dst_len']}")
        return out


def write_sysctl(key: str, value: str) -> str | None:
    """Set /proc/sys/net/<key>; returns the old value (None if unchanged)."""
    path = os.path.join(SYSCTL, key)
    try:
        with open(path) as f:
            old = f.read().strip()
        if old == value:
            return None
        with open(path, "w") as f:
            f.write(value)
        return old
    except OSError as err:
        raise NetworkError(f"sysctl {path}: {err.strerror}") from None


def ensure_bridge(name: str, gateway: str, prefixlen: int) -> None:
    """Create the bridge with the gateway address if missing, bring it up. Idempotent.
    route_localnet=1 on the bridge lets DNAT from 127.0.0.1 (published ports on loopback) leave by it."""
    with _netlink(f"create bridge {name}") as ipr:
        idx = _index(ipr, name)
        if idx is None:
            ipr.link("add", ifname=name, kind="bridge")
            idx = _index(ipr, name)
        have = {(a.get("address"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=2)}
        if (gateway, prefixlen) not in have:
            ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
        ipr.link("set", index=idx, state="up")
    write_sysctl(f"ipv4/conf/{name}/route_localnet", "1")


def delete_link(name: str) -> bool:
    """Delete an interface if it exists (deleting one end of a veth removes both). True if it did."""
    with _netlink(f"delete {name}") as ipr:
        idx = _index(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except Exception as err:  # gone in between (its netns died): that is what we wanted
            if getattr(err, "code", None) == 19:  # ENODEV
                return False
            raise
        return True


def create_veth(host_if: str, peer_if: str, bridge: str, netns: str | int) -> None:
    """A veth pair: ``host_if`` enslaved to ``bridge`` and up; ``peer_if`` created directly in ``netns``."""
    path = netns_path(netns)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise NetworkError(f"network namespace {path}: {err.strerror}") from None
    try:
        with _netlink(f"create veth {host_if} (peer {peer_if} in {path})") as ipr:
            br = _index(ipr, bridge)
            if br is None:
                raise NetworkError(f"bridge {bridge} does not exist")
            ipr.link("add", ifname=host_if, kind="veth", peer={"ifname": peer_if, "net_ns_fd": fd})
            idx = _index(ipr, host_if)
            ipr.link("set", index=idx, master=br, state="up")
    finally:
        os.close(fd)


def configure_inside(netns: str | int, peer_if: str, ifname: str | None, address: str, prefixlen: int,
                     gateway: str | None) -> dict:
    """In ``netns``: loopback up, rename ``peer_if`` to ``ifname`` (None: the first free ethN),
    address, up, default route (if the namespace has none yet). Returns {'ifname', 'mac'}."""
    with _netlink(f"configure {ifname} in {netns_path(netns)}", netns) as ipr:
        lo = _index(ipr, "lo")
        if lo is not None:
            ipr.link("set", index=lo, state="up")
        idx = _index(ipr, peer_if)
        if idx is None:
            raise NetworkError(f"interface {peer_if} did not arrive in {netns_path(netns)}")
        if ifname is None:
            ifname = next(f"eth{i}" for i in range(1000) if _index(ipr, f"eth{i}") is None)
        elif _index(ipr, ifname) is not None:
            raise NetworkError(f"{netns_path(netns)} already has an interface {ifname}")
        ipr.link("set", index=idx, ifname=ifname)
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
        ipr.link("set", index=idx, state="up")
        has_default = any(not r.get("dst") for r in ipr.get_routes(family=2, table=254))
        if gateway and not has_default:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=idx)
        mac = ipr.get_links(idx)[0].get("address")
        return {"ifname": ifname, "mac": mac}


def loopback_up(netns: str | int) -> None:
    with _netlink(f"bring up lo in {netns_path(netns)}", netns) as ipr:
        lo = _index(ipr, "lo")
        if lo is not None:
            ipr.link("set", index=lo, state="up")
