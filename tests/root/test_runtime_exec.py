"""`nsbox-runc exec`: a new process in the running container's namespaces, cgroup and root."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.fixtures.probe_bundle import probe_bundle
from tests.fixtures.runtimes import Runtime


@pytest.fixture
def running(tmp_path, unique_id, cleanup):
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    bundle = probe_bundle(str(tmp_path / "b"), (), lambda c: c["process"].update(args=["/bin/sleep", "100"]))
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("run", "-d", "--bundle", bundle, unique_id)
    return rt, unique_id, rt.state(unique_id)["pid"]


def test_exec_joins_every_namespace(running, probe_path):
    rt, cid, init = running
    res = rt.ok("exec", cid, "/usr/bin/python3", "/probe/probe.py", "ns", "pid", "cgroup", "hostname")
    seen = json.loads(res.stdout)
    for name, ino in seen["ns"].items():
        if ino is not None and os.path.exists(f"/proc/{init}/ns/{name}"):
            assert ino == os.stat(f"/proc/{init}/ns/{name}").st_ino, name
    assert seen["pid"] > 1 and seen["hostname"] == "runc"
    with open(f"/proc/{init}/cgroup") as f:
        assert seen["cgroup"] == f.read()


def test_exec_status_user_env_cwd(running):
    rt, cid, _ = running
    assert rt.run("exec", cid, "/bin/sh", "-c", "exit 9").returncode == 9
    res = rt.ok("exec", "-u", "1000:1001", "-e", "EXTRA=1", "--cwd", "/tmp", cid,
                "/usr/bin/python3", "/probe/probe.py", "uid", "gid", "env", "cwd")
    seen = json.loads(res.stdout)
    assert seen["uid"] == [1000] * 3 and seen["gid"] == [1001] * 3
    assert seen["env"]["EXTRA"] == "1" and seen["cwd"] == "/tmp"


def test_exec_process_json_and_detach(running, tmp_path):
    rt, cid, _ = running
    proc = {"args": ["/bin/sh", "-c", "echo from-process-json > /tmp/out; sleep 30"], "cwd": "/",
            "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(proc))
    pid_file = tmp_path / "exec.pid"
    rt.ok("exec", "-d", "--pid-file", str(pid_file), "-p", str(tmp_path / "process.json"), cid)
    pid = int(pid_file.read_text())
    assert pid in json.loads(rt.ok("ps", "-f", "json", cid).stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if rt.run("exec", cid, "/bin/cat", "/tmp/out").stdout == "from-process-json\n":
            break
        time.sleep(0.05)
    assert rt.run("exec", cid, "/bin/cat", "/tmp/out").stdout == "from-process-json\n"


def test_exec_in_stopped_container_fails(running):
    rt, cid, _ = running
    rt.ok("kill", cid, "KILL")
    deadline = time.monotonic() + 5
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    res = rt.run("exec", cid, "/bin/true")
    assert res.returncode == 1 and "stopped" in res.stderr
