"""Stage 1: still in the host's pid namespace. Joins/creates namespaces, then forks stage 2 (pid 1).

    launcher                                  stage 1
      | <-- attach {userns}  ------------------ |  (after joining namespaces and unshare(CLONE_NEWUSER))
      |  (cgroup add, uid_map/gid_map written)  |
      | --- go --------------------------------> |  unshare(the rest, CLONE_NEWPID), fork stage 2
      | <-- pid {pid: stage 2's host pid} ------ |  _exit(0): stage 2 is re-parented to the subreaper
                                                   (with cgroup_tasks: first stage 2 into the unified
                                                   cgroup; the exit code says whether that worked)
"""

from __future__ import annotations

import os

from ..linux.fd import close_fds_except
from ..linux.prctl import set_dumpable
from ..linux.sched import setns, unshare
from ..linux import consts as c
from ..proc.fork import fork_child

CLONE_BY_NAME = {"user": c.CLONE_NEWUSER, "cgroup": c.CLONE_NEWCGROUP, "ipc": c.CLONE_NEWIPC,
                 "uts": c.CLONE_NEWUTS, "net": c.CLONE_NEWNET, "pid": c.CLONE_NEWPID,
                 "time": c.CLONE_NEWTIME, "mnt": c.CLONE_NEWNS}


def join_namespaces(join) -> None:
    """Open every path first (joining mnt would change what paths mean), then setns in order."""
    fds = []
    try:
        for name, path in join:
            try:
                fds.append((name, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as err:
                err.syscall = "open"  # type: ignore[attr-defined]
                raise
        for name, path, fd in fds:
            setns(fd, CLONE_BY_NAME[name], path)
    finally:
        for _, _, fd in fds:
            os.close(fd)


def write_time_offsets(offsets: dict) -> None:
    lines = []
    for clock, name in (("monotonic", "monotonic"), ("boottime", "boottime")):
        off = offsets.get(clock)
        if off:
            lines.append(f"{name} {int(off.get('secs', 0))} {int(off.get('nanosecs', 0))}\n")
    if lines:
        fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, "".join(lines).encode())
        except OSError as err:
            err.syscall, err.filename = "write", "/proc/self/timens_offsets"  # type: ignore[attr-defined]
            raise
        finally:
            os.close(fd)


def join_v1_cgroups(task_files) -> bool:
    """Move this (single-threaded) process into the container's v1 cgroups: "0" written to each ``tasks``
    file moves the calling thread without the RCU grace period a cgroup.procs write waits for. False
    when any write fails: the launcher then moves us through cgroup.procs, as without this."""
    for path in task_files:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError:
            return False
    return True


UNIFIED_NOT_JOINED = 3  # exit code: the init is not in the unified cgroup; the launcher moves it


def open_unified(path: str) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None


def move_to_unified(fd: int, pid: int) -> int:
    """After "pid": the init into the unified cgroup (a cgroup.procs write waits out an RCU grace period:
    we wait it out here, while stage 2 builds the container and the launcher listens)."""
    try:
        os.write(fd, str(pid).encode())
        return 0
    except OSError:
        return UNIFIED_NOT_JOINED
    finally:
        os.close(fd)


def run(plan, chan, fifo_fd=None, state_json: str = "{}", cgroup_tasks=(), unified_procs=None) -> int:
    """``cgroup_tasks``: v1 ``tasks`` files to join before "attach" (see ``join_v1_cgroups``);
    ``unified_procs``: with them, the unified cgroup.procs to move stage 2 into after "pid" (our exit
    code tells the launcher whether that worked)."""
    from . import stage2
    step = "stage1"
    try:
        step = "close inherited fds"
        # the launcher's other fds (its channel end, the state lock) must not reach the container
        keep = {chan.fileno(), *range(3, 3 + plan.preserve_fds)}
        if fifo_fd is not None:
            keep.add(fifo_fd)
        close_fds_except(keep)
        step = "set non-dumpable"
        set_dumpable(False)
        # before joining a mount namespace (the paths are the host's) and before any user namespace
        cgroup_joined = join_v1_cgroups(cgroup_tasks) if cgroup_tasks else False
        if cgroup_joined:
            from ..rootfs.cgroupfs import remember_own_paths
            remember_own_paths()  # for stage 2's cgroup mount, without the cgroup_mutex later
        # opened now, with the host's paths and our own credentials (the write is checked against them)
        unified_fd = open_unified(unified_procs) if cgroup_joined and unified_procs else None
        step = "join namespaces"
        join_namespaces(plan.ns_join)
        if plan.userns_create:
            step = "create user namespace"
            unshare(c.CLONE_NEWUSER)
            # the launcher (maybe unprivileged) must be able to open our /proc/PID/uid_map
            set_dumpable(True)
        chan.send("attach", userns=plan.userns_create, cgroup=cgroup_joined)
        chan.expect("go", timeout=60)
        if plan.userns_create:
            set_dumpable(False)
            step = "become root in the user namespace"
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        step = "create namespaces"
        if plan.ns_create:
            unshare(plan.ns_create)
        if plan.ns_create & c.CLONE_NEWTIME and plan.time_offsets:
            step = "time offsets"
            write_time_offsets(plan.time_offsets)
        step = "fork pid 1"
        # stage 2 holds its first message until the launcher has its pid (one channel, one order)
        sync = os.pipe()

        def stage2_body():
            if unified_fd is not None:
                os.close(unified_fd)
            return stage2.run(plan, chan, fifo_fd, state_json, sync=sync)

        pid = fork_child(stage2_body, pdeathsig=None)
        os.close(sync[0])
        chan.send("pid", pid=pid)
        os.write(sync[1], b"1")
        os.close(sync[1])
        if unified_fd is not None:
            return move_to_unified(unified_fd, pid)
        return UNIFIED_NOT_JOINED if cgroup_joined and unified_procs else 0
    except BaseException as exc:  # noqa: BLE001 - reported to the launcher as fields
        chan.send_error(exc, step)
        return 1
