"""OCI mount options ("ro", "nosuid", "rbind", "rprivate", "size=64m", ...) to mount(2) flags and data.

Pure data: no syscalls. (The oci package may offer the same; this is the runtime's own small table.)
"""

from __future__ import annotations

from ..linux import consts as c

# option -> (set?, flag): set=False means the option clears the flag.
FLAGS = {
    "ro": (True, c.MS_RDONLY), "rw": (False, c.MS_RDONLY),
    "nosuid": (True, c.MS_NOSUID), "suid": (False, c.MS_NOSUID),
    "nodev": (True, c.MS_NODEV), "dev": (False, c.MS_NODEV),
    "noexec": (True, c.MS_NOEXEC), "exec": (False, c.MS_NOEXEC),
    "sync": (True, c.MS_SYNCHRONOUS), "async": (False, c.MS_SYNCHRONOUS),
    "dirsync": (True, c.MS_DIRSYNC), "remount": (True, c.MS_REMOUNT),
    "mand": (True, c.MS_MANDLOCK), "nomand": (False, c.MS_MANDLOCK),
    "atime": (False, c.MS_NOATIME), "noatime": (True, c.MS_NOATIME),
    "diratime": (False, c.MS_NODIRATIME), "nodiratime": (True, c.MS_NODIRATIME),
    "relatime": (True, c.MS_RELATIME), "norelatime": (False, c.MS_RELATIME),
    "strictatime": (True, c.MS_STRICTATIME), "nostrictatime": (False, c.MS_STRICTATIME),
    "nosymfollow": (True, c.MS_NOSYMFOLLOW), "symfollow": (False, c.MS_NOSYMFOLLOW),
    "lazytime": (True, c.MS_LAZYTIME), "nolazytime": (False, c.MS_LAZYTIME),
}

PROPAGATION = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}

# recursive mount_setattr(2) attributes ("rro", "rnosuid", ...)
RECURSIVE_ATTRS = {
    "rro": (True, c.MOUNT_ATTR_RDONLY), "rrw": (False, c.MOUNT_ATTR_RDONLY),
    "rnosuid": (True, c.MOUNT_ATTR_NOSUID), "rsuid": (False, c.MOUNT_ATTR_NOSUID),
    "rnodev": (True, c.MOUNT_ATTR_NODEV), "rdev": (False, c.MOUNT_ATTR_NODEV),
    "rnoexec": (True, c.MOUNT_ATTR_NOEXEC), "rexec": (False, c.MOUNT_ATTR_NOEXEC),
}

# options that are neither flags nor data for the kernel
IGNORED = {"defaults", "auto", "noauto", "user", "nouser", "_netdev", "tmpcopyup", "notmpcopyup",
           "idmap", "ridmap", "copy-symlink", "nofail"}


class MountOptions:
    """flags to set and clear, propagation changes, bind/rbind, recursive attrs, and fs data."""

    __slots__ = ("flags", "clear", "propagation", "bind", "recursive_bind", "attr_set", "attr_clr", "data")

    def __init__(self):
        self.flags = self.clear = self.attr_set = self.attr_clr = 0
        self.propagation: list[int] = []
        self.bind = self.recursive_bind = False
        self.data: list[str] = []


def parse_mount_options(options) -> MountOptions:
    out = MountOptions()
    for opt in options or ():
        if opt in ("bind", "rbind"):
            out.bind = True
            out.recursive_bind = out.recursive_bind or opt == "rbind"
        elif opt in FLAGS:
            is_set, flag = FLAGS[opt]
            if is_set:
                out.flags |= flag
                out.clear &= ~flag
            else:
                out.flags &= ~flag
                out.clear |= flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE_ATTRS:
            is_set, attr = RECURSIVE_ATTRS[opt]
            if is_set:
                out.attr_set |= attr
            else:
                out.attr_clr |= attr
        elif opt in IGNORED:
            continue
        else:
            out.data.append(opt)
    return out
