"""The `runc state` / `runc list -f json` documents.

runc marshals one Go struct for both (list.go containerState), so the field order is:
ociVersion, id, pid, status, bundle, rootfs, created, annotations (only when non-empty), owner.
`created` is Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros trimmed, "Z".
"""

from __future__ import annotations

import time

__all__ = ["OCI_VERSION", "STATUSES", "format_created", "parse_created", "state_document", "list_entry"]

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
