"""nftables through the `nft` tool with JSON input: one table ``ip nsbox`` shared by every network.

    chain prerouting   nat  dstnat   published ports, traffic from outside to a host address
    chain output       nat  -100     published ports, traffic the host itself sends (127.0.0.1 too)
    chain postrouting  nat  srcnat   masquerade: a network's egress; 127.0.0.1 sources going to a bridge;
                                     hairpin (a container reaching a published port of its own network)

Every rule carries a comment naming its owner: ``nsbox:<key>:ct:<container id>`` (ports) or
``nsbox:<key>:net:<network>`` (a network's masquerade), where <key> names the state directory,
so two state directories never remove each other's rules. Rules are removed by the handles that
``nft --echo`` returned when they were added, and anything left over by their comment.

Published ports on 127.0.0.1: the output-chain DNAT rewrites 127.0.0.1:HOST to the container; the
packet still has source 127.0.0.1, which may leave by the bridge only with route_localnet=1 on it
(bridge.ensure_bridge sets it) and which the container can answer only after the postrouting
masquerade of 127.0.0.0/8 sources leaving by the bridge.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

from ..errors import NetworkError
from .ports import PortMapping

FAMILY = "ip"
TABLE = "nsbox"
CHAINS = (
    {"name": "prerouting", "type": "nat", "hook": "prerouting", "prio": -100},
    {"name": "output", "type": "nat", "hook": "output", "prio": -100},
    {"name": "postrouting", "type": "nat", "hook": "postrouting", "prio": 100},
)
LOCK_DIR, LOCK_NAME = "/run/lock", "nsbox-nft.lock"  # one lock for the shared table, whatever the state dir


def nft_binary() -> str:
    path = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
    if not path:
        raise NetworkError("nft (nftables) is not installed; bridge networks need it for NAT")
    return path


def run_nft(commands: list[dict], echo: bool = False) -> dict:
    """Apply one atomic nft transaction given as JSON commands; return nft's JSON reply (echo)."""
    argv = [nft_binary(), "-j"] + (["-e", "-a"] if echo else []) + ["-f", "-"]
    res = subprocess.run(argv, input=json.dumps({"nftables": commands}), capture_output=True, text=True,
                         timeout=30)
    if res.returncode:
        msg = " ".join(line.strip() for line in res.stderr.splitlines() if line.strip() and "^" not in line)
        raise NetworkError(f"nft: {msg or 'failed'}")
    return json.loads(res.stdout) if res.stdout.strip() else {}


def list_table() -> list[dict]:
    """The rules of our table ([] if it does not exist, or if nft is not installed: then no rule can)."""
    try:
        binary = nft_binary()
    except NetworkError:
        return []
    res = subprocess.run([binary, "-j", "-a", "list", "table", FAMILY, TABLE],
                         capture_output=True, text=True, timeout=30)
    if res.returncode:
        return []
    return [item["rule"] for item in json.loads(res.stdout).get("nftables", []) if "rule" in item]


def _skeleton() -> list[dict]:
    cmds = [{"add": {"table": {"family": FAMILY, "name": TABLE}}}]
    for chain in CHAINS:
        cmds.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "policy": "accept", **chain}}})
    return cmds


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _rule(chain: str, comment: str, expr: list[dict]) -> dict:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "comment": comment, "expr": expr}}}


def container_comment(key: str, container_id: str) -> str:
    return f"nsbox:{key}:ct:{container_id}"


def network_comment(key: str, network: str) -> str:
    return f"nsbox:{key}:net:{network}"


def port_rules(comment: str, mapping: PortMapping, container_ip: str) -> list[dict]:
    """DNAT host:port -> container (prerouting and output), only for the host's own addresses."""
    expr = [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")]
    if mapping.host_ip:
        expr.append(_match({"payload": {"protocol": "ip", "field": "daddr"}}, mapping.host_ip))
    expr.append(_match({"payload": {"protocol": mapping.protocol, "field": "dport"}}, mapping.host_port))
    expr.append({"dnat": {"addr": container_ip, "port": mapping.container_port}})
    return [_rule("prerouting", comment, expr), _rule("output", comment, expr)]


def masquerade_rules(comment: str, subnet: str, bridge: str) -> list[dict]:
    net = ipaddress.ip_network(subnet)
    prefix = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    saddr = {"payload": {"protocol": "ip", "field": "saddr"}}
    oif = {"meta": {"key": "oifname"}}
    return [
        _rule("postrouting", comment, [_match(saddr, prefix), _match(oif, bridge, "!="), {"masquerade": None}]),
        _rule("postrouting", comment, [_match(saddr, {"prefix": {"addr": "127.0.0.0", "len": 8}}),
                                       _match(oif, bridge), {"masquerade": None}]),
        # Hairpin: a container connects to a published port (host address); after DNAT the peer is
        # on the same bridge and would answer directly, so the source must become the gateway.
        _rule("postrouting", comment, [_match(saddr, prefix), _match(oif, bridge),
                                       _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None}]),
    ]


def add_rules(rules: list[dict]) -> list[dict]:
    """Add rules (creating the table and chains if needed); returns [{'chain', 'handle'}] in order."""
    if not rules:
        return []
    from .lock import locked
    with locked(LOCK_DIR, LOCK_NAME):
        reply = run_nft(_skeleton() + rules, echo=True)
    added = [item["add"]["rule"] for item in reply.get("nftables", [])
             if "add" in item and "rule" in item["add"]]
    return [{"chain": r["chain"], "handle": r["handle"]} for r in added]


def delete_handles(handles: list[dict]) -> None:
    """Delete rules by handle; a rule that is already gone is not an error."""
    present = {(r["chain"], r["handle"]) for r in list_table()}
    cmds = [{"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": h["chain"], "handle": h["handle"]}}}
            for h in handles if (h["chain"], h["handle"]) in present]
    if cmds:
        run_nft(cmds)


def delete_by_comment(prefix: str) -> int:
    """Delete every rule of our table whose comment starts with ``prefix``; returns how many."""
    doomed = [r for r in list_table() if str(r.get("comment", "")).startswith(prefix)]
    if doomed:
        run_nft([{"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": r["chain"], "handle": r["handle"]}}}
                 for r in doomed])
    return len(doomed)


def rules_with_prefix(prefix: str) -> list[dict]:
    return [r for r in list_table() if str(r.get("comment", "")).startswith(prefix)]


def drop_table_if_empty() -> bool:
    """Delete the nsbox table when no rule is left in it (another state dir may still use it)."""
    from .lock import locked
    with locked(LOCK_DIR, LOCK_NAME):
        res = subprocess.run([nft_binary(), "-j", "list", "table", FAMILY, TABLE],
                             capture_output=True, text=True, timeout=30)
        if res.returncode:
            return False
        if any("rule" in item for item in json.loads(res.stdout).get("nftables", [])):
            return False
        run_nft([{"delete": {"table": {"family": FAMILY, "name": TABLE}}}])
        return True
