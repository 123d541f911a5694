"""Bad input and failed calls: one clear line, util-linux's exit code, no traceback, nothing left mounted."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.unshare_tools import nsbox_unshare, run

NSBOX = nsbox_unshare()


def mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f)


@pytest.mark.parametrize("argv, expect", [
    (["--no-such-flag", "true"], "unrecognized option '--no-such-flag'"),
    (["-U", "--map-users=0:1", "true"], "bad id range '0:1'"),
    (["-U", "--map-users=a,b,c", "true"], "not a number"),
    (["-n", "/no/such/program"], "failed to execute /no/such/program: No such file or directory"),
    (["-fp", "--mount-proc=/no/such/dir", "true"], "mount(proc) /no/such/dir: No such file or directory"),
    (["-R", "/no/such/root", "true"], "chroot /no/such/root: No such file or directory"),
    (["-w", "/no/such/dir", "true"], "chdir /no/such/dir: No such file or directory"),
    (["--net=/no/such/dir/file", "true"], "persist: mount(bind) /no/such/dir/file"),
    (["--map-group=0", "--setgroups=allow", "true"], "mutually exclusive"),
    (["--kill-child=NOSIG", "true"], "unknown signal: NOSIG"),
    (["-S", "abc", "true"], "failed to parse uid"),
])
def test_bad_input_one_line_no_traceback_nothing_mounted(argv, expect):
    before = mountinfo()
    res = run(NSBOX + argv)
    assert res.returncode in (1, 127), res
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("nsbox unshare: ") and expect in lines[0], res.stderr
    assert "Traceback" not in res.stderr and len(lines) <= 2
    assert mountinfo() == before
    if shutil.which("unshare"):
        assert run(["unshare"] + argv).returncode == res.returncode


def test_debug_shows_traceback():
    res = run(NSBOX + ["--debug", "-w", "/no/such/dir", "true"])
    assert res.returncode == 1 and "Traceback" in res.stderr


def test_user_namespaces_disabled_in_a_private_scope():
    # user.max_user_namespaces is per user namespace: set it to 0 inside a throwaway one (util-linux
    # unshare -r makes it), so only that scope loses user namespaces.
    require_tool("unshare")
    script = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\""
    res = run(["unshare", "-r", "sh", "-c", script, "sh"] + NSBOX + ["-U", "true"])
    assert res.returncode == 1
    assert res.stderr.strip() == "nsbox unshare: unshare(CLONE_NEWUSER): No space left on device"
    ref = run(["unshare", "-r", "sh", "-c", script, "sh", "unshare", "-U", "true"])
    assert ref.returncode == res.returncode


def test_help_and_version():
    res = run(NSBOX + ["--help"])
    assert res.returncode == 0 and "--map-users" in res.stdout and "--kill-child" in res.stdout
    assert run(NSBOX + ["-V"]).returncode == 0
