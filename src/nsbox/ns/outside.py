"""The outside half of an unshare: what must be done from the original namespaces.

Runs in the spawn() caller, or in the helper ``nsbox unshare`` forks before unsharing itself:
write uid/gid maps that need privilege or newuidmap/newgidmap, and bind-mount namespace files
(``--ns=FILE``) in the original mount namespace. Message sequence: see ``ns.stage1``.
"""

from __future__ import annotations

from .persist import bind_namespace, unbind_namespace
from .unshare_plan import UnshareOptions


class Outside:
    """Serves one unsharing process over a channel; remembers its binds so a failure can undo them."""

    def __init__(self, chan, opts: UnshareOptions, timeout: float = 30.0):
        self.chan, self.opts, self.timeout = chan, opts, timeout
        self.bound: list[tuple[str, bool]] = []
        self._step = "outside"

    def on_unshared(self) -> int:
        """Wait for 'unshared', do maps and early binds, answer 'ready'. Returns the unsharing pid."""
        msg, _ = self.chan.expect("unshared", self.timeout)
        pid = int(msg["pid"])
        try:
            self._step = "idmap"
            if self.opts.needs_map and not self.opts.self_map:
                from .idmap import IdMap, IdMapping, apply_idmap
                apply_idmap(pid, IdMap(tuple(IdMapping(*r) for r in self.opts.uid_map),
                                       tuple(IdMapping(*r) for r in self.opts.gid_map),
                                       self.opts.setgroups))
            self._step = "persist"
            self._bind(pid, self.opts.early_persist)
        except BaseException as exc:
            raise self._failed(exc) from exc
        self.chan.send("ready")
        return pid

    def on_forked(self) -> None:
        """After the first fork: bind pid_for_children / time_for_children."""
        if not self.opts.late_persist:
            return
        msg, _ = self.chan.expect("forked", self.timeout)
        try:
            self._step = "persist"
            self._bind(int(msg["pid"]), self.opts.late_persist)
        except BaseException as exc:
            raise self._failed(exc) from exc
        self.chan.send("ready")

    def _failed(self, exc: BaseException) -> BaseException:
        """Tell the unsharing process, undo our binds, and return the error to raise here."""
        from ..errors import InitFailed
        if isinstance(exc, OSError):
            exc = InitFailed.from_oserror(self._step, exc)
        self.chan.send_error(exc, step=self._step)
        self.undo()
        return exc

    def serve(self) -> None:
        self.on_unshared()
        self.on_forked()

    def undo(self) -> None:
        while self.bound:
            unbind_namespace(*self.bound.pop())

    def _bind(self, pid: int, persist: dict) -> None:
        from .unshare_plan import ORDER
        for name in ORDER:
            if name in persist:
                created = bind_namespace(pid, name, persist[name])
                self.bound.append((persist[name], created))
