"""As an unprivileged user: join namespaces this user created, side by side with util-linux
`nsenter`; joining another user's namespaces fails with one clear line."""

from __future__ import annotations

import json
import os

import pytest

from nsbox.errors import NsboxError
from nsbox.ns.join import run_in
from tests.conftest import require, require_tool
from tests.fixtures.nsenter_targets import PROBE, PYTHON, ns_inodes, probe, run, start_target

IMPLS = ("util-linux", "nsbox")


@pytest.fixture(autouse=True)
def _tools():
    require_tool("unshare")
    require_tool("nsenter")
    require(os.geteuid() != 0, "an unprivileged user (this tier runs as nsbox-test / nsbox-nosub)")


@pytest.fixture
def user_net(cleanup):
    """`unshare -Urn`: a user namespace (caller mapped to root) owning a new net namespace."""
    return start_target(cleanup, ["-Urn"])


@pytest.fixture
def user_all(cleanup, unique_id):
    """A user namespace owning new pid, mount, ipc, uts, net, cgroup and time namespaces."""
    return start_target(cleanup, ["-Ur", "-fpmiunCT", "--mount-proc"], hostname=unique_id)


def test_join_own_user_and_net_namespace(user_net):
    args = ["-t", str(user_net), "-U", "-n", "--preserve-credentials"]
    ref = probe("util-linux", args, ["ns", "uid", "gid", "uid_map"])
    ours = probe("nsbox", args, ["ns", "uid", "gid", "uid_map"])
    target = ns_inodes(user_net)
    assert ours["ns"]["user"] == ref["ns"]["user"] == target["user"]
    assert ours["ns"]["net"] == ref["ns"]["net"] == target["net"]
    assert ours["uid"] == ref["uid"] == [0, 0, 0]  # this user is root in there
    assert ours["uid_map"] == ref["uid_map"] == f"{0:>10} {os.getuid():>10} {1:>10}\n"


def test_all_of_a_fully_owned_target(user_all, unique_id):
    args = ["-t", str(user_all), "-a", "--preserve-credentials"]  # setgroups is denied in there
    ref = probe("util-linux", args, ["ns", "hostname", "pids", "uid"])
    ours = probe("nsbox", args, ["ns", "hostname", "pids", "uid"])
    target = ns_inodes(user_all)
    for key in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"):
        assert ours["ns"][key] == ref["ns"][key] == target[key], key
    assert ours["hostname"] == ref["hostname"] == unique_id
    assert 1 in ours["pids"] and ours["uid"] == ref["uid"] == [0, 0, 0]


@pytest.mark.parametrize("args", [
    ["-a"],                       # the target's cgroup ns belongs to the host: setns fails after joining user
    ["-n"],                       # no privilege over the net ns without joining its user ns
    ["-U", "-n"],                 # setgroups is denied in an `unshare -r` namespace: util-linux fails too
    ["-U", "-n", "-S", "5"],
])
def test_failures_match_util_linux(user_net, args):
    full = ["-t", str(user_net), *args, "true"]
    ref, ours = run("util-linux", full), run("nsbox", full)
    assert ours.returncode == ref.returncode == 1, (args, ref.stderr, ours.stderr)
    lines = ours.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsbox nsenter: ") and "Traceback" not in ours.stderr


def test_another_users_namespace_is_refused_in_one_line():
    full = ["-t", "1", "-n", "true"]
    ref, ours = run("util-linux", full), run("nsbox", full)
    assert ours.returncode == ref.returncode == 1
    assert ours.stderr == "nsbox nsenter: open /proc/1/ns/net: Permission denied\n"
    with pytest.raises(NsboxError) as info:
        run_in(1, ["true"], types=("net",))
    assert "open /proc/1/ns/net: Permission denied" in str(info.value)


def test_run_in_as_unprivileged_user(user_net):
    r, w = os.pipe()
    try:
        proc = run_in(user_net, [PYTHON, PROBE, "ns", "uid"], types=("user", "net"),
                      preserve_credentials=True, stdout=w)
        os.close(w)
        w = -1
        with os.fdopen(r) as f:
            r = -1
            seen = json.loads(f.read())
        assert proc.wait(timeout=30) == 0
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    target = ns_inodes(user_net)
    assert seen["ns"]["user"] == target["user"] and seen["ns"]["net"] == target["net"]
    assert seen["uid"] == [0, 0, 0]
