"""Mount destinations that try to leave the rootfs or replace /proc.

CVE-2021-30465 class: a destination running through a symlink in the rootfs that points outside
(absolute `/`, relative `../..` chains, a link to a link) must be resolved inside the rootfs (or the
config refused): the host directory it names keeps its marker, gains no PWNED file and no mount.
Weakened: that host directory bound into the container on purpose; the same detector sees it.

CVE-2019-16884 class: a tmpfs or a fake directory mounted over /proc must be refused or leave the
real procfs in place with the masked paths masked. Weakened: no procfs at all, a fake /proc tree in
the rootfs; the same detector reports it.
"""

import os

import pytest

from tests.fixtures.escape_bundles import (attack_args, host_mountpoints, last_json, make_bundle,  # noqa: F401
                                         runtime, weaken)

LINKS = {
    "abs": ("evil", "/"),
    "rel": ("evil", "../../../../../../../../.."),
    "chain": ("evil", "hop/../../../../../../../.."),
    "link-to-link": ("evil", "/bounce"),
    "dotdot-dest": (None, None),  # no symlink: the destination itself climbs with ..
}


def destination(kind: str, host_target: str) -> str:
    if kind == "dotdot-dest":
        return "/.." * 12 + host_target
    return "/evil" + host_target


@pytest.fixture
def host_target(tmp_path):
    target = tmp_path / "host-target"
    target.mkdir()
    (target / "MARKER").write_text("host only\n")
    return str(target)


def host_untouched(target: str) -> None:
    assert sorted(os.listdir(target)) == ["MARKER"], f"the host directory changed: {os.listdir(target)}"
    assert open(os.path.join(target, "MARKER")).read() == "host only\n"
    assert host_mountpoints(target) == set(), "a mount appeared on the host"


def symlink_bundle(tmp_path, host_target, kind):
    inside = host_target  # the destination's in-rootfs resolution: /evil -> / keeps the host path
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("mount_target.py", inside))
    name, target = LINKS[kind]
    os.makedirs(os.path.join(bundle.rootfs, "hop"))
    if kind == "link-to-link":
        os.symlink("/", os.path.join(bundle.rootfs, "bounce"))
    if name:
        os.symlink(target, os.path.join(bundle.rootfs, name))
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "payload").write_text("from the config's source\n")
    return bundle, str(payload)


@pytest.mark.parametrize("kind", sorted(LINKS))
def test_symlinked_destination_stays_in_rootfs(runtime, tmp_path, unique_id, host_target, kind):
    bundle, payload = symlink_bundle(tmp_path, host_target, kind)
    bundle.add_mount(destination(kind, host_target), payload, options=["rbind", "rw"])
    bundle.write()
    res = runtime.run("run", "--bundle", bundle.path, unique_id)
    if res.returncode == 0:
        report = last_json(res.stdout, res.stderr)
        # the bind landed at the in-rootfs resolution of the destination
        assert "payload" in report["listing"], f"{runtime.name}: the mount went elsewhere: {report}"
    else:
        assert not runtime.exists(unique_id), f"{runtime.name} left {unique_id} after refusing"
    host_untouched(host_target)


def test_symlink_detector_sees_host_bind_when_weakened(runtime, tmp_path, unique_id, host_target):
    bundle, _ = symlink_bundle(tmp_path, host_target, "abs")
    bundle.add_mount("/evil" + host_target, host_target, options=["rbind", "rw"])
    report = runtime.run_json(bundle, unique_id)
    assert report["wrote"] and "MARKER" in report["listing"], report
    assert "PWNED" in os.listdir(host_target)


PROC_OVERMOUNTS = {
    "tmpfs": {"destination": "/proc", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
    "bind-fake": {"destination": "/proc", "type": "bind", "source": "FAKE", "options": ["rbind"]},
    "bind-fake-sys": {"destination": "/proc/sys", "type": "bind", "source": "FAKE", "options": ["rbind"]},
}


def fake_proc(path) -> str:
    """A directory that looks like /proc to a careless reader: readable kcore/keys, a self/."""
    os.makedirs(os.path.join(path, "self"))
    os.makedirs(os.path.join(path, "sys", "kernel"))
    for name in ("kcore", "keys", "timer_list", "sysrq-trigger"):
        with open(os.path.join(path, name), "w") as f:
            f.write("fake\n")
    with open(os.path.join(path, "sys", "kernel", "domainname"), "w") as f:
        f.write("fake\n")
    return path


def assert_real_proc(report: dict, runtime) -> None:
    assert report["proc_is_procfs"], f"{runtime.name}: /proc is not procfs: {report}"
    for path, seen in report["masked"].items():
        assert seen in (None, 0, "EACCES", "EPERM", "ENOENT"), f"{runtime.name}: {path} readable: {seen}"
    for path, writable in report["writable"].items():
        assert writable in (None, False), f"{runtime.name}: {path} writable"


@pytest.mark.parametrize("kind", sorted(PROC_OVERMOUNTS))
def test_proc_overmount_refused_or_harmless(runtime, tmp_path, unique_id, kind):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("proc_check.py"))
    mount = dict(PROC_OVERMOUNTS[kind])
    if mount["source"] == "FAKE":
        mount["source"] = fake_proc(str(tmp_path / "fake-proc"))
    bundle.config["mounts"].append(mount)
    bundle.write()
    res = runtime.run("run", "--bundle", bundle.path, unique_id)
    if res.returncode == 0:
        report = last_json(res.stdout, res.stderr)
        if kind == "bind-fake-sys":  # runc refuses this; if accepted, procfs stays, /proc/sys read-only
            assert report["proc_is_procfs"] and report["writable"]["/proc/sys"] is not True, report
        else:
            assert_real_proc(report, runtime)
    else:
        assert "{" not in res.stdout, res.stdout
        assert not runtime.exists(unique_id), f"{runtime.name} left {unique_id} after refusing"


def test_proc_detector_sees_overmounted_proc_when_weakened(runtime, tmp_path, unique_id):
    """All capabilities and no seccomp: the container mounts a tmpfs over /proc itself."""
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("proc_check.py", "--overmount"))
    weaken(bundle.config)
    report = runtime.run_json(bundle, unique_id)
    assert not report["proc_is_procfs"] and not report["self_status"], report
