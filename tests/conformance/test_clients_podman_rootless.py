"""Rootless podman (run as the throwaway user nsbox-test, with its /etc/subuid range 300000-365535)
driving runc and nsbox-runc.

Rootless podman makes the user namespace itself (0 -> the user, 1..65536 -> the subuid range) and calls
the runtime inside it as uid 0 with a spec that has no user namespace, no cgroupsPath and no resources
(cgroup v1 cannot be delegated), and — unless told with --runtime-flag — no --root either.
This module runs as root (the conformance tier) and drops to nsbox-test with runuser for podman.
"""

from __future__ import annotations

import os
import pwd

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.clients import RUNTIMES, RootlessPodman, subcommand

pytestmark = pytest.mark.timeout(120)
USER = "nsbox-test"
SUBUID_START = 300000

@pytest.fixture(params=RUNTIMES)
def rootless(request):
    require_tool("podman")
    require_tool("newuidmap")
    require(os.geteuid() == 0, "root (to run podman as another user with runuser)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        require(False, f"user {USER} (tests/rootless-env setup)")
    with open("/etc/subuid") as f:
        require(any(line.startswith(f"{USER}:{SUBUID_START}:") for line in f),
                f"{USER} has the /etc/subuid range {SUBUID_START}-365535 (tests/rootless-env setup)")
    client = RootlessPodman(request.param, USER)
    try:
        yield client
    finally:
        client.close()


def test_rootless_run(rootless):
    """The realistic set-up: no --runtime-flag, the runtime finds its own state directory."""
    res = rootless.run("run", "--rm", "--rootfs", rootless.rootfs, "sh", "-c",
                       "echo hello; echo pid=$$; id -u; cat /proc/self/uid_map")
    assert res.returncode == 0, rootless.explain("rootless podman run", res)
    lines = res.stdout.splitlines()
    assert lines[:3] == ["hello", "pid=1", "0"]
    uid = pwd.getpwnam(USER).pw_uid
    assert [line.split() for line in lines[3:]] == [["0", str(uid), "1"], ["1", str(SUBUID_START), "65536"]]
    create = rootless.wrapper.calls()[0][0]
    assert subcommand(create) == "create" and not any(w.startswith("--root") for w in create)


def test_rootless_detached_exec_stop(rootless, unique_id):
    """With the state directory given (--runtime-flag root=...), the rest of the lifecycle."""
    rootless.global_flags = ("--runtime-flag", f"root={rootless.base}/run/{rootless.runtime}")
    res = rootless.run("run", "-d", "--name", unique_id, "--rootfs", rootless.rootfs, "sh", "-c",
                       'trap "exit 42" TERM; while :; do sleep 0.1; done')
    assert res.returncode == 0, rootless.explain("rootless podman run -d", res)
    pid = int(rootless.inspect(unique_id, "{{.State.Pid}}"))
    # the container's processes belong to the subordinate ids: uid 0 inside is the user outside
    assert os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam(USER).pw_uid
    res = rootless.run("exec", unique_id, "sh", "-c", "echo in-exec; exit 3")
    assert (res.returncode, res.stdout) == (3, "in-exec\n"), rootless.explain("exec", res)
    rootless.ok("stop", "--time", "10", unique_id)
    assert rootless.inspect(unique_id, "{{.State.ExitCode}}") == "42"
    subs = rootless.wrapper.subcommands()
    assert subs[:2] == ["create", "start"] and "exec" in subs and "kill" in subs
