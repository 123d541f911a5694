"""nsbox.oci.mountopts: runc's mount option table."""

from __future__ import annotations

import json

import pytest

from nsbox.linux import consts as c
from nsbox.oci import MountOptions, parse_mount_options
from nsbox.oci import mountopts as mo


def test_default_spec_dev_tmpfs():
    opts = parse_mount_options(["nosuid", "strictatime", "mode=755", "size=65536k"])
    assert opts.flags == c.MS_NOSUID | c.MS_STRICTATIME
    assert opts.data == "mode=755,size=65536k"
    assert opts.unknown == ("mode=755", "size=65536k")
    assert not opts.bind and not opts.readonly and opts.propagation == ()


def test_rbind_ro_bind_mount():
    opts = parse_mount_options(["rbind", "nosuid", "noexec", "nodev", "ro"])
    assert opts.flags == c.MS_BIND | c.MS_REC | c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RDONLY
    assert opts.bind and opts.recursive and opts.readonly and opts.data == ""


def test_later_option_wins_and_clears_are_recorded():
    opts = parse_mount_options(["ro", "nosuid", "rw", "suid", "dev"])
    assert opts.flags == 0
    assert opts.clear_flags == c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV
    opts = parse_mount_options(["rw", "ro"])
    assert opts.flags == c.MS_RDONLY and opts.clear_flags == 0


def test_bind_only_is_not_recursive():
    opts = parse_mount_options(["bind"])
    assert opts.bind and not opts.recursive


@pytest.mark.parametrize("option,flag", [
    ("acl", c.MS_POSIXACL), ("dirsync", c.MS_DIRSYNC), ("iversion", 1 << 23), ("lazytime", c.MS_LAZYTIME),
    ("mand", c.MS_MANDLOCK), ("noatime", c.MS_NOATIME), ("nodiratime", c.MS_NODIRATIME),
    ("nosymfollow", c.MS_NOSYMFOLLOW), ("relatime", c.MS_RELATIME), ("remount", c.MS_REMOUNT),
    ("silent", c.MS_SILENT), ("sync", c.MS_SYNCHRONOUS),
])
def test_each_setting_flag(option, flag):
    assert parse_mount_options([option]).flags == flag
    undo = {"acl": "noacl", "iversion": "noiversion", "lazytime": "nolazytime", "mand": "nomand",
            "noatime": "atime", "nodiratime": "diratime", "nosymfollow": "symfollow", "relatime": "norelatime",
            "silent": "loud", "sync": "async"}.get(option)
    if undo:
        opts = parse_mount_options([option, undo])
        assert opts.flags == 0 and opts.clear_flags == flag


def test_propagation_in_order():
    opts = parse_mount_options(["rprivate", "shared", "rslave", "unbindable", "runbindable", "private",
                                "slave", "rshared"])
    assert opts.propagation == (c.MS_PRIVATE | c.MS_REC, c.MS_SHARED, c.MS_SLAVE | c.MS_REC, c.MS_UNBINDABLE,
                                c.MS_UNBINDABLE | c.MS_REC, c.MS_PRIVATE, c.MS_SLAVE, c.MS_SHARED | c.MS_REC)
    assert opts.flags == 0


def test_recursive_attributes():
    opts = parse_mount_options(["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"])
    assert opts.attr_set == (c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID | c.MOUNT_ATTR_NODEV
                             | c.MOUNT_ATTR_NOEXEC | mo.MOUNT_ATTR_NOSYMFOLLOW)
    assert opts.attr_clr == 0
    opts = parse_mount_options(["rro", "rrw", "rsuid"])
    assert opts.attr_set == 0 and opts.attr_clr == c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID


def test_access_time_attributes_also_clear_the_atime_field():
    # mount_setattr(2): setting an access-time mode requires MOUNT_ATTR__ATIME in attr_clr
    opts = parse_mount_options(["rnoatime"])
    assert opts.attr_set == mo.MOUNT_ATTR_NOATIME and opts.attr_clr == mo.MOUNT_ATTR__ATIME
    opts = parse_mount_options(["rstrictatime"])
    assert opts.attr_set == mo.MOUNT_ATTR_STRICTATIME and opts.attr_clr == mo.MOUNT_ATTR__ATIME
    opts = parse_mount_options(["rrelatime"])
    assert opts.attr_set == 0 and opts.attr_clr == mo.MOUNT_ATTR__ATIME
    # nodiratime is not an access-time mode
    assert parse_mount_options(["rnodiratime"]).attr_clr == 0


def test_extensions_and_idmap():
    opts = parse_mount_options(["tmpcopyup", "idmap"])
    assert opts.tmpcopyup and opts.idmap and not opts.recursive_idmap and opts.data == ""
    assert parse_mount_options(["ridmap"]).recursive_idmap


def test_defaults_is_a_noop_and_unknowns_are_data():
    opts = parse_mount_options(["defaults", "uid=0", "ptmxmode=0666", "newinstance"])
    assert opts.flags == 0 and opts.data == "uid=0,ptmxmode=0666,newinstance"


def test_empty_and_none():
    assert parse_mount_options([]) == MountOptions() == parse_mount_options(None)


def test_json_round_trip():
    opts = parse_mount_options(["rbind", "rprivate", "rro", "mode=1777", "tmpcopyup"])
    assert MountOptions.from_dict(json.loads(json.dumps(opts.as_dict()))) == opts


def test_is_bind_mount():
    assert mo.is_bind_mount({"type": "bind", "destination": "/x"})
    assert mo.is_bind_mount({"type": "none", "options": ["rbind"]})
    assert not mo.is_bind_mount({"type": "tmpfs", "options": ["nosuid"]})
