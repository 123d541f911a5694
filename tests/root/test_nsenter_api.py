"""The Python API: ``nsbox.ns.enter`` (in-process) and ``nsbox.ns.join.run_in`` (a program inside),
observed from inside with the probe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from nsbox.errors import InitFailed, NsboxError
from nsbox.ns.join import run_in
from tests.conftest import require_tool
from tests.fixtures.nsenter_targets import PROBE, PYTHON, ns_inodes, start_target

NS_KEYS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "uts")


@pytest.fixture
def container(cleanup, unique_id):
    require_tool("unshare")
    pid = start_target(cleanup, ["-fpmiunC", "--mount-proc"], hostname=unique_id, cwd="/tmp")
    return pid, unique_id


def _children() -> set[int]:
    me = os.getpid()
    with open(f"/proc/{me}/task/{me}/children") as f:
        return {int(p) for p in f.read().split()}


def _run_probe(target, keys, **kw):
    r, w = os.pipe()
    try:
        with run_in(target, [PYTHON, PROBE, *keys], stdout=w, **kw) as proc:
            os.close(w)
            w = -1
            with os.fdopen(r, "r") as f:
                r = -1
                out = f.read()
            code = proc.wait(timeout=30)
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    assert code == 0, out
    return json.loads(out), proc


def test_run_in_all_namespaces(container):
    pid, hostname = container
    seen, proc = _run_probe(pid, ["ns", "hostname", "pid", "pids", "ppid", "uid"])
    target = ns_inodes(pid)
    assert {k: seen["ns"][k] for k in NS_KEYS} == {k: target[k] for k in NS_KEYS}
    assert seen["hostname"] == hostname
    assert 1 in seen["pids"] and seen["pid"] != proc.pid  # forked into the pid ns: pid there is small
    assert seen["ppid"] == 0  # its parent (the relay) lives outside the pid namespace
    assert proc.returncode == 0


def test_run_in_selected_types_root_cwd_and_credentials(container, tmp_path):
    pid, hostname = container
    # with the target's mount namespace (its /proc), the probe needs its pid namespace to see itself
    seen, _ = _run_probe(pid, ["ns", "hostname", "cwd", "uid", "gid", "groups"], types=("uts", "mnt", "pid"),
                         root=True, cwd=True, uid=4321, gid=1234)
    target, host = ns_inodes(pid), ns_inodes(os.getpid())
    assert seen["ns"]["uts"] == target["uts"] and seen["ns"]["mnt"] == target["mnt"]
    assert seen["ns"]["net"] == host["net"] and seen["ns"]["ipc"] == host["ipc"]
    assert (seen["hostname"], seen["cwd"]) == (hostname, "/tmp")
    assert (seen["uid"], seen["gid"], seen["groups"]) == ([4321] * 3, [1234] * 3, [])


def test_run_in_without_fork_stays_outside_the_pid_namespace(container):
    pid, _ = container
    seen, proc = _run_probe(pid, ["ns", "pid"], types=("pid",), fork=False)
    assert seen["ns"]["pid"] == ns_inodes(os.getpid())["pid"]
    assert seen["ns"]["pid_for_children"] == ns_inodes(pid)["pid"]
    assert seen["pid"] == proc.pid  # no relay: the program is our direct child


def test_run_in_from_a_threaded_caller_uses_a_helper(container):
    pid, hostname = container
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        seen, _ = _run_probe(pid, ["ns", "hostname", "pids"], types=("uts", "pid", "mnt"))
    finally:
        stop.set()
        thread.join()
    assert seen["hostname"] == hostname and 1 in seen["pids"]
    assert seen["ns"]["mnt"] == ns_inodes(pid)["mnt"]


def test_run_in_kill_and_exit_status(container):
    pid, _ = container
    before = _children()
    with run_in(pid, ["sleep", "30"], types=("pid", "mnt")) as proc:
        assert proc.poll() is None
        with open(f"/proc/{proc.pid}/comm") as f:
            assert f.read().strip() == "sleep"
        assert os.stat(f"/proc/{proc.pid}/ns/pid").st_ino == ns_inodes(pid)["pid"]
        proc.kill()
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    assert _children() == before
    with run_in(pid, ["sh", "-c", "exit 5"], types=("uts",)) as proc:
        assert proc.wait(timeout=30) == 5
    with run_in(pid, ["sleep", "30"], types=("uts",)) as proc:
        pass  # leaving the block kills and reaps it
    assert proc.returncode == 128 + signal.SIGKILL and _children() == before


def test_run_in_failures_raise_and_leave_nothing(container):
    pid, _ = container
    before = _children()
    with pytest.raises(NsboxError) as info:
        run_in(999999999, ["true"], types=("net",))
    assert "open /proc/999999999/ns/net: No such file or directory" in str(info.value)
    with pytest.raises(InitFailed) as info:
        run_in(pid, ["/nonexistent/program"], types=("uts", "pid"))
    assert info.value.errno == 2 and info.value.step == "exec"
    assert "execvp /nonexistent/program" in str(info.value)
    with pytest.raises(NsboxError) as info:
        run_in(None, ["true"], types=("net",))
    assert "neither filename nor target pid supplied for ns/net" in str(info.value)
    assert _children() == before


def test_run_in_namespace_file(cleanup, tmp_path):
    require_tool("unshare")
    ns_file = tmp_path / "net"
    ns_file.touch()
    subprocess.run(["unshare", f"--net={ns_file}", "true"], check=True, timeout=30)
    cleanup.umount(str(ns_file))
    seen, _ = _run_probe(None, ["ns"], types=(), files={"net": str(ns_file)})
    assert seen["ns"]["net"] == os.stat(ns_file).st_ino


ENTER_SCRIPT = """
import json, os, sys
sys.path.insert(0, {tests!r})
from nsbox.ns import enter, EnterOptions
entered = enter({pid}, ("uts", "net", "pid"), cwd={cwd!r})
import socket
print(json.dumps({{"types": [t.ns_name for t in entered.types], "fork_needed": entered.fork_needed,
                  "hostname": socket.gethostname(), "cwd": os.getcwd(),
                  "net": os.stat("/proc/self/ns/net").st_ino, "pid": os.stat("/proc/self/ns/pid").st_ino,
                  "pid_for_children": os.stat("/proc/self/ns/pid_for_children").st_ino}}))
