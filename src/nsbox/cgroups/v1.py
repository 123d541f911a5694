"""cgroup v1 driver: one directory per mounted hierarchy (co-mounted controllers share one).

``paths`` maps each controller ("cpu", "memory", "name=systemd", ...) to the container's directory in
that controller's hierarchy. Freezing uses the freezer controller (freezer.state).
"""

from __future__ import annotations

import errno
import os
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)
import time

from ..errors import CgroupError, describe_oserror
from . import fs
from .convert import Write


class V1Driver:
    def __init__(self, paths: dict[str, str]):
        self.paths = dict(paths)

    def unique_dirs(self) -> list[str]:
        seen: list[str] = []
        for p in self.paths.values():
            if p not in seen:
                seen.append(p)
        return seen

    # ------------------------------------------------------------ lifecycle
    def create(self, created: list[str], skip_unwritable: bool = False, warnings: list[str] | None = None) -> None:
        """mkdir in every hierarchy (recording new dirs in ``created``). With ``skip_unwritable``
        (rootless), a hierarchy we may not write is dropped with a warning instead of failing."""
        skipped: list[str] = []
        for ctrl, path in list(self.paths.items()):
            if ctrl not in self.paths:
                continue
            try:
                fs.makedirs(path, created)
                if ctrl == "cpuset":
                    self._init_cpuset(path)
            except OSError as exc:
                if skip_unwritable and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    for c, p in list(self.paths.items()):
                        if p == path:
                            del self.paths[c]
                            skipped.append(c)
                    continue
                raise CgroupError(f"cannot create cgroup {ctrl}: {describe_oserror(exc)}") from exc
        if skipped:
            # One line for all of them (a rootless run on v1 would otherwise print one per hierarchy).
            msg = (f"cgroup v1 hierarchies not writable rootless ({', '.join(sorted(skipped))}):"
                   " running without them")
            fs.warn(msg)
            if warnings is not None:
                warnings.append(msg)

    def _init_cpuset(self, path: str) -> None:
        """A new v1 cpuset has empty cpus/mems and refuses tasks (ENOSPC): copy them down from the
        nearest ancestor that has them, as runc does."""
        chain = []
        p = path
        while True:
            chain.append(p)
            parent = os.path.dirname(p)
            if parent == p or not os.path.exists(os.path.join(parent, "cpuset.cpus")):
                break
            p = parent
        for d in reversed(chain):
            parent = os.path.dirname(d)
            if not os.path.exists(os.path.join(parent, "cpuset.cpus")):
                continue
            for name in ("cpuset.cpus", "cpuset.mems"):
                mine = fs.read(os.path.join(d, name)).strip()
                if not mine:
                    fs.write_file(d, name, fs.read(os.path.join(parent, name)).strip() or "\n")

    def apply(self, writes: list[Write], device_writes: list[tuple[str, str]] | None = None,
              warnings: list[str] | None = None) -> None:
        by_ctrl: dict[str, list[Write]] = {}
        for w in writes:
            by_ctrl.setdefault(w.controller, []).append(w)
        for ctrl, ws in by_ctrl.items():
            path = self.paths.get(ctrl)
            if path is None:
                raise CgroupError(f"{ws[0].source}: the {ctrl} cgroup controller is not available")
            fs.apply_writes(path, ws, warnings)
        if device_writes and "devices" in self.paths:
            for name, line in device_writes:
                fs.write_file(self.paths["devices"], name, line, "$.linux.resources.devices")

    def add(self, pid: int) -> None:
        for d in self.unique_dirs():
            fs.add_pid(d, pid)

    def pids(self) -> list[int]:
        for ctrl in ("pids", "freezer", "memory", "cpu", "devices", "name=systemd"):
            if ctrl in self.paths:
                return fs.read_procs(self.paths[ctrl])
        dirs = self.unique_dirs()
        return fs.read_procs(dirs[0]) if dirs else []

    def destroy(self, created: list[str], timeout: float = 2.0) -> None:
        errors = []
        for d in self.unique_dirs():
            try:
                fs.remove_tree(d, timeout)
            except CgroupError as exc:
                errors.append(exc)
        for d in sorted(created, key=len, reverse=True):
            if any(d == p for p in self.unique_dirs()):
                continue
            try:
                os.rmdir(d)
            except OSError:
                pass  # an intermediate dir still used by others: leave it
        if errors:
            raise errors[0]

    # ------------------------------------------------------------ freezer
    def freeze(self, timeout: float = 5.0) -> None:
        path = self._freezer()
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            fs.write_file(path, "freezer.state", "FROZEN")
            state = fs.read(os.path.join(path, "freezer.state")).strip()
            if state == "FROZEN":
                return
            if time.monotonic() >= deadline:
                fs.write_file(path, "freezer.state", "THAWED")
                raise CgroupError(f"{path}/freezer.state: stuck in {state} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def thaw(self) -> None:
        fs.write_file(self._freezer(), "freezer.state", "THAWED")

    def is_frozen(self) -> bool:
        if "freezer" not in self.paths:
            return False
        try:
            return fs.read(os.path.join(self.paths["freezer"], "freezer.state")).strip() == "FROZEN"
        except FileNotFoundError:
            return False

    def _freezer(self) -> str:
        path = self.paths.get("freezer")
        if path is None:
            raise CgroupError("the freezer cgroup controller is not available")
        return path

    def kill_all(self, sig: int) -> None:
        """Freeze, signal every task, thaw (so nothing forks between listing and signalling).
        A paused cgroup stays paused, except for SIGKILL, which needs the tasks to run to die."""
        frozen = False
        was_frozen = self.is_frozen()
        if "freezer" in self.paths:
            self.freeze()
            frozen = True
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen and (not was_frozen or sig == signal.SIGKILL):
                self.thaw()
