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
