"""Where nsbox keeps state, as root and rootless."""

from __future__ import annotations

import os


def runtime_state_root() -> str:
    """nsbox-runc's default --root: /run/nsbox as root, $XDG_RUNTIME_DIR/nsbox rootless."""
    if os.geteuid() == 0:
        return "/run/nsbox"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return os.path.join(xdg, "nsbox")
    return f"/tmp/nsbox-{os.geteuid()}"


def cache_root() -> str:
    """Unpacked root filesystems and images: $NSBOX_CACHE, else /var/lib/nsbox as root,
    ~/.local/share/nsbox rootless."""
    if os.environ.get("NSBOX_CACHE"):
        return os.environ["NSBOX_CACHE"]
    if os.geteuid() == 0:
        return "/var/lib/nsbox"
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "nsbox")
