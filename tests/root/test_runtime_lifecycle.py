"""nsbox-runc lifecycle on a busybox bundle: create -> start -> state -> kill -> delete, run, errors."""

from __future__ import annotations

import os
import time

import pytest

from tests.fixtures.bundles import make_bundle
from tests.fixtures.runtimes import Runtime


@pytest.fixture
def rt(tmp_path, cleanup):
    r = Runtime("nsbox-runc", str(tmp_path / "state"))
    return r


def wait_status(rt, cid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.state(cid)["status"] == want:
            return True
        time.sleep(0.02)
    return rt.state(cid)["status"] == want


def test_create_start_kill_delete(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "-b", bundle, unique_id)
    st = rt.state(unique_id)
    assert st["status"] == "created" and st["pid"] > 0 and st["bundle"] == bundle
    # the init waits on exec.fifo: not yet running the payload
    assert os.readlink(f"/proc/{st['pid']}/exe") != "/bin/busybox"
    rt.ok("start", unique_id)
    st = rt.state(unique_id)
    assert st["status"] == "running"
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
    res = rt.run("delete", unique_id)
    assert res.returncode == 1 and "not stopped" in res.stderr
    rt.ok("kill", unique_id, "KILL")
    assert wait_status(rt, unique_id, "stopped")
    assert rt.state(unique_id)["pid"] == 0
    rt.ok("delete", unique_id)
    res = rt.run("state", unique_id)
    assert res.returncode == 1 and "does not exist" in res.stderr
    assert not os.path.exists(os.path.join(rt.root, unique_id))


def test_run_reports_exit_status_and_output(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "echo pid=$$ host=$(hostname); exit 7"],
                         hostname="box-" + unique_id[:6])
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "-b", bundle, unique_id)
    assert res.returncode == 7, res.stderr
    assert res.stdout.strip() == f"pid=1 host=box-{unique_id[:6]}"
    assert not os.path.exists(os.path.join(rt.root, unique_id))  # run deletes afterwards


def test_start_twice_and_stopped(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "-b", bundle, unique_id)
    res = rt.run("create", "-b", bundle, unique_id)
    assert res.returncode == 1 and "already exists" in res.stderr
    rt.ok("start", unique_id)
    res = rt.run("start", unique_id)
    assert res.returncode == 1 and "already running" in res.stderr
    rt.ok("kill", unique_id, "9")
    assert wait_status(rt, unique_id, "stopped")
    res = rt.run("start", unique_id)
    assert res.returncode == 1 and "cannot start a container that has stopped" in res.stderr
    res = rt.run("kill", unique_id)
    assert res.returncode == 1 and "container not running" in res.stderr


def test_delete_created_container_kills_init(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "-b", bundle, unique_id)
    pid = rt.state(unique_id)["pid"]
    rt.ok("delete", unique_id)
    try:   # gone, or a zombie (that its new parent may reap at any moment)
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        state = None
    assert state in (None, "Z"), state


def test_no_python_left_after_start(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "-b", bundle, unique_id)
    rt.ok("start", unique_id)
    pids = [int(p) for p in rt.ok("ps", "-f", "json", unique_id).stdout.strip("[]\n").split(",")]
    assert len(pids) == 1
    assert os.path.realpath(f"/proc/{pids[0]}/exe").endswith("busybox")


def test_library_caller_with_threads_uses_the_helper(tmp_path, unique_id, cleanup):
    """A threaded caller cannot fork stage 1: the runtime starts a fresh interpreter instead."""
    import subprocess
    import sys
    import textwrap
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "echo threaded-ok $$"])
    state = str(tmp_path / "state")
    script = textwrap.dedent(f"""
        import sys, threading, time
        from nsbox.runtime.container import Runtime
        from nsbox.runtime.foreground import run_container
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, daemon=True)
        t.start()
        assert threading.active_count() > 1
        code = run_container(Runtime({state!r}), {unique_id!r}, {bundle!r})
        stop.set()
        sys.exit(code)
    """)
    cleanup.add(lambda: subprocess.run([sys.executable, "-m", "nsbox.cli.runc", "--root", state, "delete", "-f",
                                        unique_id], capture_output=True))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "threaded-ok 1"


def test_run_forwards_signals(rt, tmp_path, unique_id, cleanup):
    import signal
    import subprocess
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "trap 'echo got-term; exit 3' TERM; echo up; "
                                               "while :; do sleep 0.05; done"])
    cleanup.add(rt.force_delete, unique_id)
    proc = subprocess.Popen(rt.argv("run", "--bundle", bundle, unique_id), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    cleanup.kill(proc.pid)
    assert proc.stdout.readline() == "up\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, err
    assert out == "got-term\n"
    assert not os.path.exists(os.path.join(rt.root, unique_id))
