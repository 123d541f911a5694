"""Reading OCI image layouts and unpacking them into the cache (nsbox.image.layout, .store):
manifest choice, digest checks, and bad images refused with one line, leaving nothing in the cache."""

from __future__ import annotations

import json
import os

import pytest

from nsbox.errors import ImageError
from nsbox.image import store
from nsbox.image.layout import open_image
from tests.fixtures.oci_images import make_archive, make_layout, opaque, tar_layer, whiteout


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setattr(store, "cache_root", lambda: str(root))
    return root


def two_layers():
    return [tar_layer([("etc/os-release", b"ID=test\n"), ("etc/gone", b"x"), ("var/x/old", b"o")]),
            tar_layer([whiteout("etc/gone"), opaque("var/x"), ("var/x/new", b"n"), ("bin/app", b"#!/bin/sh\n", 0o755)],
                      compress=False)]


def leftovers(cache_dir) -> list[str]:
    return [n for _, dirs, _ in os.walk(cache_dir) for n in dirs if n.startswith(".unpack-")]


def test_a_layout_unpacks_once_with_its_config(tmp_path, cache):
    layout = str(tmp_path / "layout")
    desc = make_layout(layout, two_layers(), config={"Cmd": ["/bin/app"], "Env": ["A=1"], "WorkingDir": "/var"})
    rootfs, config = store.unpacked_image(layout)
    assert config == {"Cmd": ["/bin/app"], "Env": ["A=1"], "WorkingDir": "/var"}
    assert rootfs == os.path.join(str(cache), "images", desc["digest"].replace(":", "-"), "rootfs")
    assert sorted(os.listdir(os.path.join(rootfs, "etc"))) == ["os-release"]
    assert sorted(os.listdir(os.path.join(rootfs, "var", "x"))) == ["new"]
    assert os.access(os.path.join(rootfs, "bin", "app"), os.X_OK)
    marker = os.path.join(rootfs, "marker")
    open(marker, "w").close()
    assert store.unpacked_image(layout)[0] == rootfs and os.path.exists(marker)   # reused, not unpacked again


def test_an_oci_archive_is_the_same_image(tmp_path, cache):
    layout = str(tmp_path / "layout")
    make_layout(layout, two_layers(), config={"Cmd": ["/bin/app"]})
    from_dir = store.unpacked_image(layout)[0]
    archive = make_archive(layout, str(tmp_path / "image.tar"))
    assert store.unpacked_image(archive)[0] == from_dir   # the same manifest digest: one cache entry


def test_several_images_need_a_ref(tmp_path, cache):
    layout = str(tmp_path / "layout")
    make_layout(layout, [tar_layer([("one", b"1")])], ref="one")
    make_layout(layout, [tar_layer([("two", b"2")])], ref="two", append=True)
    with pytest.raises(ImageError, match="2 images in the layout; name one as PATH:REF .names: one, two"):
        open_image(layout)
    assert os.listdir(store.unpacked_image(layout + ":two")[0]) == ["two"]
    with pytest.raises(ImageError, match="no image named 'three' .names: one, two"):
        open_image(layout + ":three")


def test_a_blob_that_does_not_match_its_digest_is_refused_and_nothing_is_cached(tmp_path, cache):
    layout = str(tmp_path / "layout")
    make_layout(layout, two_layers())
    manifest = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
    layers = json.load(open(os.path.join(layout, "blobs", "sha256", manifest["digest"].split(":")[1])))["layers"]
    blob = os.path.join(layout, "blobs", "sha256", layers[1]["digest"].split(":")[1])
    with open(blob, "r+b") as f:   # same size, one byte changed, still a valid tar
        data = bytearray(f.read())
        data[data.index(b"#!/bin/sh")] = ord("X")
        f.seek(0)
        f.write(data)
    with pytest.raises(ImageError, match=f"blob {layers[1]['digest']}: content does not match its digest"):
        store.unpacked_image(layout)
    assert leftovers(cache) == [] and not os.path.exists(os.path.join(str(cache), "images", manifest["digest"].replace(":", "-")))


