"""`nsbox run`: the host's filesystem read-only, private /proc /dev /sys /tmp, every namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")


def nsbox_run(*args, timeout=60):
    return subprocess.run([NSBOX, "run", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_demo_sees_its_own_world(probe_path):
    res = nsbox_run("--hostname", "nsbox-demo", "--", "/usr/bin/python3", probe_path)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout)
    assert seen["hostname"] == "nsbox-demo"
    host_ns = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in ("pid", "net", "mnt", "uts", "ipc", "cgroup")}
    for name, ino in host_ns.items():
        assert seen["ns"][name] != ino, f"{name} namespace is the host's"
    assert seen["pid"] == 1


def test_root_is_read_only_and_tmp_private():
    marker = f"/tmp/nsbox-box-marker-{os.getpid()}"
    open(marker, "w").close()
    try:
        res = nsbox_run("--", "/bin/sh", "-c",
                        f"touch /etc/nsbox-x 2>&1; test -e {marker} && echo leaked || echo private; "
                        "touch /tmp/ok && echo tmp-writable; ls /sys/class/net")
        assert res.returncode == 0, res.stderr
        out = res.stdout.split("\n")
        assert "Read-only file system" in out[0]
        assert out[1:4] == ["private", "tmp-writable", "lo"]
        assert not os.path.exists("/etc/nsbox-x")
    finally:
        os.unlink(marker)


def test_exit_status_env_workdir_and_cleanup():
    before = set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()
    res = nsbox_run("-e", "GREETING=hi there", "-w", "/usr", "--", "/bin/sh", "-c", 'echo "$GREETING in $(pwd)"; exit 3')
    assert res.returncode == 3, res.stderr
    assert res.stdout == "hi there in /usr\n"
    after = set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()
    assert after <= before  # no state dir or bundle left behind


def test_missing_command_is_one_line():
    res = nsbox_run("--", "/nonexistent/cmd")
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "/nonexistent/cmd" in res.stderr


def test_tarball_rootfs_unpacked_once(tmp_path, cleanup):
    import shutil
    import tarfile
    from nsbox.paths import cache_root
    from tests.fixtures.bundles import busybox_rootfs
    root = busybox_rootfs(str(tmp_path / "rootfs"))
    with open(os.path.join(root, "etc", "marker"), "w") as f:
        f.write(str(tmp_path) + "\n")  # unique content: a unique cache key
    tarball = str(tmp_path / "rootfs.tar")
    with tarfile.open(tarball, "w") as tar:
        tar.add(root, arcname=".")
    before = set(os.listdir(os.path.join(cache_root(), "rootfs"))) if os.path.isdir(os.path.join(cache_root(), "rootfs")) else set()
    res = nsbox_run("--rootfs", tarball, "--", "/bin/sh", "-c", "cat /etc/marker; ls /usr 2>&1 | head -1")
    after = set(os.listdir(os.path.join(cache_root(), "rootfs")))
    new = after - before
    for name in new:
        cleanup.add(shutil.rmtree, os.path.join(cache_root(), "rootfs", name), ignore_errors=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == str(tmp_path)
    assert len(new) == 1
    res = nsbox_run("--rootfs", tarball, "--", "/bin/cat", "/etc/marker")
    assert res.returncode == 0 and set(os.listdir(os.path.join(cache_root(), "rootfs"))) == after


def test_interactive_tty():
    import pty
    import select
    import time
    pid, master = pty.fork()
    if pid == 0:
        os.execv(NSBOX, [NSBOX, "run", "-it", "--", "/bin/sh", "-c", "echo ready; read x; echo got-$x; tty"])
    try:
        out = b""
        sent = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if b"ready" in out and not sent:
                    os.write(master, b"hello\n")
                    sent = True
        else:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "got-hello" in text and "/dev/pts/" in text
