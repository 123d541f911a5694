"""`nsbox-runc events`: runc 1.1's event stream of a container.

    print_stats(rt, "web")                       # one {"type":"stats","id":"web","data":{...}} line
    stream(rt, "web", interval=5.0)              # stats every interval + {"type":"oom","id":"web"}

Each event is one compact JSON line (Go's json.Encoder). The stream ends when the container's init is
gone; an OOM kill that happened just before is still reported.
"""

from __future__ import annotations

import json
import os
import re
import select
import sys
import time

from ..errors import CgroupError, InvalidState, UsageError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
POLL_SLICE = 0.2  # how often the init's liveness is re-checked between events


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration ("5s", "500ms", "1m30s") -> seconds; must be > 0 (runc)."""
    s = text.strip()
    total, pos = 0.0, 0
    if s in ("", "0"):
        raise UsageError("duration interval must be greater than 0")
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise UsageError(f'invalid value "{text}" for flag -interval: parse error')
    if total <= 0:
        raise UsageError("duration interval must be greater than 0")
    return total


def emit(event: dict, out=None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(event, separators=(",", ":")) + "\n")
    out.flush()


def _running_cgroup(rt, container_id: str):
    from . import status as st
    state = rt.store.read(container_id)
    status = rt.status_of(container_id, state)
    if status in (st.STOPPED, st.CREATING):
        raise InvalidState(container_id, status, st.RUNNING, f"container with id {container_id} is not running")
    cg = rt._cgroup(state)
    if cg is None:
        raise CgroupError(f"container {container_id} has no cgroup of its own: no statistics")
    return state, cg


def stats_event(container_id: str, cg) -> dict:
    return {"type": "stats", "id": container_id, "data": cg.stats()}


def print_stats(rt, container_id: str, out=None) -> None:
    _, cg = _running_cgroup(rt, container_id)
    emit(stats_event(container_id, cg), out)


def stream(rt, container_id: str, interval: float = 5.0, out=None, max_events: int | None = None) -> None:
    """Stats every ``interval`` seconds (the first after one interval, as runc's ticker) and an "oom"
    event per OOM kill in the memory cgroup, until the init is gone."""
    from . import status as st
    state, cg = _running_cgroup(rt, container_id)
    try:
        watcher = cg.oom_events()
    except CgroupError as err:
        sys.stderr.write(f"nsbox-runc: warning: no OOM notifications: {err}\n")
        watcher = None
    sent = 0
    try:
        next_tick = time.monotonic() + interval
        while max_events is None or sent < max_events:
            alive = st.init_alive(state.get("pid"), state.get("start_time"))
            left = max(0.0, next_tick - time.monotonic())
            wait = min(left, POLL_SLICE) if alive else 0.0
            if watcher is not None and _oom(watcher, wait):
                emit({"type": "oom", "id": container_id}, out)
                sent += 1
                continue
            if watcher is None and wait:
                time.sleep(wait)
            if not alive:
                return
            if time.monotonic() >= next_tick:
                next_tick += interval
                try:
                    emit(stats_event(container_id, cg), out)
                    sent += 1
                except (CgroupError, OSError) as err:    # the cgroup went away with the container
                    if not st.init_alive(state.get("pid"), state.get("start_time")):
                        continue
                    sys.stderr.write(f"nsbox-runc: error: stats of {container_id}: {err}\n")
    finally:
        if watcher is not None:
            watcher.close()


def _oom(watcher, timeout: float) -> bool:
    """v1: every eventfd notification is an OOM event (as runc: the kernel signals it when the cgroup
    goes OOM, before the kill is counted, and `run` may remove the cgroup right after). v2: the
    memory.events oom_kill counter."""
    try:
        if watcher.is_eventfd:
            poller = select.poll()
            poller.register(watcher.fileno(), select.POLLIN)
            if not poller.poll(int(timeout * 1000)):
                return False
            try:
                os.eventfd_read(watcher.fileno())
            except BlockingIOError:
                return False
            return True
        return watcher.wait(timeout)
    except OSError:
        return False
