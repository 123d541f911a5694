"""Rootless nsbox-runc hands the seccomp notify fd to listenerPath too (the agent runs as the same user)."""

from __future__ import annotations

import os
import platform

import pytest

from tests.conftest import require
from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime
from tests.fixtures.seccomp_agent import ANSWER, NR, Agent


@pytest.mark.parametrize("no_new_privileges", [True, False], ids=["late", "early"])
def test_rootless_listener_answers_mkdir(no_new_privileges, tmp_path, unique_id, cleanup):
    require(os.geteuid() != 0, "an unprivileged user (tests/userns tier)")
    require(bool(NR), f"seccomp syscall numbers for {platform.machine()}")
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    sock_path = str(tmp_path / "agent.sock")
    agent = Agent(sock_path)
    agent.start()
    cleanup.add(lambda: (agent.finish(), agent.sock.close()))
    bundle = make_bundle(str(tmp_path / "bundle"), ["sh", "-c", "mkdir /tmp/made; echo rc=$?"], rootless=True)
    config = read_config(bundle)
    config["process"]["noNewPrivileges"] = no_new_privileges
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path,
                                  "syscalls": [{"names": sorted(NR), "action": "SCMP_ACT_NOTIFY"}]}
    write_config(bundle, config)
    cid = f"lsr-{unique_id}"
    cleanup.add(lambda: rt.force_delete(cid))
    res = rt.run("run", "-b", bundle, cid, timeout=60)
    agent.finish()
    assert agent.error is None, f"agent failed: {agent.error!r}"
    assert res.returncode == 0, res.stderr
    assert "rc=1" in res.stdout and os.strerror(ANSWER) in res.stderr + res.stdout, res.stdout + res.stderr
    assert agent.message["state"]["id"] == cid and agent.message["pid"] > 0, agent.message
