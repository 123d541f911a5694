"""The runtime without privileges: plans, mount options, status, store, CLI basics, layering."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from nsbox.errors import ContainerExists, ContainerNotFound, SpecError, UsageError
from nsbox.linux import consts as c
from nsbox.rootfs.options import parse_mount_options
from nsbox.rootfs.plan import plan_rootfs_ops
from nsbox.runtime import status as st
from nsbox.runtime.planner import make_plan, plan_namespaces
from nsbox.runtime.store import Store, check_id
from tests.fixtures.bundles import make_bundle, read_config
from tests.fixtures.runtimes import NSBOX_RUNC

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src", "nsbox")


def test_mount_options():
    o = parse_mount_options(["rbind", "ro", "nosuid", "rprivate", "size=1m", "rro", "mode=700"])
    assert o.bind and o.recursive_bind
    assert o.flags == c.MS_RDONLY | c.MS_NOSUID
    assert o.propagation == [c.MS_PRIVATE | c.MS_REC]
    assert o.attr_set == c.MOUNT_ATTR_RDONLY
    assert o.data == ["size=1m", "mode=700"]
    assert parse_mount_options(["ro", "rw"]).flags == 0


def test_rootfs_ops_from_config(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    config = {"mounts": [
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["bind", "ro", "nodev"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]},
    ], "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}}
    ops = plan_rootfs_ops(config, str(tmp_path))
    bind, tmpfs = ops[0], ops[1]
    assert bind["bind"] and bind["flags"] == c.MS_BIND and bind["remount"] == c.MS_RDONLY | c.MS_NODEV
    assert tmpfs["fstype"] == "tmpfs" and tmpfs["flags"] == c.MS_NOSUID and tmpfs["data"] == "size=1m"
    devices = [op["path"] for op in ops if op["op"] == "device"]
    assert devices[:6] == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
    assert "/dev/fuse" in devices
    assert {"op": "symlink", "path": "/dev/fd", "link": "/proc/self/fd"} in ops
    json.dumps(ops)


def test_rootfs_problems_are_collected(tmp_path):
    config = {"mounts": [{"destination": "relative", "type": "tmpfs"},
                         {"destination": "/x", "type": "bind", "source": "/does/not/exist"}]}
    with pytest.raises(SpecError) as info:
        plan_rootfs_ops(config, str(tmp_path))
    paths = [p for p, _ in info.value.problems]
    assert paths == ["mounts[0].destination", "mounts[1].source"]


def test_namespace_plan_join_order_and_duplicates():
    create, userns, join = plan_namespaces({"namespaces": [
        {"type": "mount", "path": "/proc/1/ns/mnt"}, {"type": "pid"}, {"type": "user", "path": "/proc/1/ns/user"},
        {"type": "network"}]})
    assert create == c.CLONE_NEWPID | c.CLONE_NEWNET and not userns
    assert [name for name, _ in join] == ["user", "mnt"]
    with pytest.raises(SpecError):
        plan_namespaces({"namespaces": [{"type": "pid"}, {"type": "pid"}]})
    with pytest.raises(SpecError):
        plan_namespaces({"namespaces": [{"type": "bogus"}]})


def test_init_plan_is_json(tmp_path):
    bundle = make_bundle(str(tmp_path / "b"), ["sh"])
    plan = make_plan(read_config(bundle), bundle, "cid", rootless=False)
    data = json.loads(json.dumps(plan.to_json()))
    assert data["root"] == os.path.join(bundle, "rootfs") and data["args"] == ["sh"]
    assert data["ns_create"] & c.CLONE_NEWNS and data["ns_create"] & c.CLONE_NEWPID
    assert data["masked_paths"] and data["readonly_paths"] and data["hostname"] == "runc"


def test_status_from_the_system(tmp_path):
    me = {"pid": os.getpid(), "start_time": int(open("/proc/self/stat").read().rpartition(")")[2].split()[19])}
    fifo = tmp_path / "exec.fifo"
    assert st.derive_status(me, str(fifo)) == st.RUNNING
    os.mkfifo(fifo)
    assert st.derive_status(me, str(fifo)) == st.CREATED
    assert st.derive_status(me, str(fifo), frozen=lambda: True) == st.CREATED
    os.unlink(fifo)
    assert st.derive_status(me, str(fifo), frozen=lambda: True) == st.PAUSED
    assert st.derive_status({**me, "start_time": me["start_time"] + 1}, str(fifo)) == st.STOPPED  # reused pid
    assert st.derive_status({"pid": 0}, str(fifo)) == st.STOPPED


def test_store(tmp_path):
    store = Store(str(tmp_path / "root"))
    store.make_dir("abc")
    with pytest.raises(ContainerExists):
        store.make_dir("abc")
    with pytest.raises(ContainerNotFound):
        store.read("abc")
    store.write("abc", {"id": "abc"})
    assert store.read("abc") == {"id": "abc"} and store.ids() == ["abc"]
    assert not os.path.exists(store.path("abc", "state.json.tmp"))
    store.remove("abc")
    assert store.ids() == []
    for bad in ("../x", "", "a/b", ".."):
        with pytest.raises(UsageError):
            check_id(bad)


def runc(*args, root):
    return subprocess.run([NSBOX_RUNC, "--root", root, *args], capture_output=True, text=True, timeout=30)


def test_cli_version_list_and_errors(tmp_path):
    root = str(tmp_path / "state")
    res = runc("--version", root=root)
    assert res.stdout.splitlines()[0].startswith("nsbox-runc version ") and res.stdout.splitlines()[1].startswith("spec: 1.")
    assert runc("list", root=root).stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert runc("list", "-f", "json", root=root).stdout.strip() == "null"
    res = runc("state", "nope", root=root)
    assert res.returncode == 1 and res.stderr == "nsbox-runc: container nope does not exist\n"
    res = runc("--log-format", "json", "state", "nope", root=root)
    assert json.loads(res.stderr)["msg"] == "container nope does not exist"


def test_cli_spec_and_features(tmp_path):
    root = str(tmp_path / "state")
    assert runc("spec", "-b", str(tmp_path), root=root).returncode == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    res = runc("spec", "-b", str(tmp_path), root=root)
    assert res.returncode == 1 and "exists" in res.stderr
    features = json.loads(runc("features", root=root).stdout)
    assert "ociVersionMin" in features or "mountOptions" in features


CHILD_ALLOWED = ("nsbox.linux", "nsbox.proc", "nsbox.errors", "nsbox.rootfs.apply", "nsbox.rootfs.resolve",
                 "nsbox.rootfs.cgroupfs", "nsbox._init", "nsbox.security")
STDLIB_OK = set(sys.stdlib_module_names)


def module_imports(path: str, package: str) -> set[str]:
    tree = ast.parse(open(path).read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                out.add(f"{base}.{node.module}" if node.module else base)
            else:
                out.add(node.module)
    return out


@pytest.mark.parametrize("module", ["_init/stage1.py", "_init/stage2.py", "_init/credentials.py",
                                    "_init/hookexec.py", "rootfs/apply.py", "rootfs/resolve.py", "rootfs/cgroupfs.py"])
def test_child_side_imports_only_stdlib_and_low_layers(module):
    package = "nsbox." + os.path.dirname(module).replace("/", ".")
    for name in module_imports(os.path.join(SRC, module), package):
        top = name.split(".")[0]
        assert top in STDLIB_OK or name.startswith(CHILD_ALLOWED), f"{module} imports {name}"
