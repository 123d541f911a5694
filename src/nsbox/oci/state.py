"""The `runc state` / `runc list -f json` documents.

runc marshals one Go struct for both (list.go containerState), so the field order is:
ociVersion, id, pid, status, bundle, rootfs, created, annotations (only when non-empty), owner.
`created` is Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros trimmed, "Z".
"""

from __future__ import annotations

import time

__all__ = ["OCI_VERSION", "STATUSES", "format_created", "parse_created", "state_document", "list_entry",
           "state_json", "list_json", "list_table", "owner_of"]

OCI_VERSION = "1.0.2-dev"  # what runc 1.1 reports and writes (runc spec, runc state)
# The spec's statuses plus runc's "paused".
STATUSES = ("creating", "created", "running", "paused", "stopped")


def format_created(ns_since_epoch: int) -> str:
    """1700000000123456000 -> '2023-11-14T22:13:20.123456Z' (Go RFC3339Nano, UTC)."""
    seconds, nanos = divmod(int(ns_since_epoch), 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        stamp += "." + f"{nanos:09d}".rstrip("0")
    return stamp + "Z"


def parse_created(text: str) -> int:
    """The inverse of format_created: RFC3339 (UTC 'Z') -> ns since the epoch; ValueError if malformed."""
    import calendar

    if not text.endswith("Z"):
        raise ValueError(f"not an RFC3339 UTC time: {text!r}")
    body = text[:-1]
    whole, _, frac = body.partition(".")
    if frac and (not frac.isdigit() or len(frac) > 9):
        raise ValueError(f"not an RFC3339 UTC time: {text!r}")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def _document(container_id: str, status: str, pid: int, bundle: str, rootfs: str, created: str,
              owner: str, annotations: dict | None, oci_version: str) -> dict:
    if status not in STATUSES:
        raise ValueError(f"unknown container status {status!r}")
    doc = {
        "ociVersion": oci_version,
        "id": container_id,
        "pid": int(pid),
        "status": status,
        "bundle": bundle,
        "rootfs": rootfs,
        "created": created,
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    doc["owner"] = owner
    return doc


def state_document(*, container_id: str, status: str, pid: int, bundle: str, rootfs: str,
                   created: str, owner: str = "", annotations: dict | None = None,
                   oci_version: str = OCI_VERSION) -> dict:
    """Exactly what `runc state ID` prints (pid 0 once stopped; owner "" as runc's state)."""
    return _document(container_id, status, pid, bundle, rootfs, created, owner, annotations, oci_version)


def list_entry(*, container_id: str, status: str, pid: int, bundle: str, rootfs: str,
               created: str, owner: str, annotations: dict | None = None,
               oci_version: str = OCI_VERSION) -> dict:
    """One element of `runc list -f json` (owner: the state dir owner's user name, or '#UID')."""
    return _document(container_id, status, pid, bundle, rootfs, created, owner, annotations, oci_version)


def _go_json(text: str) -> str:
    """Go's encoding/json escapes <, >, & (and U+2028/2029) in strings; outside strings they never occur."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def state_json(doc: dict) -> str:
    """The bytes `runc state` prints: json.MarshalIndent(doc, "", "  "), no trailing newline."""
    import json

    return _go_json(json.dumps(doc, indent=2, ensure_ascii=False))


def list_json(entries: list[dict]) -> str:
    """`runc list -f json`: one compact line ending in a newline; "null" when there are none.
    entries come in id order (runc reads the state directory sorted)."""
    import json

    if not entries:
        return "null\n"
    return _go_json(json.dumps(entries, separators=(",", ":"), ensure_ascii=False)) + "\n"


def list_table(entries: list[dict]) -> str:
    """`runc list` (table): Go's tabwriter(minwidth 12, padding 3) over ID PID STATUS BUNDLE CREATED OWNER."""
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    rows += [[e["id"], str(e["pid"]), e["status"], e["bundle"], e["created"], e["owner"]] for e in entries]
    widths = [max(12, max(len(row[col]) for row in rows) + 3) for col in range(5)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(row, widths)) + row[5] + "\n" for row in rows)


def owner_of(uid: int) -> str:
    """runc list's owner column: the user name of the state directory's owner, or '#UID'."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"
