"""The nsbox.ns Python API as root: spawn (forked and through the python -I -S helper), unshare()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

import nsbox.ns as ns
from nsbox.errors import InitFailed, UsageError
from nsbox.ns.idmap import IdMap, IdMapping
from tests.fixtures.unshare_tools import PROBE, PYTHON, host_ns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_probe(keys, **kw) -> tuple[dict, "ns.Process"]:
    with ns.spawn([PYTHON, PROBE, *keys], stdout=subprocess.PIPE, **kw) as proc:
        code = proc.wait(timeout=30)
        out = proc.stdout.read()
    assert code == 0, out
    return json.loads(out), proc


@pytest.fixture
def busy_thread():
    """A running thread: spawn must not fork this process but start the helper."""
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    yield t
    stop.set()
    t.join(5)


@pytest.mark.parametrize("threaded", [False, True])
def test_spawn_everything_observed_inside(threaded, request):
    if threaded:
        request.getfixturevalue("busy_thread")
        assert threading.active_count() > 1
    seen, proc = run_probe(["ns", "uid_map", "gid_map", "hostname", "pids", "pid", "timens_offsets", "cwd",
                            "env", "uid", "gid", "setgroups"],
                           namespaces=("user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time"),
                           idmap=IdMap((IdMapping(0, 100000, 65536),), (IdMapping(0, 100000, 65536),), "allow"),
                           hostname="apibox", mount_proc=True, time_offsets={"monotonic": 77},
                           cwd="/tmp", env={"PATH": "/usr/bin:/bin", "X": "1"})
    host = host_ns()
    assert all(seen["ns"][n] != host[n] for n in ("user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time"))
    assert seen["uid_map"].split() == ["0", "100000", "65536"] == seen["gid_map"].split()
    assert seen["setgroups"] == "allow"
    assert seen["hostname"] == "apibox" and seen["pids"] == [1] and seen["pid"] == 1
    assert seen["timens_offsets"].split()[:2] == ["monotonic", "77"]
    env = seen["env"]
    env.pop("LC_CTYPE", None)  # python's C-locale coercion adds it
    assert seen["cwd"] == "/tmp" and env == {"PATH": "/usr/bin:/bin", "X": "1"}
    assert seen["uid"] == [65534] * 3  # host root is not in this map: the overflow uid
    assert proc.returncode == 0


def test_process_pid_and_ns_inodes_are_the_programs(cleanup):
    proc = ns.spawn(["sleep", "30"], ("pid", "net", "mnt"), mount_proc=True)
    cleanup.add(proc.__exit__, None, None, None)
    inodes = proc.ns_inodes()
    assert inodes["net"] == os.stat(f"/proc/{proc.pid}/ns/net").st_ino != host_ns()["net"]
    with open(f"/proc/{proc.pid}/status") as f:
        nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
    assert nspid[-1] == "1"  # pid 1 inside, proc.pid on the host
    with pytest.raises(TimeoutError):
        proc.wait(timeout=0.1)
    proc.kill()
    assert proc.wait(timeout=10) == -9
    assert not os.path.exists(f"/proc/{proc.pid}/stat") or open(f"/proc/{proc.pid}/stat").read().split()[2] == "Z"


def test_context_manager_kills_and_reaps():
    with ns.spawn(["sleep", "60"], ("uts",)) as proc:
        pid = proc.pid
    assert proc.returncode == -9
    assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.parametrize("threaded", [False, True])
def test_spawn_errors_are_one_clear_exception_and_leave_nothing(threaded, request):
    if threaded:
        request.getfixturevalue("busy_thread")
    before_children = _children()
    with pytest.raises(InitFailed) as info:
        ns.spawn(["/nonexistent/prog"], ("user", "pid"), map_root=True)
    assert info.value.step == "exec" and info.value.errno == 2
    assert "failed to execute /nonexistent/prog" in str(info.value)
    with pytest.raises(InitFailed) as info:
        ns.spawn(["true"], ("pid", "mnt"), mount_proc="/nonexistent-dir")
    assert info.value.syscall.startswith("mount") and info.value.path == "/nonexistent-dir"
    with pytest.raises(UsageError):
        ns.spawn(["true"], ("bogus",))
    assert _children() == before_children


def _children() -> list[int]:
    pid = os.getpid()
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(x) for x in f.read().split()]
    return sorted(out)


def test_persist_failure_undoes_binds(tmp_path):
    good = tmp_path / "uts"
    good.touch()
    before = open("/proc/self/mountinfo").read()
    with pytest.raises(InitFailed):
        ns.spawn(["true"], ("uts", "net"), persist={"uts": good, "net": tmp_path / "missing" / "net"})
    assert open("/proc/self/mountinfo").read() == before


def test_persist_keeps_namespace(tmp_path, cleanup):
    target = tmp_path / "net"
    target.touch()
    cleanup.umount(str(target))
    with ns.spawn(["true"], ("net",), persist={"net": target}) as proc:
        inode = proc.ns_inodes().get("net")
        proc.wait(timeout=10)
    assert os.stat(target).st_ino != host_ns()["net"]
    if inode is not None:
        assert os.stat(target).st_ino == inode


def test_kill_signal_reaches_program_when_stage1_dies(cleanup):
    # (not in a new pid namespace: its init ignores a SIGTERM it has no handler for, even this one)
    proc = ns.spawn(["sleep", "60"], ("uts",), kill_signal=15)
    cleanup.add(proc.__exit__, None, None, None)
    os.kill(proc._waiter, 9)  # the stage-1 parent dies: the program gets SIGTERM
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                if f.read().split(") ")[1][0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("program survived its stage-1 parent despite kill_signal")


def test_unshare_in_process(tmp_path):
    code = f"""
import json, os, sys
sys.path.insert(0, {os.path.join(ROOT, 'src')!r})
import nsbox.ns as ns
ns.unshare(("uts", "net", "mnt", "user"), map_root=True, hostname="self-box")
print(json.dumps({{"host": os.uname().nodename, "uid_map": open("/proc/self/uid_map").read().split(),
                   "net": os.stat("/proc/self/ns/net").st_ino}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["host"] == "self-box" and out["uid_map"] == ["0", "0", "1"]
    assert out["net"] != host_ns()["net"]


def test_unshare_refuses_threads(busy_thread):
    from nsbox.errors import NsboxError
    with pytest.raises(NsboxError, match="single-threaded"):
        ns.unshare(("uts",))
