"""The forked-child rules (DESIGN §4) under attack: fds, cwd, symlinked mount targets, dumpable, imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.probe_bundle import probe_bundle
from tests.fixtures.runtimes import NSBOX_RUNC, Runtime


@pytest.fixture
def rt(tmp_path):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


def test_no_host_fd_reaches_the_container(rt, tmp_path, unique_id, cleanup):
    bundle = probe_bundle(str(tmp_path / "b"), ["fds"])
    cleanup.add(rt.force_delete, unique_id)
    leak = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)  # inheritable host directory fd
    os.set_inheritable(leak, True)
    try:
        res = subprocess.run(rt.argv("run", "--bundle", bundle, unique_id), pass_fds=(leak,),
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        seen = json.loads(res.stdout)
    finally:
        os.close(leak)
    fds = {int(k): v for k, v in seen["fds"].items()}
    # 0-2 are stdio; the probe's own listing of /proc/self/fd may show one more, pointing into /proc
    extra = {fd: target for fd, target in fds.items() if fd > 2 and not str(target).startswith("/proc/")}
    assert extra == {}, f"host fds leaked into the container: {extra}"


def test_preserve_fds_passes_exactly_n(rt, tmp_path, unique_id, cleanup):
    bundle = probe_bundle(str(tmp_path / "b"), ["fds"])
    cleanup.add(rt.force_delete, unique_id)
    (tmp_path / "kept").write_text("k")
    (tmp_path / "dropped").write_text("d")
    # fd 3 is preserved (--preserve-fds 1), fd 4 is not
    res = subprocess.run(["sh", "-c", f'exec 3<{tmp_path}/kept 4<{tmp_path}/dropped; exec "$@"', "sh",
                          *rt.argv("run", "--preserve-fds", "1", "--bundle", bundle, unique_id)],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    fds = json.loads(res.stdout)["fds"]
    assert fds.get("3") == str(tmp_path / "kept")
    assert fds.get("4") in (None,) or fds["4"].startswith("/proc/")
    assert str(tmp_path / "dropped") not in fds.values()


def test_cwd_symlink_cannot_escape_the_root(rt, tmp_path, unique_id, cleanup):
    marker_dir = tmp_path / "host-only"
    marker_dir.mkdir()
    (marker_dir / "host-secret").write_text("x")

    def edit(c):
        c["process"]["cwd"] = "/escape"
    bundle = probe_bundle(str(tmp_path / "b"), ["cwd"], edit)
    os.symlink("../../../../../../../../" + str(marker_dir).lstrip("/"), os.path.join(bundle, "rootfs", "escape"))
    cleanup.add(rt.force_delete, unique_id)
    res = subprocess.run(rt.argv("run", "--bundle", bundle, unique_id), capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    if res.returncode == 0:
        seen = json.loads(res.stdout)
        assert seen["cwd"] == str(marker_dir)           # resolved inside the container's root...
        assert os.path.isdir(os.path.join(bundle, "rootfs", str(marker_dir).lstrip("/")))  # ...created there
    else:
        # the symlink resolved inside the container points nowhere: refused, never the host's directory
        assert "change dir" in res.stderr and "/escape" in res.stderr


def test_symlinked_mount_target_stays_in_rootfs(rt, tmp_path, unique_id, cleanup):
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "payload").write_text("mounted")

    def edit(c):
        c["mounts"].append({"destination": "/evil", "type": "bind", "source": str(src), "options": ["rbind", "ro"]})
        c["process"]["args"] = ["/bin/cat", str(outside / "payload")]
    bundle = probe_bundle(str(tmp_path / "b"), (), edit)
    os.symlink(str(outside), os.path.join(bundle, "rootfs", "evil"))  # absolute: /tmp/.../outside
    cleanup.add(rt.force_delete, unique_id)
    res = subprocess.run(rt.argv("run", "--bundle", bundle, unique_id), capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "mounted"                                   # the mount is at <rootfs>/<outside>
    assert os.path.isdir(os.path.join(bundle, "rootfs", str(outside).lstrip("/")))
    assert os.listdir(outside) == []                                 # the host directory is untouched


def test_runtime_is_not_dumpable_while_created(tmp_path, unique_id, cleanup):
    """A container process must not reach the runtime's (the host's Python) /proc/PID/exe or memory."""
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="nsbox-test-", dir="/var/tmp")  # reachable by the mapped ids
    os.chmod(base, 0o755)
    cleanup.add(shutil.rmtree, base, ignore_errors=True)
    bundle = make_bundle(os.path.join(base, "b"), ["sleep", "100"])
    cfg = read_config(bundle)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000 + 7000, "size": 1000}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000 + 7000, "size": 1000}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
    for m in cfg["mounts"]:
        if m["destination"] == "/dev/pts":
            m["options"] = [o for o in m["options"] if o != "gid=5"]
    write_config(bundle, cfg)
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    pid = rt.state(unique_id)["pid"]
    # the init (still our Python, waiting on exec.fifo) runs as host uid 307000 = container root
    read_exe = ["setpriv", "--reuid", "307000", "--regid", "307000", "--clear-groups", sys.executable, "-c",
                f"import os; print(os.readlink('/proc/{pid}/exe'))"]
    res = subprocess.run(read_exe, capture_output=True, text=True, timeout=10)
    assert res.returncode != 0 and "PermissionError" in res.stderr, res
    # control: the same uid may read /proc/PID/exe of an ordinary (dumpable) process it owns
    other = subprocess.Popen(["setpriv", "--reuid", "307000", "--regid", "307000", "--clear-groups", "sleep", "30"])
    cleanup.kill(other.pid)
    import time
    deadline = time.monotonic() + 20          # setpriv has exec'd sleep (its exe is setpriv until then)
    while open(f"/proc/{other.pid}/comm").read().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.02)
    control = subprocess.run(read_exe[:-1] + [f"import os; print(os.readlink('/proc/{other.pid}/exe'))"],
                             capture_output=True, text=True, timeout=10)
    assert control.returncode == 0 and control.stdout.strip().endswith("sleep"), control


def test_no_imports_after_pivot_root(tmp_path, unique_id, cleanup):
    """Stage 2 must import nothing once the host's filesystem is gone."""
    bundle = probe_bundle(str(tmp_path / "b"), (), lambda c: c["process"].update(args=["/bin/true"]))
    state = str(tmp_path / "state")
    script = textwrap.dedent(f"""
        import os, sys
        from nsbox._init import stage2
        from nsbox.runtime.container import Runtime
        from nsbox.runtime.foreground import run_container
        pivoted = []
        def hook(event, args):
            if pivoted and event == "import":
                os.write(2, f"import after pivot_root: {{args[0]}}\\n".encode())
                os._exit(99)
        sys.addaudithook(hook)
        original = stage2.pivot_root
        def pivot_then_watch(ctx):
            original(ctx)
            pivoted.append(True)
        pivot_then_watch.__name__ = "pivot_root"
        stage2.SETUP_STEPS = tuple(pivot_then_watch if s is original else s for s in stage2.SETUP_STEPS)
        sys.exit(run_container(Runtime({state!r}), {unique_id!r}, {bundle!r}))
    """)
    cleanup.add(lambda: subprocess.run([NSBOX_RUNC, "--root", state, "delete", "-f", unique_id], capture_output=True))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert "import after pivot_root" not in res.stderr


