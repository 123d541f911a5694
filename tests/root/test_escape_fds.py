"""CVE-2024-21626 class: a host directory fd leaked into the container, or a process.cwd of
/proc/self/fd/N resolving to one, lets the container walk '..' to the host's root.

The runtime is handed an open host directory on every fd 3..10 (as a careless caller would); the
container must see only 0, 1, 2 (+ --preserve-fds) in `run` and `exec`, and a cwd of
/proc/self/fd/N must fail cleanly or land inside the rootfs. Weakened: the same detector, given the
host directory on purpose (--preserve-fds), reaches the host marker.
"""

import os
from os.path import dirname

import pytest

from tests.fixtures.escape_bundles import (LEAKED_FDS, attack_args, last_json, make_bundle,  # noqa: F401
                                         runtime)



@pytest.fixture
def host_dir(tmp_path):
    """A host directory holding the marker; the runtime is started with it open on fds 3..10."""
    marker_dir = tmp_path / "host-secret"
    marker_dir.mkdir()
    marker = marker_dir / "MARKER"
    marker.write_text("host only\n")
    return str(marker)


def visible_fds(report: dict) -> set[int]:
    """fds the attack holds, minus the directory fd os.listdir used for the listing itself."""
    return {int(n) for n, target in report["fds"].items() if not target.startswith("/proc/")}


def test_run_sees_only_stdio(runtime, tmp_path, unique_id, host_dir):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("host_reach.py", host_dir))
    report = runtime.run_json(bundle, unique_id, leak_dir=dirname(host_dir))
    assert visible_fds(report) == {0, 1, 2}, report
    assert not report["via_fds"] and not report["via_cwd"], report


def test_run_preserve_fds_passes_exactly_those(runtime, tmp_path, unique_id, host_dir):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("host_reach.py", host_dir))
    bundle.write()
    res = runtime.ok("run", "--preserve-fds", "1", "--bundle", bundle.path, unique_id, leak_dir=dirname(host_dir))
    report = last_json(res.stdout, res.stderr)
    assert visible_fds(report) == {0, 1, 2, 3}, report
    # weakened on purpose: the detector sees the host through the preserved directory fd
    assert report["via_fds"] == ["3"], report


def test_exec_sees_only_stdio(runtime, tmp_path, unique_id, host_dir):
    bundle = make_bundle(str(tmp_path / "bundle"), ["/bb/sleep", "30"])
    runtime.start_detached(bundle, unique_id)
    res = runtime.ok("exec", unique_id, *attack_args("host_reach.py", host_dir), leak_dir=dirname(host_dir))
    report = last_json(res.stdout, res.stderr)
    assert visible_fds(report) == {0, 1, 2}, report
    assert not report["via_fds"] and not report["via_cwd"], report


@pytest.mark.parametrize("n", list(LEAKED_FDS))
def test_cwd_through_proc_self_fd(runtime, tmp_path, unique_id, host_dir, n):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("host_reach.py", host_dir))
    bundle.process["cwd"] = f"/proc/self/fd/{n}"
    bundle.write()
    res = runtime.run("run", "--bundle", bundle.path, unique_id, leak_dir=dirname(host_dir))
    if res.returncode == 0:
        report = last_json(res.stdout, res.stderr)
        assert not report["via_cwd"] and not report["via_fds"], f"escaped through cwd fd {n}: {report}"
    else:  # refused: nothing may be left behind
        assert "{" not in res.stdout, res.stdout
        assert not runtime.exists(unique_id), f"{runtime.name} left {unique_id} after refusing"
    assert open(host_dir).read() == "host only\n"


def test_cwd_detector_sees_host_cwd_when_weakened(runtime, tmp_path, unique_id, host_dir):
    """The same detector, with fd 3 preserved and the process chdir'ing into it itself."""
    bundle = make_bundle(str(tmp_path / "bundle"),
                         attack_args("host_reach.py", host_dir, "--chdir", "/proc/self/fd/3"))
    bundle.write()
    res = runtime.ok("run", "--preserve-fds", "1", "--bundle", bundle.path, unique_id, leak_dir=dirname(host_dir))
    report = last_json(res.stdout, res.stderr)
    assert report["via_cwd"], report


def test_exec_cwd_through_proc_self_fd(runtime, tmp_path, unique_id, host_dir):
    """`<runtime> exec --cwd /proc/self/fd/N` for every leaked N: refused or inside the rootfs."""
    bundle = make_bundle(str(tmp_path / "bundle"), ["/bb/sleep", "30"])
    runtime.start_detached(bundle, unique_id)
    outcomes = {}
    for n in LEAKED_FDS:
        res = runtime.run("exec", "--cwd", f"/proc/self/fd/{n}", unique_id,
                          *attack_args("host_reach.py", host_dir), leak_dir=dirname(host_dir))
        if res.returncode == 0:
            report = last_json(res.stdout, res.stderr)
            assert not report["via_cwd"] and not report["via_fds"], f"escaped through exec cwd fd {n}: {report}"
            outcomes[n] = report["cwd"]
        else:
            assert "{" not in res.stdout, res.stdout
            outcomes[n] = "refused"
    assert runtime.exists(unique_id), "a refused exec must leave the container running"
    assert open(host_dir).read() == "host only\n", outcomes
