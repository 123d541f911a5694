"""`nsbox run --rootfs IMAGE` as an unprivileged user: layers unpacked into the user's cache
(read-only directories, set-id modes and whiteouts included), the image's config used, the files
owned by root inside the container, and the cache removable by the user afterwards."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

from tests.fixtures.oci_images import busybox_layer, dir_entry, make_layout, opaque, tar_layer, whiteout

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")


def test_an_image_runs_rootless_from_the_users_cache(tmp_path, cleanup):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    cleanup.add(shutil.rmtree, str(tmp_path / "data"), ignore_errors=True)
    layout = str(tmp_path / "layout")
    lower = tar_layer([dir_entry("opt/ro", 0o555), ("opt/ro/tool", b"#!/bin/sh\necho tool\n", 0o4755),
                       ("var/cache/a", b"a"), ("etc/motd", b"old\n")])
    upper = tar_layer([("opt/ro/extra", b"e\n"), opaque("var/cache"), ("var/cache/b", b"b"), whiteout("etc/motd")])
    make_layout(layout, [busybox_layer(str(tmp_path)), lower, upper],
                config={"Cmd": ["/bin/sh", "-c", "ls /opt/ro; ls /var/cache; test -e /etc/motd || echo no-motd; "
                                "stat -c '%u %a' /opt/ro/tool; echo $MODE"], "Env": ["MODE=rootless"]})
    res = subprocess.run([NSBOX, "run", "--rootfs", layout], capture_output=True, text=True, timeout=60,
                         env=env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n") == ["extra", "tool", "b", "no-motd", "0 4755", "rootless", ""]
    (entry,) = os.listdir(tmp_path / "data" / "nsbox" / "images")
    tool = tmp_path / "data" / "nsbox" / "images" / entry / "rootfs" / "opt" / "ro" / "tool"
    st = os.stat(tool)
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o4755
    shutil.rmtree(tmp_path / "data")   # the user can remove what it unpacked (directories keep owner rwx)
