"""Front-end container records: one directory per container name under the front end's state dir.

    <root>/<name>/record.json   name, command, network, ports, created, conmon pid, log path, the fd
                                forward (relay pid, start time, ports) for -p without a network, ...
    <root>/<name>/config.json   the OCI bundle (the runtime's container id is the name)
    <root>/<name>/etc/          hosts, resolv.conf, hostname (bind-mounted into the container)
    <root>/<name>/ctr.log       stdout/stderr (conmon's k8s-file format)
    <root>/<name>/exit/<name>   the exit status, written by conmon when the container exits

The root is /run/nsbox-box as root, $XDG_RUNTIME_DIR/nsbox-box rootless, or $NSBOX_BOX_ROOT.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from ..errors import ContainerExists, ContainerNotFound, UsageError
from ..paths import runtime_state_root

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def box_root() -> str:
    env = os.environ.get("NSBOX_BOX_ROOT")
    if env:
        return env
    return runtime_state_root().rstrip("/") + "-box"


def check_name(name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise UsageError(f"invalid container name {name!r}: use letters, digits, '_', '.', '-' (max 63)")


class Records:
    def __init__(self, root: str | None = None):
        self.root = root or box_root()

    def dir(self, name: str) -> str:
        check_name(name)
        return os.path.join(self.root, name)

    def make(self, name: str) -> str:
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        path = self.dir(name)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerExists(name) from None
        return path

    def read(self, name: str) -> dict:
        try:
            with open(os.path.join(self.dir(name), "record.json")) as f:
                return json.load(f)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise ContainerNotFound(name) from None

    def write(self, record: dict) -> None:
        path = os.path.join(self.dir(record["name"]), "record.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, path)

    def remove(self, name: str) -> None:
        shutil.rmtree(self.dir(name), ignore_errors=True)

    def names(self) -> list[str]:
        try:
            entries = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in entries if os.path.exists(os.path.join(self.root, n, "record.json"))]

    def exit_code(self, name: str) -> int | None:
        """The status conmon wrote when the container exited; None while it runs."""
        try:
            with open(os.path.join(self.dir(name), "exit", name)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
