"""`nsbox run --rootfs IMAGE`: an OCI image layout or oci-archive built by the test (busybox-static
plus a layer of its own), its config's Entrypoint/Cmd/Env/WorkingDir/User seen from inside, flags
overriding them, bad images refused in one line leaving nothing behind, and a hostile layer that
cannot write outside the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from nsbox.paths import cache_root
from tests.fixtures.oci_images import busybox_layer, make_archive, make_layout, symlink, tar_layer, whiteout

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
IMAGES = os.path.join(cache_root(), "images")
CONFIG = {"Entrypoint": ["/bin/sh", "-c"],
          "Cmd": ['echo "cmd:$GREETING:$(pwd):$(id -u):$(id -g)"; cat /srv/app/hello; test -e /etc/group || echo no-group'],
          "Env": ["GREETING=from-image", "PATH=/bin"], "WorkingDir": "/srv/app"}


def nsbox_run(*args, timeout=60):
    return subprocess.run([NSBOX, "run", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def cache_entries() -> set[str]:
    return set(os.listdir(IMAGES)) if os.path.isdir(IMAGES) else set()


@pytest.fixture
def image_cache(cleanup):
    """Removes the cache entries a test made (and checks no half-unpacked one is left)."""
    before = cache_entries()

    def remove_new():
        for name in cache_entries() - before:
            shutil.rmtree(os.path.join(IMAGES, name), ignore_errors=True)
    cleanup.add(remove_new)
    return before


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("image")
    app = tar_layer([("srv/app/hello", f"hello from {d}\n".encode()), whiteout("etc/group"),
                     ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")])
    make_layout(str(d / "layout"), [busybox_layer(str(d)), app], config=CONFIG, ref="v1")
    return str(d / "layout")


def test_the_image_config_is_the_default_command(layout, image_cache):
    res = nsbox_run("--rootfs", layout)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "cmd:from-image:/srv/app:0:0"
    assert lines[1] == f"hello from {os.path.dirname(layout)}"
    assert lines[2] == "no-group"          # the upper layer's whiteout removed the busybox layer's file
    assert len(cache_entries() - image_cache) == 1


def test_flags_override_the_image(layout, image_cache):
    # the command replaces Cmd (the Entrypoint stays), -e wins over Env, -w over WorkingDir, -u over User
    res = nsbox_run("-e", "GREETING=flag", "-w", "/", "-u", "app", "--rootfs", layout + ":v1",
                    'echo "$GREETING $(pwd) $(id -u):$(id -g) $HOME"; grep CapEff /proc/self/status')
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "flag / 1000:1000 /home/app"
    assert lines[1].split() == ["CapEff:", "0000000000000000"]   # a non-root user has no effective capabilities


def test_an_oci_archive_runs_the_same_image(layout, tmp_path, image_cache):
    archive = make_archive(layout, str(tmp_path / "image.tar"))
    res = nsbox_run("-u", "65534:65534", "--rootfs", archive, "--", "id -u; id -g")   # the Entrypoint is sh -c
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["65534", "65534"]


def test_an_image_without_a_command_needs_one(tmp_path, image_cache):
    d = str(tmp_path / "bare")
    make_layout(d, [busybox_layer(str(tmp_path))])
    state_before = set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()
    res = nsbox_run("--rootfs", d)
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "has no Entrypoint or Cmd" in res.stderr
    assert (set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()) <= state_before
    res = nsbox_run("--rootfs", d, "--", "/bin/echo", "given")
    assert (res.returncode, res.stdout) == (0, "given\n"), res.stderr


@pytest.mark.parametrize("args, message", [
    (["--rootfs", "/nonexistent/image:v1", "true"], "no such directory, tarball or OCI image"),
    (["-u", "nosuchuser", "--rootfs", "LAYOUT", "true"], "user 'nosuchuser': not in the container's /etc/passwd"),
    (["-u", "app:nosuchgroup", "--rootfs", "LAYOUT", "true"], "group 'nosuchgroup': not in the container's /etc/group"),
    (["--rootfs", "LAYOUT:v2", "true"], "no image named 'v2'"),
])
def test_bad_input_is_one_line(layout, image_cache, args, message):
    args = [a.replace("LAYOUT", layout) for a in args]
    res = nsbox_run(*args)
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_hostile_image_cannot_write_on_the_host(tmp_path, image_cache):
    victim = tmp_path / "victim"
    victim.mkdir()
    d = str(tmp_path / "hostile")
    make_layout(d, [busybox_layer(str(tmp_path)), tar_layer([symlink("host", str(victim))]),
                    tar_layer([("host/pwned", b"x\n")])], config={"Cmd": ["/bin/sh", "-c", "echo ran"]})
    res = nsbox_run("--rootfs", d)
    assert (res.returncode, res.stdout) == (0, "ran\n"), res.stderr
    assert os.listdir(victim) == []    # the write landed in the image's own rootfs
    (new,) = cache_entries() - image_cache
    assert os.path.exists(os.path.join(IMAGES, new, "rootfs", str(victim).lstrip("/"), "pwned"))


def test_a_hostile_rootfs_tarball_cannot_write_on_the_host(tmp_path, cleanup):
    from tests.fixtures.oci_images import tar_bytes
    victim = tmp_path / "victim"
    victim.mkdir()
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(tar_bytes([symlink("etc", str(victim)), ("etc/pwned", b"x\n")]))
    rootfs_cache = os.path.join(cache_root(), "rootfs")
    before = set(os.listdir(rootfs_cache)) if os.path.isdir(rootfs_cache) else set()
    cleanup.add(lambda: [shutil.rmtree(os.path.join(rootfs_cache, n), ignore_errors=True)
                         for n in set(os.listdir(rootfs_cache)) - before])
    res = nsbox_run("--rootfs", str(tarball), "--", "/nonexistent")   # unpacking happens before the run
    assert res.returncode != 0
    assert os.listdir(victim) == []


def test_images_lists_removes_and_prunes_what_run_unpacked(layout, tmp_path, cleanup):
    env = {**os.environ, "NSBOX_CACHE": str(tmp_path / "cache"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}

    def nsbox(*args):
        return subprocess.run([NSBOX, *args], capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL)
    cleanup.add(nsbox, "rm", "-f", "img-user")
    tarball = tmp_path / "rootfs.tar"
    from tests.fixtures.oci_images import tar_bytes
    tarball.write_bytes(tar_bytes([("etc/x", b"1")]))
    assert nsbox("run", "--rootfs", str(tarball), "--", "/nonexistent").returncode != 0   # unpacked all the same
    res = nsbox("run", "-d", "--name", "img-user", "--rootfs", layout, "--", "sleep 600")
    assert res.returncode == 0, res.stderr
    listed = json.loads(nsbox("images", "--json").stdout)
    assert sorted(e["kind"] for e in listed) == ["image", "tarball"]
    image = next(e for e in listed if e["kind"] == "image")
    assert image["containers"] == ["img-user"] and image["command"] == CONFIG["Entrypoint"] + CONFIG["Cmd"]
    assert image["id"].startswith("sha256:") and os.path.isdir(image["rootfs"])
    table = nsbox("images").stdout.splitlines()
    assert table[0].split() == ["ID", "KIND", "UNPACKED", "CONTAINERS", "COMMAND"] and len(table) == 3
    prefix = image["id"].split(":")[1][:10]
    res = nsbox("images", "rm", prefix)
    assert res.returncode == 1 and res.stderr == f"nsbox images: {image['id']} is used by container img-user: remove it first, or use -f\n"
    assert nsbox("images", "prune").stdout.split() == [next(e["id"] for e in listed if e["kind"] == "tarball")]
    assert nsbox("images", "-q").stdout.split() == [image["id"]]
    assert nsbox("rm", "-f", "img-user").returncode == 0
    assert nsbox("images", "rm", prefix).stdout.split() == [image["id"]]
    assert nsbox("images", "-q").stdout == "" and not os.path.exists(image["rootfs"])
    res = nsbox("images", "rm", "0000")
    assert res.returncode == 1 and res.stderr == "nsbox images: no cached image or rootfs '0000'\n"
