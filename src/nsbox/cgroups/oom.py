"""Waiting for OOM kills in a container's memory cgroup.

v1: an eventfd registered through cgroup.event_control on memory.oom_control; the kernel bumps the
    eventfd on every OOM in the cgroup. The oom_kill counter is in memory.oom_control.
v2: memory.events ("oom_kill N"); the kernel wakes poll(POLLPRI) on the file when it changes.
"""

from __future__ import annotations

import os
import select
import time

from ..errors import CgroupError
from . import fs


class OomWatcher:
    def __init__(self, fd: int, counter_path: str, counter_key: str, is_eventfd: bool, extra_fds=()):
        self._fd = fd
        self._extra = list(extra_fds)
        self.counter_path = counter_path
        self.counter_key = counter_key
        self.is_eventfd = is_eventfd
        self._seen = self.count()

    def fileno(self) -> int:
        return self._fd

    def count(self) -> int:
        """OOM kills so far in the cgroup (memory.oom_control / memory.events oom_kill)."""
        return fs.read_keyed(self.counter_path).get(self.counter_key, 0)

    def wait(self, timeout: float | None = None) -> bool:
        """True once an OOM kill happened after this watcher was made (or the last wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._fd, select.POLLIN if self.is_eventfd else select.POLLPRI | select.POLLERR)
        while True:
            now = self.count()
            if now > self._seen:
                self._seen = now
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0.0:
                return False
            events = poller.poll(None if left is None else max(1, int(left * 1000)))
            if events and self.is_eventfd:
                try:
                    os.eventfd_read(self._fd)
                except BlockingIOError:
                    pass
                except OSError:
                    return self.count() > self._seen
            elif events:
                os.lseek(self._fd, 0, os.SEEK_SET)
                os.read(self._fd, 4096)

    def close(self) -> None:
        for fd in [self._fd] + self._extra:
            try:
                os.close(fd)
            except OSError:
                pass
        self._extra = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def watch(manager) -> OomWatcher:
    paths = manager.paths()
    if manager.mode != "v2" and "memory" in paths:
        mem = paths["memory"]
        control = os.path.join(mem, "memory.oom_control")
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        cfd = os.open(control, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fs.write_raw(os.path.join(mem, "cgroup.event_control"), f"{efd} {cfd}")
        except OSError as exc:
            os.close(efd)
            os.close(cfd)
            raise CgroupError(f"cannot register an OOM eventfd in {mem}/cgroup.event_control: {exc.strerror}") from exc
        return OomWatcher(efd, control, "oom_kill", True, (cfd,))
    if paths.get("") and os.path.exists(os.path.join(paths[""], "memory.events")):
        events = os.path.join(paths[""], "memory.events")
        fd = os.open(events, os.O_RDONLY | os.O_CLOEXEC)
        os.read(fd, 4096)
        return OomWatcher(fd, events, "oom_kill", False)
    raise CgroupError("no memory cgroup to watch for OOM kills")
