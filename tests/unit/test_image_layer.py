"""Unpacking tar layers (nsbox.image.layer): the escapes a hostile tarball or image layer tries, and
OCI whiteouts. Each escape test also checks where the member did land: inside the new root."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from nsbox.errors import ImageError
from nsbox.image.layer import LayerWriter, unpack_tar
from tests.fixtures.oci_images import dir_entry, file_entry, hardlink, opaque, symlink, tar_bytes, whiteout


def unpack(root, *layers, whiteouts=False):
    os.makedirs(root, exist_ok=True)
    with LayerWriter(str(root), "test.tar") as writer:
        for entries in layers:
            with tarfile.open(fileobj=io.BytesIO(tar_bytes(entries)), mode="r|") as tar:
                writer.extract(tar, whiteouts=whiteouts)


@pytest.fixture
def outside(tmp_path):
    """A host directory a hostile archive aims at."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "keep").write_text("host file\n")
    return d


def test_absolute_symlink_then_a_member_through_it_stays_inside(tmp_path, outside):
    root = tmp_path / "root"
    unpack(root, [symlink("a", str(outside)), ("a/pwned", b"x\n"), ("a/keep", b"overwritten\n")])
    assert sorted(os.listdir(outside)) == ["keep"] and (outside / "keep").read_text() == "host file\n"
    inside = root / str(outside).lstrip("/")
    assert (inside / "pwned").read_text() == "x\n" and (inside / "keep").read_text() == "overwritten\n"


def test_relative_symlink_climbing_out_stays_inside(tmp_path, outside):
    root = tmp_path / "root"
    climb = "../" * 20 + str(outside).lstrip("/")
    unpack(root, [dir_entry("d"), symlink("d/up", climb), ("d/up/pwned", b"x\n")])
    assert sorted(os.listdir(outside)) == ["keep"]
    assert (root / str(outside).lstrip("/") / "pwned").read_text() == "x\n"


def test_a_later_layer_writing_through_an_earlier_symlink_stays_inside(tmp_path, outside):
    root = tmp_path / "root"
    unpack(root, [symlink("etc", str(outside))], [("etc/pwned", b"x\n")], whiteouts=True)
    assert sorted(os.listdir(outside)) == ["keep"]
    assert (root / str(outside).lstrip("/") / "pwned").exists()


def test_a_file_replaces_a_symlink_instead_of_writing_through_it(tmp_path, outside):
    root = tmp_path / "root"
    unpack(root, [symlink("f", str(outside / "keep")), ("f", b"replaced\n")])
    assert (outside / "keep").read_text() == "host file\n"
    assert not os.path.islink(root / "f") and (root / "f").read_text() == "replaced\n"


def test_dotdot_members_are_refused(tmp_path, outside):
    for name in ("../escape", "a/../../escape", "./../escape"):
        with pytest.raises(ImageError, match="unsafe member"):
            unpack(tmp_path / "root", [(name, b"x\n")])
    assert not (tmp_path / "escape").exists() and sorted(os.listdir(outside)) == ["keep"]


def test_absolute_member_names_are_relative_to_the_root(tmp_path):
    root = tmp_path / "root"
    unpack(root, [("/etc/abs", b"x\n")])
    assert (root / "etc" / "abs").read_text() == "x\n"


def test_hard_link_targets_resolve_inside_the_root(tmp_path, outside):
    root = tmp_path / "root"
    host_file = outside / "keep"
    links_before = os.stat(host_file).st_nlink
    # an absolute target, and one through a symlink to the host directory: neither is the host file
    with pytest.raises(ImageError, match="stolen"):
        unpack(root, [hardlink("stolen", str(host_file))])
    with pytest.raises(ImageError, match="stolen2"):
        unpack(root, [symlink("h", str(outside)), hardlink("stolen2", "h/keep")])
    assert os.stat(host_file).st_nlink == links_before
    # a target that exists inside the root is linked
    unpack(tmp_path / "r2", [("etc/passwd", b"root:x:0:0::/:/bin/sh\n"), hardlink("pw", "/etc/passwd")])
    assert os.stat(tmp_path / "r2" / "pw").st_ino == os.stat(tmp_path / "r2" / "etc" / "passwd").st_ino


