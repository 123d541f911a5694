"""Warnings (security plan, cgroup manager) are logged as runc does: a logrus line at level=warning
on stderr, or in --log; with --log-format json as JSON lines."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.conftest import require
from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime

UNKNOWN_SYSCALL = "secfix_no_such_syscall"


def _bundle(tmp_path):
    bundle = make_bundle(str(tmp_path / "bundle"), ["true"])
    config = read_config(bundle)
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": [UNKNOWN_SYSCALL, "acct"], "action": "SCMP_ACT_ERRNO"}]}
    # no blkio.leaf_weight on this kernel (no CFQ): the cgroup manager warns and goes on
    config["linux"].setdefault("resources", {})["blockIO"] = {"leafWeight": 100}
    write_config(bundle, config)
    return bundle


def _run(tmp_path, unique_id, *global_args):
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    cid = f"warn-{unique_id}"
    try:
        res = subprocess_run(rt, list(global_args), ["run", "-b", _bundle(tmp_path), cid])
    finally:
        rt.force_delete(cid)
    assert res.returncode == 0, res.stderr
    return res


def subprocess_run(rt, global_args, args):
    import subprocess
    argv = rt.argv(*args)
    argv[1:1] = global_args  # global options before the command
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _need_no_leaf_weight():
    require(os.path.isdir("/sys/fs/cgroup/blkio") and not os.path.exists("/sys/fs/cgroup/blkio/blkio.leaf_weight"),
            "a v1 blkio hierarchy without blkio.leaf_weight")


def test_text_warnings_on_stderr(tmp_path, unique_id):
    _need_no_leaf_weight()
    res = _run(tmp_path, unique_id)
    lines = [ln for ln in res.stderr.splitlines() if "level=warning" in ln]
    assert all(re.fullmatch(r'time="[^"]+" level=warning msg=".*"', ln) for ln in lines), res.stderr
    assert any(UNKNOWN_SYSCALL in ln for ln in lines), res.stderr
    assert any("blkio.leaf_weight" in ln for ln in lines), res.stderr
    assert len(lines) == 2, res.stderr  # each once (no second copy through logging)


def test_json_warnings_on_stderr(tmp_path, unique_id):
    _need_no_leaf_weight()
    res = _run(tmp_path, unique_id, "--log-format", "json")
    records = [json.loads(ln) for ln in res.stderr.splitlines() if ln.strip()]
    assert all(set(r) == {"level", "msg", "time"} and r["level"] == "warning" for r in records), res.stderr
    msgs = " | ".join(r["msg"] for r in records)
    assert UNKNOWN_SYSCALL in msgs and "blkio.leaf_weight" in msgs and len(records) == 2, msgs


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_warnings_go_to_the_log_file(tmp_path, unique_id, fmt):
    _need_no_leaf_weight()
    log = tmp_path / "runc.log"
    res = _run(tmp_path, unique_id, "--log", str(log), "--log-format", fmt)
    assert "warning" not in res.stderr, res.stderr
    text = log.read_text()
    assert UNKNOWN_SYSCALL in text and "blkio.leaf_weight" in text, text
    if fmt == "json":
        assert all(json.loads(ln)["level"] == "warning" for ln in text.splitlines()), text
    else:
        assert all("level=warning" in ln for ln in text.splitlines()), text