def test_runtime_runs_from_a_read_only_interpreter_with_sys_ptrace(tmp_path, unique_id, cleanup):
    """CAP_SYS_PTRACE lets a container open /proc/PID/exe of the runtime joining it: then the runtime runs
    from a read-only bind of its interpreter, so that file cannot be reopened for writing (EROFS)."""
    bundle = make_bundle(str(tmp_path / "b"), ["sleep", "100"])
    cfg = read_config(bundle)
    for kind in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][kind].append("CAP_SYS_PTRACE")
    write_config(bundle, cfg)
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--bundle", bundle, unique_id)
    pid = rt.state(unique_id)["pid"]          # still the runtime's interpreter, waiting on exec.fifo
    host_python = os.stat(os.path.realpath(sys.executable))
    exe = os.stat(f"/proc/{pid}/exe")
    assert (exe.st_dev, exe.st_ino) == (host_python.st_dev, host_python.st_ino)  # the host's interpreter...
    # the mount the exe lies on (detached by pivot_root, so not in any mountinfo) is read-only
    assert os.statvfs(f"/proc/{pid}/exe").f_flag & os.ST_RDONLY  # ...reached through a read-only mount
    assert not os.statvfs(os.path.realpath("/usr/bin/python3")).f_flag & os.ST_RDONLY  # the host's is not
