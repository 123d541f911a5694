"""Get the cgroup migration lock's RCU grace period out of the way while the launcher plans.

The first cgroup.procs write after a quiet spell waits out an RCU grace period (the kernel's
cgroup_threadgroup_rwsem leaves its fast mode: ~5-15 ms here, holding cgroup_mutex); a write within about
one grace period of the previous one does not wait. ``start()``, called by the CLI before it imports the
runtime, makes no-op writes (this process into the cgroup it is already in) from a thread: the first one
waits out the period while the interpreter imports and plans, the next ones (every ~2 ms, free) keep the
fast path off until ``finish()``, so the writes that matter a few milliseconds later (stage 1 moving the
init into the unified cgroup, the launcher moving stage 1) do not wait while the container is otherwise
ready. Nothing moves; every failure ends the thread (a rootless caller cannot write there: nothing gained,
nothing lost). The one assumption: nobody else moves this process to another cgroup during those ~10-30 ms
(a manager that did would see it written back once). A pid that does not exist would be side-effect free
but, on this kernel, fails before taking the lock, so it does not start the grace period.

``finish()`` stops the thread and waits for it to be gone: the launcher forks only when single-threaded.
"""

from __future__ import annotations

import _thread
import os
import time

_pending = None  # (done, stop): the thread releases ``done`` when it ends; we release ``stop`` to end it
INTERVAL = 0.002


def own_procs_file() -> str | None:
    """cgroup.procs of our own cgroup in the unified hierarchy (hybrid or pure v2), if there is one."""
    try:
        with open("/proc/self/cgroup", "rb") as f:
            for line in f:
                if line.startswith(b"0::"):
                    rel = line[3:].strip().decode().rstrip("/")
                    break
            else:
                return None
    except (OSError, UnicodeDecodeError):
        return None
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(mount + "/cgroup.controllers"):
            return f"{mount}{rel}/cgroup.procs"
    return None


def _write_self(path: str, done, stop) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            while True:
                os.write(fd, b"0")
                if stop.acquire(True, INTERVAL):
                    break
        finally:
            os.close(fd)
    except OSError:
        pass
    finally:
        done.release()


def start() -> None:
    """Begin the no-op write in a thread (root only: nobody else may write our cgroup.procs)."""
    global _pending
    if _pending is not None or os.geteuid() != 0:
        return
    path = own_procs_file()
    if path is None:
        return
    done, stop = _thread.allocate_lock(), _thread.allocate_lock()
    done.acquire()
    stop.acquire()
    try:
        _thread.start_new_thread(_write_self, (path, done, stop))
    except RuntimeError:
        return
    _pending = done, stop


def finish(timeout: float = 0.2) -> None:
    """Wait for the write and for its thread to be gone (a no-op when nothing was started)."""
    global _pending
    pending, _pending = _pending, None
    if pending is None:
        return
    done, stop = pending
    stop.release()
    done.acquire(True, 5.0)  # the write returns in at most one grace period; then the thread ends at once
    deadline = time.monotonic() + timeout
    while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
        time.sleep(0.0001)
