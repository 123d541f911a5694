"""nsbox.oci documents compared with what runc 1.1 itself writes: spec, features, state, list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from nsbox.oci import (default_spec, features_document, list_entry, list_json, list_table, load_config,
                       owner_of, parse_created, state_document, state_json, validate_config)
from tests.conftest import require_tool


def runc(*args, root=None, cwd=None, check=True):
    cmd = [require_tool("runc")] + (["--root", root] if root else []) + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30)
    if check and res.returncode:
        pytest.fail(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_default_spec_matches_runc_spec(tmp_path, rootless):
    runc("spec", *(["--rootless"] if rootless else []), cwd=str(tmp_path))
    with open(tmp_path / "config.json") as f:
        text = f.read()
    assert default_spec(rootless=rootless) == json.loads(text)
    # runc writes it with tab indentation; the same dump of ours is byte-identical
    assert json.dumps(default_spec(rootless=rootless), indent="\t") == text
    # and what runc writes is a config our loader and validator accept
    os.mkdir(tmp_path / "rootfs")
    validate_config(load_config(str(tmp_path)), bundle=str(tmp_path), rootless=rootless)


def test_rootless_default_spec_matches_runc_for_another_user(tmp_path):
    """As an unprivileged user, both map that user's own uid/gid (runc uses its euid/egid)."""
    import sys

    from tests.conftest import require
    runuser = require_tool("runuser")
    os.chmod(tmp_path, 0o777)
    as_nobody = [runuser, "-u", "nobody", "--"]
    res = subprocess.run(as_nobody + [require_tool("runc"), "spec", "--rootless"], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    code = "import json, nsbox.oci as o; print(json.dumps(o.default_spec(rootless=True), indent='\\t'), end='')"
    ours = subprocess.run(as_nobody + [sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=30)
    require(ours.returncode == 0, f"user nobody can import nsbox from {sys.executable}: {ours.stderr.strip()}")
    with open(tmp_path / "config.json") as f:
        assert ours.stdout == f.read()
    import pwd
    assert f'"hostID": {pwd.getpwnam("nobody").pw_uid}' in ours.stdout


def test_features_agree_with_runc():
    theirs = json.loads(runc("features").stdout)
    ours = features_document()
    assert ours["ociVersionMax"] == theirs["ociVersionMax"] and ours["hooks"] == theirs["hooks"]
    assert set(ours["mountOptions"]) == set(theirs["mountOptions"]) - {"tmpcopyup"}
    assert ours["linux"]["capabilities"] == theirs["linux"]["capabilities"]
    assert set(ours["linux"]["namespaces"]) - {"time"} == set(theirs["linux"]["namespaces"])
    for key in ("actions", "operators"):
        assert ours["linux"]["seccomp"][key] == theirs["linux"]["seccomp"][key]
    assert set(ours["linux"]["seccomp"]["archs"]) >= set(theirs["linux"]["seccomp"]["archs"])


def test_seccomp_archs_are_the_ones_libseccomp_knows():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("seccomp")
    if name is None:
        pytest.skip("missing capability: libseccomp is not installed")
    lib = ctypes.CDLL(name)
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    archs = features_document()["linux"]["seccomp"]["archs"]
    for arch in archs:
        assert lib.seccomp_arch_resolve_name(arch[len("SCMP_ARCH_"):].lower().encode()) != 0, arch
    from nsbox.oci.validate import SECCOMP_ARCHS
    for arch in set(SECCOMP_ARCHS) - set(archs):
        assert lib.seccomp_arch_resolve_name(arch[len("SCMP_ARCH_"):].lower().encode()) == 0, arch


@pytest.fixture
def runc_container(tmp_path, cleanup, unique_id):
    """A created (not started) runc container in a busybox bundle, deleted afterwards."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("missing capability: busybox is not installed")
    bundle = tmp_path / "bundle&<1>"  # Go's JSON encoder escapes & < >: so must we
    os.makedirs(bundle / "rootfs" / "bin")
    shutil.copy(busybox, bundle / "rootfs" / "bin" / "busybox")
    os.symlink("busybox", bundle / "rootfs" / "bin" / "sh")
    spec = default_spec(args=["sh", "-c", "sleep 60"])
    spec["process"]["terminal"] = False
    spec["annotations"] = {"org.nsbox.test": "yes"}
    with open(bundle / "config.json", "w") as f:
        json.dump(spec, f)
    root = str(tmp_path / "state")
    cleanup.add(lambda: runc("delete", "-f", unique_id, root=root, check=False))
    # the container's init keeps its stdio: give it /dev/null, not our pipes, or we wait for EOF forever
    log = tmp_path / "create.err"
    with open(log, "w") as err:
        res = subprocess.run([require_tool("runc"), "--root", root, "create", "--bundle", str(bundle), unique_id],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=30)
    if res.returncode:
        pytest.fail(f"runc create failed: {log.read_text().strip()}")
    return unique_id, root, str(bundle)


def test_state_document_matches_runc_state(runc_container):
    cid, root, bundle = runc_container
    text = runc("state", cid, root=root).stdout
    theirs = json.loads(text)
    ours = state_document(container_id=cid, status=theirs["status"], pid=theirs["pid"], bundle=theirs["bundle"],
                          rootfs=theirs["rootfs"], created=theirs["created"], owner="",
                          annotations={"org.nsbox.test": "yes"})
    assert list(ours.items()) == list(theirs.items())  # same fields, same order, same values
    assert theirs["status"] == "created" and theirs["bundle"] == bundle
    assert state_json(ours) == text  # byte for byte
    # created is Go's RFC3339Nano: our parser reads runc's timestamp
    assert parse_created(theirs["created"]) > 0


def test_list_entry_matches_runc_list_json(runc_container):
    cid, root, _ = runc_container
    text = runc("list", "-f", "json", root=root).stdout
    [theirs] = json.loads(text)
    ours = list_entry(container_id=cid, status=theirs["status"], pid=theirs["pid"], bundle=theirs["bundle"],
                      rootfs=theirs["rootfs"], created=theirs["created"], owner=owner_of(os.geteuid()),
                      annotations={"org.nsbox.test": "yes"})
    assert list(ours.items()) == list(theirs.items())
    assert theirs["owner"] == "root"
    assert list_json([ours]) == text
    assert list_table([ours]) == runc("list", root=root).stdout


def test_empty_lists_match_runc(tmp_path):
    root = str(tmp_path / "empty")
    assert list_json([]) == runc("list", "-f", "json", root=root).stdout
    assert list_table([]) == runc("list", root=root).stdout


# Harmless to a created container's init (ignored by default) or refused before any kill.
SIGNAL_TEXTS = ["WINCH", "SIGWINCH", "winch", "sigWinch", "28", "URG", "CHLD", "0", "SIGCLD", "IOT", "POLL",
                "FOO", "SIG", "RTMAX+1"]


def test_parse_signal_accepts_what_runc_kill_accepts(runc_container):
    from nsbox.oci import parse_signal
    cid, root, _ = runc_container
    for text in SIGNAL_TEXTS:
        res = runc("kill", cid, text, root=root, check=False)
        runc_ok = res.returncode == 0
        try:
            parse_signal(text)
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == runc_ok, (text, res.stderr)
    assert json.loads(runc("state", cid, root=root).stdout)["status"] == "created"
