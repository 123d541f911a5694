"""A container's status, derived from the system (DESIGN §3): the recorded state is only a cache.

stopped: the init pid is gone, a zombie, or a different process (start time differs)
created: init alive and exec.fifo still present (waiting for `start`)
paused:  init alive and its cgroup frozen
running: otherwise
"""

from __future__ import annotations

import os

from ..proc.procfs import read_stat

CREATED, RUNNING, PAUSED, STOPPED, CREATING = "created", "running", "paused", "stopped", "creating"


def init_alive(pid: int | None, start_time: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = read_stat(pid)
    except (OSError, IndexError, ValueError):
        return False
    return stat["starttime"] == start_time and stat["state"] not in ("Z", "X", "x")


def derive_status(state: dict, fifo_path: str, frozen=None) -> str:
    if not init_alive(state.get("pid"), state.get("start_time")):
        return STOPPED
    if os.path.exists(fifo_path):
        return CREATED
    if frozen is not None:
        try:
            if frozen():
                return PAUSED
        except Exception:  # noqa: BLE001 - a vanished cgroup does not make a container paused
            pass
    return RUNNING
