"""`nsbox run --rootfs IMAGE` on images podman made, against `podman run` of the same images.

podman (private storage, runc) imports a busybox rootfs with a config (Entrypoint, Cmd, Env, WorkingDir,
User), commits a container that deleted and added files (a second layer with a real whiteout from
containers/storage), and saves both as an OCI layout and as an oci-archive. What a probe prints
inside must be the same under podman and under nsbox: user, group, working directory, environment
from the image, and the files the upper layer removed and added."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import require_tool
from tests.fixtures.clients import Podman, client_rootfs

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
PROBE = ('echo "$GREETING|$(pwd)|$(id -u):$(id -g)|$0"; test -e /etc/motd && cat /etc/motd || echo no-motd; '
         'cat /added 2>&1; true')
IMAGE = "localhost/nsbox-probe:1"
COMMITTED = "localhost/nsbox-probe:2"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    require_tool("podman")
    base = tmp_path_factory.mktemp("podman-images")
    podman = Podman("runc")
    try:
        rootfs = client_rootfs(str(base / "rootfs"))
        with open(os.path.join(rootfs, "etc", "motd"), "w") as f:
            f.write("lower layer\n")
        tarball = str(base / "rootfs.tar")
        with tarfile.open(tarball, "w") as tar:
            tar.add(rootfs, arcname=".")
        config = ["--change", 'ENTRYPOINT ["/bin/sh", "-c"]', "--change", f'CMD {json.dumps([PROBE, "from-cmd"])}',
                  "--change", "ENV GREETING=from-image", "--change", "WORKDIR /etc", "--change", "USER nobody"]
        podman.ok("import", *config, tarball, IMAGE)
        podman.ok("run", "--name", "committer", "--user", "0", IMAGE, "rm /etc/motd; echo upper > /added")
        podman.ok("commit", "-q", *config, "committer", COMMITTED)   # the config again: commit keeps the run's Cmd
        out = {}
        for ref in (IMAGE, COMMITTED):
            tag = ref.rsplit(":", 1)[1]
            layout, archive = str(base / f"layout-{tag}"), str(base / f"archive-{tag}.tar")
            podman.ok("save", "--format", "oci-dir", "-o", layout, ref)
            podman.ok("save", "--format", "oci-archive", "-o", archive, ref)
            out[ref] = (layout, archive)
        yield podman, out
    finally:
        podman.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cache(tmp_path):
    return {**os.environ, "NSBOX_CACHE": str(tmp_path / "cache")}


def nsbox_run(env, *args):
    return subprocess.run([NSBOX, "run", *args], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("ref", [IMAGE, COMMITTED])
@pytest.mark.parametrize("form", ["layout", "archive"])
def test_the_same_view_as_podman(images, cache, ref, form):
    podman, saved = images
    want = podman.ok("run", "--rm", ref).stdout
    source = saved[ref][0 if form == "layout" else 1]
    res = nsbox_run(cache, "--rootfs", source)
    assert res.returncode == 0, res.stderr
    assert res.stdout == want
    first = want.splitlines()[0]
    assert first == "from-image|/etc|65534:65534|from-cmd"     # what the image's config says
    if ref == COMMITTED:
        assert want.splitlines()[1:] == ["no-motd", "upper"]   # the upper layer's whiteout and its new file
    else:
        assert want.splitlines()[1:] == ["lower layer", "cat: can't open '/added': No such file or directory"]


def test_a_command_replaces_cmd_and_flags_override_as_in_podman(images, cache):
    podman, saved = images
    args = ["-e", "GREETING=flag", "-w", "/", "-u", "0"]
    want = podman.ok("run", "--rm", *args, COMMITTED, PROBE, "given").stdout
    res = nsbox_run(cache, *args, "--rootfs", f"{saved[COMMITTED][0]}:{COMMITTED}", "--", PROBE, "given")
    assert res.returncode == 0, res.stderr
    assert res.stdout == want and want.splitlines()[0] == "flag|/|0:0|given"