@pytest.mark.parametrize("damage, message", [
    (lambda d: os.unlink(os.path.join(d, "index.json")), "cannot read index.json"),
    (lambda d: open(os.path.join(d, "index.json"), "w").write("{nope"), "index.json is not valid JSON"),
    (lambda d: open(os.path.join(d, "index.json"), "w").write('{"manifests": 3}'), "index.json has no manifests list"),
    (lambda d: open(os.path.join(d, "oci-layout"), "w").write("{}"), "oci-layout has no imageLayoutVersion"),
    (lambda d: [os.unlink(os.path.join(d, "blobs", "sha256", n)) for n in os.listdir(os.path.join(d, "blobs", "sha256"))],
     "cannot read blobs/sha256/"),
])
def test_broken_layouts_are_one_clear_line(tmp_path, cache, damage, message):
    layout = str(tmp_path / "layout")
    make_layout(layout, two_layers())
    damage(layout)
    with pytest.raises(ImageError, match=message) as info:
        store.unpacked_image(layout)
    assert "\n" not in str(info.value) and str(info.value).startswith(layout)
    assert leftovers(cache) == []


def test_unsupported_layer_types_and_platforms_are_named(tmp_path, cache):
    layout = str(tmp_path / "layout")
    make_layout(layout, [(b"not really zstd", "application/vnd.oci.image.layer.v1.tar+zstd")])
    with pytest.raises(ImageError, match=r"tar\+zstd'?, which nsbox cannot unpack"):
        open_image(layout)
    other = str(tmp_path / "other")
    make_layout(other, [tar_layer([("x", b"1")])])
    index = json.load(open(os.path.join(other, "index.json")))
    index["manifests"][0]["platform"] = {"os": "linux", "architecture": "mips64"}
    json.dump(index, open(os.path.join(other, "index.json"), "w"))
    with pytest.raises(ImageError, match="no image for linux/"):
        open_image(other)


def test_blob_digests_cannot_name_a_path(tmp_path, cache):
    layout = str(tmp_path / "layout")
    make_layout(layout, [tar_layer([("x", b"1")])])
    index = json.load(open(os.path.join(layout, "index.json")))
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    json.dump(index, open(os.path.join(layout, "index.json"), "w"))
    with pytest.raises(ImageError, match="bad digest"):
        open_image(layout)


def test_a_hostile_layer_cannot_write_outside_the_cache(tmp_path, cache):
    from tests.fixtures.oci_images import symlink
    target = tmp_path / "victim"
    target.mkdir()
    layout = str(tmp_path / "layout")
    make_layout(layout, [tar_layer([symlink("etc", str(target))]), tar_layer([("etc/pwned", b"x")])])
    rootfs, _ = store.unpacked_image(layout)
    assert os.listdir(target) == []
    assert os.path.exists(os.path.join(rootfs, str(target).lstrip("/"), "pwned"))


def test_a_tarball_unpacks_once_and_a_failure_leaves_nothing(tmp_path, cache):
    good = tmp_path / "rootfs.tar"
    good.write_bytes(__import__("tests.fixtures.oci_images", fromlist=["tar_bytes"]).tar_bytes([("etc/x", b"1")]))
    first = store.unpacked_tarball(str(good))
    assert store.unpacked_tarball(str(good)) == first and os.listdir(first) == ["etc"]
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ImageError):
        store.unpacked_tarball(str(bad))
    assert leftovers(cache) == [] and os.listdir(os.path.join(str(cache), "rootfs")) == [os.path.basename(first)]


def test_refs_may_hold_colons_and_slashes(tmp_path, cache):
    layout = str(tmp_path / "lay:out")   # a colon in the path too
    make_layout(layout, [tar_layer([("one", b"1")])], ref="localhost/app:1")
    make_layout(layout, [tar_layer([("two", b"2")])], ref="localhost/app:2", append=True)
    assert os.listdir(store.unpacked_image(layout + ":localhost/app:2")[0]) == ["two"]
    with pytest.raises(ImageError, match="no such|no image named 'app:3'"):
        open_image(layout + ":app:3")
