"""seccomp user notification: linux.seccomp.listenerPath gets the notify fd and the container state.

A tiny agent in the test listens on a unix socket, receives runc's message ({"ociVersion", "fds":
["seccompFd"], "pid", "metadata", "state"}) with the fd by SCM_RIGHTS, and answers every mkdir of the
container with EXDEV through SECCOMP_IOCTL_NOTIF_SEND. Compared with runc where it is installed.
"""

from __future__ import annotations

import json
import os
import platform

import pytest

from tests.conftest import require
from tests.fixtures.bundles import make_bundle
from tests.fixtures.runtimes import Runtime, available
from tests.fixtures.seccomp_agent import ANSWER, NR, Agent


def _runtimes():
    return [name for name in ("nsbox-runc", "runc") if available(name)]


@pytest.mark.parametrize("no_new_privileges", [True, False], ids=["late", "early"])
@pytest.mark.parametrize("name", _runtimes())
def test_listener_gets_fd_and_state_and_answers_mkdir(name, no_new_privileges, tmp_path, unique_id, cleanup):
    require(bool(NR), f"seccomp syscall numbers for {platform.machine()}")
    require(os.geteuid() == 0, "root")
    rt = Runtime(name, str(tmp_path / "state"))
    sock_path = str(tmp_path / "agent.sock")
    agent = Agent(sock_path)
    agent.start()
    cleanup.add(lambda: (agent.finish(), agent.sock.close()))
    script = "mkdir /tmp/made; echo rc=$?; test -d /tmp/made && echo exists || echo absent"
    bundle = make_bundle(str(tmp_path / "bundle"), ["sh", "-c", script])
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["process"]["noNewPrivileges"] = no_new_privileges
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path, "listenerMetadata": "meta-7",
        "architectures": ["SCMP_ARCH_X86_64"] if platform.machine() == "x86_64" else ["SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": sorted(NR), "action": "SCMP_ACT_NOTIFY"}]}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    cid = f"lsn-{unique_id}"
    cleanup.add(lambda: rt.force_delete(cid))
    res = rt.run("run", "-b", bundle, cid, timeout=60)
    agent.finish()
    assert agent.error is None, f"agent failed: {agent.error!r}"
    assert res.returncode == 0, f"{name}: {res.stderr}"
    # the agent's answer reached the container: mkdir failed with EXDEV and made nothing
    assert "rc=1" in res.stdout and "absent" in res.stdout, res.stdout + res.stderr
    assert os.strerror(ANSWER) in res.stderr + res.stdout, res.stderr
    assert set(agent.notified) <= set(NR.values()) and agent.notified, agent.notified
    msg = agent.message
    assert msg["fds"] == ["seccompFd"] and msg["metadata"] == "meta-7", msg
    assert msg["ociVersion"] and msg["pid"] > 0, msg
    state = msg["state"]
    assert state["id"] == cid and state["pid"] == msg["pid"], msg
    assert os.path.realpath(state["bundle"]) == os.path.realpath(bundle), msg
    assert state["status"] in ("creating", "created"), msg


def test_unreachable_listener_fails_create_and_leaves_nothing(tmp_path, unique_id):
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    bundle = make_bundle(str(tmp_path / "bundle"), ["true"])
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "nobody.sock"),
                                  "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    cid = f"lsn-{unique_id}"
    try:
        res = rt.run("create", "-b", bundle, cid, timeout=60)
        assert res.returncode != 0
        assert "nobody.sock" in res.stderr and "connect" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert rt.run("state", cid).returncode != 0
    finally:
        rt.force_delete(cid)


def _listener_bundle(tmp_path, sock_path, args, no_new_privileges=True):
    bundle = make_bundle(str(tmp_path / "bundle"), args)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["process"]["noNewPrivileges"] = no_new_privileges
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path, "listenerMetadata": "meta-7",
        "syscalls": [{"names": sorted(NR), "action": "SCMP_ACT_NOTIFY"}]}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    return bundle


@pytest.mark.parametrize("name", _runtimes())
def test_exec_hands_its_own_listener_fd(name, tmp_path, unique_id, cleanup):
    """`exec` installs the container's filter in the new process: a second message, state "running"."""
    require(bool(NR), f"seccomp syscall numbers for {platform.machine()}")
    rt = Runtime(name, str(tmp_path / "state"))
    sock_path = str(tmp_path / "agent.sock")
    agent = Agent(sock_path, count=2)
    agent.start()
    cleanup.add(lambda: (agent.finish(), agent.sock.close()))
    bundle = _listener_bundle(tmp_path, sock_path, ["sleep", "30"])
    cid = f"lsx-{unique_id}"
    cleanup.add(lambda: rt.force_delete(cid))
    rt.ok("run", "-d", "-b", bundle, cid, timeout=60)
    init_pid = rt.state(cid)["pid"]
    res = rt.run("exec", cid, "sh", "-c", "mkdir /tmp/x; echo rc=$?", timeout=60)
    agent.finish()
    assert agent.error is None, f"agent failed: {agent.error!r}"
    assert res.returncode == 0 and "rc=1" in res.stdout, res.stdout + res.stderr
    assert len(agent.messages) == 2, agent.messages
    first, second = agent.messages
    assert first["pid"] == init_pid and first["state"]["pid"] == init_pid, first
    assert second["pid"] != init_pid and second["state"]["id"] == cid, second
    assert second["state"]["status"] == "running", second
