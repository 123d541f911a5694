"""cgroup v2 (unified) driver: one directory in the cgroup2 hierarchy.

create() makes the directory (and its parents) and enables the controllers its writes need in each
ancestor's cgroup.subtree_control (a cgroup2 file of controller X exists only when the parent enables X).
freeze/thaw use cgroup.freeze and wait for "frozen 1" in cgroup.events; kill uses cgroup.kill.
"""

from __future__ import annotations

import os
import time

from ..errors import CgroupError, describe_oserror
from . import fs
from .convert import Write


class V2Driver:
    def __init__(self, path: str, mountpoint: str):
        self.path = path
        self.mountpoint = mountpoint

    def create(self, created: list[str], controllers: list[str] = (), best_effort: list[str] = ()) -> None:
        try:
            fs.makedirs(self.path, created)
        except OSError as exc:
            raise CgroupError(f"cannot create cgroup: {describe_oserror(exc)}") from exc
        self.enable_controllers(list(controllers), list(best_effort))

    def ancestors(self) -> list[str]:
        """The directories from the mount root down to the parent of self.path."""
        rel = os.path.relpath(self.path, self.mountpoint)
        out = [self.mountpoint]
        cur = self.mountpoint
        for part in rel.split(os.sep)[:-1]:
            if part in ("", "."):
                continue
            cur = os.path.join(cur, part)
            out.append(cur)
        return out

    def enable_controllers(self, needed: list[str], best_effort: list[str] = ()) -> None:
        if not needed and not best_effort:
            return
        for d in self.ancestors():
            try:
                available = fs.read(os.path.join(d, "cgroup.controllers")).split()
                enabled = fs.read(os.path.join(d, "cgroup.subtree_control")).split()
            except OSError as exc:
                raise CgroupError(f"cannot read controllers of {d}: {describe_oserror(exc)}") from exc
            for ctrl in list(needed) + [c for c in best_effort if c not in needed]:
                if ctrl in enabled:
                    continue
                if ctrl not in available:
                    if ctrl in needed:
                        raise CgroupError(f"the {ctrl} controller is not available in {d} "
                                          f"(cgroup.controllers: {' '.join(available) or 'none'})")
                    continue
                try:
                    fs.write_raw(os.path.join(d, "cgroup.subtree_control"), f"+{ctrl}")
                except OSError as exc:
                    if ctrl in needed:
                        raise CgroupError(f"cannot enable {ctrl} in {d}/cgroup.subtree_control: "
                                          f"{exc.strerror}") from exc

    def apply(self, writes: list[Write], warnings: list[str] | None = None) -> None:
        fs.apply_writes(self.path, writes, warnings)

    def add(self, pid: int) -> None:
        fs.add_pid(self.path, pid)

    def pids(self) -> list[int]:
        return fs.read_procs(self.path)

    def destroy(self, created: list[str], timeout: float = 2.0) -> None:
        fs.remove_tree(self.path, timeout)
        for d in sorted(created, key=len, reverse=True):
            if d == self.path:
                continue
            try:
                os.rmdir(d)
            except OSError:
                pass

    # ------------------------------------------------------------ freeze / kill
    def events(self) -> dict[str, int]:
        return fs.read_keyed(os.path.join(self.path, "cgroup.events"))

    def freeze(self, timeout: float = 5.0) -> None:
        fs.write_file(self.path, "cgroup.freeze", "1")
        self._wait_frozen(1, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        fs.write_file(self.path, "cgroup.freeze", "0")
        self._wait_frozen(0, timeout)

    def _wait_frozen(self, want: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.0002
        while self.events().get("frozen", want) != want:
            if time.monotonic() >= deadline:
                raise CgroupError(f"{self.path}/cgroup.events: frozen did not become {want} in {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def is_frozen(self) -> bool:
        try:
            return fs.read(os.path.join(self.path, "cgroup.freeze")).strip() == "1"
        except FileNotFoundError:
            return False

    def can_kill(self) -> bool:
        return os.path.exists(os.path.join(self.path, "cgroup.kill"))

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (and its descendants) at once: cgroup.kill."""
        fs.write_file(self.path, "cgroup.kill", "1")

    def kill_all(self, sig: int) -> None:
        import signal as _signal
        if sig == _signal.SIGKILL and self.can_kill():
            self.kill()
            return
        was_frozen = self.is_frozen()
        self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if not was_frozen or sig == _signal.SIGKILL:   # a paused container stays paused
                self.thaw()