def test_hard_link_to_a_symlink_links_the_symlink_itself(tmp_path, outside):
    root = tmp_path / "root"
    unpack(root, [symlink("s", str(outside / "keep")), hardlink("s2", "s")])
    assert os.readlink(root / "s2") == str(outside / "keep")
    assert os.stat(outside / "keep").st_nlink == 1


def test_whiteouts_remove_what_lower_layers_made(tmp_path):
    root = tmp_path / "root"
    lower = [("etc/a", b"a"), ("etc/b", b"b"), ("var/lib/x/1", b"1"), ("var/lib/x/2", b"2"), ("keep", b"k")]
    upper = [whiteout("etc/a"), opaque("var/lib/x"), ("var/lib/x/3", b"3"), whiteout("nothing-here")]
    unpack(root, lower, upper, whiteouts=True)
    assert sorted(os.listdir(root / "etc")) == ["b"]
    assert sorted(os.listdir(root / "var" / "lib" / "x")) == ["3"]
    assert (root / "keep").read_text() == "k"
    assert not any(n.startswith(".wh.") for _, _, files in os.walk(root) for n in files)


def test_without_whiteouts_wh_files_are_plain_files(tmp_path):
    root = tmp_path / "root"
    unpack(root, [("etc/a", b"a"), whiteout("etc/a")])
    assert sorted(os.listdir(root / "etc")) == [".wh.a", "a"]


def test_a_whiteout_cannot_name_its_parent(tmp_path):
    with pytest.raises(ImageError, match="whiteout"):
        unpack(tmp_path / "root", [("x/y", b"1")], [file_entry("x/.wh..", b"")], whiteouts=True)


def test_modes_times_and_read_only_directories(tmp_path):
    root = tmp_path / "root"
    unpack(root, [dir_entry("ro", 0o555), ("ro/f", b"1", 0o4755), ("ro/g", b"2", 0o400)],
           [("ro/h", b"3")], whiteouts=True)   # a later layer still writes into the read-only directory
    assert sorted(os.listdir(root / "ro")) == ["f", "g", "h"]
    assert stat.S_IMODE(os.stat(root / "ro" / "f").st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(root / "ro" / "g").st_mode) == 0o400
    want_dir = 0o555 if os.geteuid() == 0 else 0o755   # rootless: the owner keeps rwx (see layer.py)
    assert stat.S_IMODE(os.stat(root / "ro").st_mode) == want_dir
    assert os.stat(root / "ro" / "f").st_mtime == 1_700_000_000


def test_owners_are_restored_as_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("restoring owners needs root (rootless: files belong to the caller)")
    root = tmp_path / "root"
    unpack(root, [file_entry("o", b"1", 0o644, uid=1234, gid=5678)])
    st = os.stat(root / "o")
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_a_file_over_a_directory_and_a_directory_over_a_file(tmp_path):
    root = tmp_path / "root"
    unpack(root, [("d/inner", b"1"), ("f", b"2")], [("d", b"now a file"), dir_entry("f")], whiteouts=True)
    assert (root / "d").read_bytes() == b"now a file" and (root / "f").is_dir()


def test_a_corrupt_archive_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(tar_bytes([("a", b"x" * 5000)])[:3000])
    (tmp_path / "root").mkdir()
    with pytest.raises(ImageError, match="bad.tar: not a valid tar archive"):
        unpack_tar(str(bad), str(tmp_path / "root"))
    gz = tmp_path / "bad.tar.gz"
    import gzip
    gz.write_bytes(gzip.compress(tar_bytes([("a", os.urandom(50000))]))[:20000])
    with pytest.raises(ImageError, match="bad.tar.gz: not a valid tar archive"):
        unpack_tar(str(gz), str(tmp_path / "root"))
