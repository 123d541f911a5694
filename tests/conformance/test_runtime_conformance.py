"""The same busybox bundle through nsbox-runc, runc and crun: state JSON, transitions, exit codes, errors."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import require
from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime, available
from tests.fixtures.procs import proc_state

RUNTIMES = ("nsbox-runc", "runc", "crun")
SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "oci-runtime-spec", "schema",
                      "state-schema.json")


@pytest.fixture(params=RUNTIMES)
def rt(request, tmp_path):
    require(available(request.param), f"{request.param} is not installed")
    return Runtime(request.param, str(tmp_path / f"state-{request.param}"))


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(str(tmp_path / "bundle"), ["sleep", "100"])


def wait_status(rt, cid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.state(cid)["status"] == want:
            return want
        time.sleep(0.02)
    return rt.state(cid)["status"]


def validate_state(doc):
    jsonschema = pytest.importorskip("jsonschema")
    require(os.path.exists(SCHEMA), f"the OCI state schema at {SCHEMA}")
    from referencing import Registry
    from referencing.jsonschema import DRAFT4
    schema_dir = os.path.dirname(SCHEMA)
    resources = []
    for name in os.listdir(schema_dir):
        if name.endswith(".json"):
            with open(os.path.join(schema_dir, name)) as f:
                resources.append((name, DRAFT4.create_resource(json.load(f))))
    registry = Registry().with_resources(resources)
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft4Validator(schema, registry=registry).validate(doc)


def test_state_transitions_and_schema(rt, bundle, unique_id, cleanup):
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    doc = rt.state(unique_id)
    validate_state(doc)
    assert (doc["id"], doc["status"]) == (unique_id, "created")
    assert doc["pid"] > 0 and os.path.exists(f"/proc/{doc['pid']}")
    rt.ok("start", unique_id)
    doc = rt.state(unique_id)
    validate_state(doc)
    assert doc["status"] == "running"
    rt.ok("kill", unique_id, "KILL")
    assert wait_status(rt, unique_id, "stopped") == "stopped"
    validate_state(rt.state(unique_id))
    rt.ok("delete", unique_id)
    assert rt.run("state", unique_id).returncode == 1


def test_run_exit_code(rt, tmp_path, unique_id, cleanup):
    b = make_bundle(str(tmp_path / "b2"), ["sh", "-c", "exit 42"])
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", b, unique_id)
    assert res.returncode == 42, res.stderr


def test_run_killed_by_signal(rt, tmp_path, unique_id, cleanup):
    b = make_bundle(str(tmp_path / "b3"), ["sh", "-c", "kill -TERM $$; sleep 5"])
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", b, unique_id)
    # pid 1 ignores signals it has no handler for: sh survives its own SIGTERM and sleeps out
    assert res.returncode == 0, res.stderr


def test_delete_semantics(rt, bundle, unique_id, cleanup):
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    rt.ok("start", unique_id)
    res = rt.run("delete", unique_id)
    assert res.returncode == 1                       # running: refused without -f
    assert rt.state(unique_id)["status"] == "running"
    pid = rt.state(unique_id)["pid"]
    rt.ok("delete", "-f", unique_id)                 # -f kills and deletes
    assert rt.run("state", unique_id).returncode == 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proc_state(pid) not in (None, "Z"):
        time.sleep(0.02)
    assert proc_state(pid) in (None, "Z")
    assert rt.run("delete", "-f", unique_id).returncode == 0   # -f of a missing container: fine
    assert rt.run("delete", unique_id).returncode == 1          # without -f: an error


def test_errors_for_unknown_and_stopped(rt, bundle, unique_id, cleanup):
    res = rt.run("state", unique_id)
    assert res.returncode == 1
    if rt.name != "crun":  # crun says "error opening file .../status: No such file or directory"
        assert "does not exist" in res.stderr
    assert rt.run("kill", unique_id, "KILL").returncode == 1
    assert rt.run("start", unique_id).returncode == 1
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    assert rt.run("create", "--bundle", bundle, unique_id).returncode == 1   # duplicate id
    bad_signal = rt.run("kill", unique_id, "NOSUCHSIGNAL")
    if rt.name != "crun":  # crun 1.8.1 exits 0 on an unknown signal name (and sends nothing)
        assert bad_signal.returncode == 1 and "signal" in bad_signal.stderr
    assert rt.state(unique_id)["status"] == "created"
    rt.ok("start", unique_id)
    assert rt.run("start", unique_id).returncode == 1                       # already running
    rt.ok("kill", unique_id, "9")
    assert wait_status(rt, unique_id, "stopped") == "stopped"
    assert rt.run("kill", unique_id, "9").returncode == 1                   # not running
    assert rt.run("start", unique_id).returncode == 1                       # has stopped


def test_hostname_and_env_seen_inside(rt, tmp_path, unique_id, cleanup):
    b = make_bundle(str(tmp_path / "b4"), ["sh", "-c", 'echo "$(hostname) $FOO $(pwd)"'])
    cfg = read_config(b)
    cfg["hostname"] = "conf-host"
    cfg["process"]["env"].append("FOO=bar")
    cfg["process"]["cwd"] = "/tmp"
    write_config(b, cfg)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", b, unique_id)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "conf-host bar /tmp"


def test_malformed_config_is_rejected(rt, tmp_path, unique_id, cleanup):
    b = make_bundle(str(tmp_path / "b5"), ["true"])
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write("{not json")
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("create", "--bundle", b, unique_id)
    assert res.returncode == 1
    assert rt.run("state", unique_id).returncode == 1
