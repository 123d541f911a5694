"""The fast start path keeps what a container sees: cgroup membership (stage 1 joins its v1 cgroups itself
through `tasks`, the launcher writes only the unified one, for the init) and the cgroup namespace's root."""

from __future__ import annotations

import json
import os

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime


@pytest.fixture
def rt(tmp_path):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


def cgroup_dirs(rt: Runtime, cid: str) -> dict[str, str]:
    from nsbox.cgroups.manager import CgroupManager
    with open(os.path.join(rt.root, cid, "state.json")) as f:
        data = json.load(f)["cgroup"]
    assert data, "the container has no cgroup"
    return CgroupManager.from_json(data).paths()


def procs(directory: str) -> set[int]:
    with open(os.path.join(directory, "cgroup.procs")) as f:
        return {int(x) for x in f.read().split()}


def test_created_init_is_in_every_cgroup(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "-b", bundle, unique_id)
    pid = rt.state(unique_id)["pid"]
    dirs = cgroup_dirs(rt, unique_id)
    assert dirs
    for name, directory in dirs.items():
        assert procs(directory) == {pid}, f"{name}: {directory}"
    # and the container's own view of /sys/fs/cgroup is its cgroup (stage 2 mounted it from inside)
    rt.ok("start", unique_id)
    if "pids" in dirs:
        res = rt.run("exec", unique_id, "cat", "/sys/fs/cgroup/pids/cgroup.procs")
        assert res.returncode == 0, res.stderr
        assert "1" in res.stdout.split(), res.stdout  # the init, as its own pid namespace numbers it


def test_run_payload_sees_its_cgroups(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["cat", "/proc/self/cgroup"])
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "-b", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    lines = [line.split(":", 2) for line in res.stdout.splitlines() if line]
    assert lines
    managed = [path for _, controllers, path in lines if controllers and "rdma" not in controllers
               and "misc" not in controllers]
    assert managed and all(path.endswith("/" + unique_id) for path in managed), res.stdout


def test_cgroup_namespace_root_is_the_container_cgroup(rt, tmp_path, unique_id, cleanup):
    bundle = make_bundle(str(tmp_path / "b"), ["cat", "/proc/self/cgroup"])
    config = read_config(bundle)
    config["linux"]["namespaces"].append({"type": "cgroup"})
    write_config(bundle, config)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "-b", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    paths = {controllers: path for _, controllers, path in (line.split(":", 2) for line in res.stdout.splitlines())}
    assert paths
    # every managed hierarchy is rooted at the container's cgroup: stage 1 joined them before unsharing
    for controllers, path in paths.items():
        if controllers and "rdma" not in controllers and "misc" not in controllers:
            assert path == "/", res.stdout


def test_prestart_hook_sees_the_init_in_every_cgroup(rt, tmp_path, unique_id, cleanup):
    """Runtime hooks run only after the init is in all its cgroups, the unified one included."""
    import sys
    out = tmp_path / "hook-cgroup"
    code = (f"import json, sys; pid = json.load(sys.stdin)['pid']; "
            f"open({str(out)!r}, 'w').write(open(f'/proc/{{pid}}/cgroup').read())")
    bundle = make_bundle(str(tmp_path / "b"), ["true"],
                         hooks={"prestart": [{"path": sys.executable, "args": ["python3", "-c", code]}]})
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "-b", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    lines = [line.split(":", 2) for line in out.read_text().splitlines() if line]
    managed = {controllers: path for _, controllers, path in lines
               if "rdma" not in controllers and "misc" not in controllers}
    assert managed and all(path.endswith("/" + unique_id) for path in managed.values()), managed