"""


def test_enter_in_process(container, tmp_path):
    pid, hostname = container
    script = ENTER_SCRIPT.format(tests=os.path.dirname(os.path.dirname(os.path.dirname(PROBE))), pid=pid,
                                 cwd=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout)
    target = ns_inodes(pid)
    assert seen["types"] == ["uts", "net", "pid"] and seen["fork_needed"]
    assert seen["hostname"] == hostname and seen["cwd"] == str(tmp_path)  # cwd opened before joining
    assert seen["net"] == target["net"]
    assert seen["pid"] == ns_inodes(os.getpid())["pid"] and seen["pid_for_children"] == target["pid"]


def test_enter_refuses_threaded_caller_and_reports_named_errors():
    script = """
import threading, sys
from nsbox.ns import enter
from nsbox.errors import NamespaceError
ev = threading.Event(); t = threading.Thread(target=ev.wait); t.start()
try:
    enter(1, ("net",))
except RuntimeError as e:
    print("threads:", e)
ev.set(); t.join()
try:
    enter(999999999, ("uts",))
except NamespaceError as e:
    print("error:", e)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert "threads: joining namespaces needs a single-threaded process" in res.stdout
    assert "error: open /proc/999999999/ns/uts: No such file or directory" in res.stdout


def test_threaded_caller_gets_a_long_running_program_back_at_once(container):
    """The helper's channel fd must not survive into the program (EOF is how exec is seen)."""
    import time
    pid, _ = container
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        for types in (("uts",), ("uts", "pid", "mnt")):
            started = time.monotonic()
            with run_in(pid, ["sleep", "30"], types=types, timeout=10) as proc:
                assert time.monotonic() - started < 5
                with open(f"/proc/{proc.pid}/comm") as f:
                    assert f.read().strip() == "sleep"
                assert os.stat(f"/proc/{proc.pid}/ns/uts").st_ino == ns_inodes(pid)["uts"]
            assert proc.returncode == 128 + signal.SIGKILL
    finally:
        stop.set()
        thread.join()


def test_only_stdio_and_pass_fds_reach_the_program(container, tmp_path):
    pid, _ = container
    keep = os.open(tmp_path, os.O_RDONLY)  # non-inheritable, like every fd Python opens
    leak = os.open(tmp_path, os.O_RDONLY)
    os.set_inheritable(leak, True)  # would leak through a plain fork+exec
    try:
        seen, _ = _run_probe(pid, ["fds"], types=("uts", "pid", "mnt"), pass_fds=(keep,))
    finally:
        os.close(keep)
        os.close(leak)
    fds = {int(k): v for k, v in seen["fds"].items()}
    assert fds.get(keep) == str(tmp_path)
    assert leak not in fds or fds[leak] != str(tmp_path)
    assert not any(v.startswith(("mnt:", "net:", "pid:", "uts:", "socket:")) for k, v in fds.items() if k > 2)
