"""Test tiers, strict mode, and the cleanup registry.

Tiers live in directories: tests/unit (no privileges), tests/userns (run as an unprivileged user),
tests/root (real containers, euid 0), tests/conformance (black-box vs runc/crun/util-linux).
A tier that cannot run here is skipped with the capability it lacks named; with NSBOX_STRICT=1
(set by scripts/test, so CI) such a skip is an error instead: CI never silently skips a tier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "fixtures", "probe.py")
STRICT = os.environ.get("NSBOX_STRICT") == "1"
TIERS = ("unit", "userns", "root", "conformance")


def tier_of(path: str) -> str | None:
    rel = os.path.relpath(str(path), HERE).split(os.sep)
    return rel[0] if rel and rel[0] in TIERS else None


def userns_possible() -> str | None:
    """None if an unprivileged user namespace can be made here, else the reason."""
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            if int(f.read()) == 0:
                return "user namespaces are disabled (user.max_user_namespaces = 0)"
    except OSError:
        return "no /proc/sys/user/max_user_namespaces"
    res = subprocess.run(["unshare", "-U", "true"], capture_output=True)
    if res.returncode:
        return f"unshare -U fails: {res.stderr.decode().strip()}"
    return None


def tier_requirement(tier: str) -> str | None:
    """Why this tier cannot run in this process (None: it can)."""
    if tier in ("root", "conformance") and os.geteuid() != 0:
        return f"the {tier} tier needs euid 0 (scripts/test runs it as root)"
    if tier == "userns":
        if os.geteuid() == 0:
            return "the userns tier runs as an unprivileged user (scripts/test runs it as nsbox-test)"
        return userns_possible()
    return None


def pytest_collection_modifyitems(config, items):
    reasons: dict[str, str | None] = {}
    for item in items:
        tier = tier_of(item.fspath)
        if tier is None:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if tier not in reasons:
            reasons[tier] = tier_requirement(tier)
        reason = reasons[tier]
        if reason:
            if STRICT:
                item.user_properties.append(("tier_failure", reason))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item):
    reason = dict(item.user_properties).get("tier_failure")
    if reason:
        pytest.fail(f"NSBOX_STRICT=1 and this tier cannot run: {reason}", pytrace=False)


def require(condition: bool, capability: str):
    """Skip (or fail under NSBOX_STRICT) naming the missing capability."""
    if not condition:
        if STRICT:
            pytest.fail(f"missing capability (NSBOX_STRICT=1): {capability}")
        pytest.skip(f"missing capability: {capability}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path  # type: ignore[return-value]


class Cleanup:
    """LIFO registry of undo actions that always run, even when the test fails."""

    def __init__(self):
        self._actions = []

    def add(self, fn, *args, **kwargs):
        self._actions.append((fn, args, kwargs))
        return fn

    def kill(self, pid: int, sig: int = 9):
        def _kill():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.add(_kill)

    def umount(self, path: str):
        self.add(lambda: subprocess.run(["umount", "-l", path], capture_output=True))

    def run_all(self):
        errors = []
        while self._actions:
            fn, args, kwargs = self._actions.pop()
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                errors.append(exc)
        return errors


@pytest.fixture
def cleanup():
    reg = Cleanup()
    yield reg
    reg.run_all()


@pytest.fixture
def unique_id():
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def probe_path():
    return PROBE


@pytest.fixture(scope="session")
def python_exe():
    """A python3 that exists at the same path inside a host-filesystem container."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def require_subids():
    """For rootless tests that need /etc/subuid ranges. The rootless tier runs once as a user with
    ranges (NSBOX_EXPECT_SUBIDS=1: missing ranges are a failure) and once as a user without
    (NSBOX_EXPECT_SUBIDS=0: such tests are skipped, by design of that run)."""
    from nsbox.ns.idmap import SUBUID_FILE, subid_ranges
    import pwd
    name = pwd.getpwuid(os.geteuid()).pw_name
    have = bool(subid_ranges(SUBUID_FILE, name, os.geteuid()))
    expect = os.environ.get("NSBOX_EXPECT_SUBIDS")
    if not have:
        if expect == "1":
            pytest.fail(f"user {name} should have an /etc/subuid range (NSBOX_EXPECT_SUBIDS=1)")
        pytest.skip(f"missing capability: user {name} has no /etc/subuid range (this run tests the fallback)")


def require_no_subids():
    from nsbox.ns.idmap import SUBUID_FILE, subid_ranges
    import pwd
    name = pwd.getpwuid(os.geteuid()).pw_name
    if subid_ranges(SUBUID_FILE, name, os.geteuid()):
        if os.environ.get("NSBOX_EXPECT_SUBIDS") == "0":
            pytest.fail(f"user {name} should have no /etc/subuid range (NSBOX_EXPECT_SUBIDS=0)")
        pytest.skip(f"user {name} has /etc/subuid ranges; this test covers users without (the other run)")
