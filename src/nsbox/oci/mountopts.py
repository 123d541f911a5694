"""OCI mount option strings -> mount(2) flags, propagation, mount_setattr attributes and data.

The table is runc's (libcontainer/specconv: mountFlags, mountPropagationMapping, recAttrFlags,
extensionFlags) and is applied in order, so a later "rw" undoes an earlier "ro".  Anything not in
the table is filesystem data ("mode=755", "size=64k", "uid=0") joined with commas, as runc does.
Differences from runc 1.1: "defaults" is a no-op instead of being passed on as data; "idmap" and
"ridmap" (runc 1.2) are understood.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..linux import consts

__all__ = ["MountOptions", "parse_mount_options", "is_bind_mount", "MOUNT_FLAGS", "PROPAGATION_FLAGS",
           "RECURSIVE_ATTRS", "EXTENSIONS", "IDMAP_OPTIONS", "known_options"]

# Not (yet) in nsbox.linux.consts; values from linux/fs.h and linux/mount.h.
MS_I_VERSION = 1 << 23
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_NOSUID = 0x00000002
MOUNT_ATTR_NODEV = 0x00000004
MOUNT_ATTR_NOEXEC = 0x00000008
MOUNT_ATTR__ATIME = 0x00000070
MOUNT_ATTR_RELATIME = 0x00000000
MOUNT_ATTR_NOATIME = 0x00000010
MOUNT_ATTR_STRICTATIME = 0x00000020
MOUNT_ATTR_NODIRATIME = 0x00000080
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000

# option -> (clear?, MS_* flag)
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, consts.MS_POSIXACL),
    "async": (True, consts.MS_SYNCHRONOUS),
    "atime": (True, consts.MS_NOATIME),
    "bind": (False, consts.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, consts.MS_NODEV),
    "diratime": (True, consts.MS_NODIRATIME),
    "dirsync": (False, consts.MS_DIRSYNC),
    "exec": (True, consts.MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, consts.MS_LAZYTIME),
    "loud": (True, consts.MS_SILENT),
    "mand": (False, consts.MS_MANDLOCK),
    "noacl": (True, consts.MS_POSIXACL),
    "noatime": (False, consts.MS_NOATIME),
    "nodev": (False, consts.MS_NODEV),
    "nodiratime": (False, consts.MS_NODIRATIME),
    "noexec": (False, consts.MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, consts.MS_LAZYTIME),
    "nomand": (True, consts.MS_MANDLOCK),
    "norelatime": (True, consts.MS_RELATIME),
    "nostrictatime": (True, consts.MS_STRICTATIME),
    "nosuid": (False, consts.MS_NOSUID),
    "nosymfollow": (False, consts.MS_NOSYMFOLLOW),
    "rbind": (False, consts.MS_BIND | consts.MS_REC),
    "relatime": (False, consts.MS_RELATIME),
    "remount": (False, consts.MS_REMOUNT),
    "ro": (False, consts.MS_RDONLY),
    "rw": (True, consts.MS_RDONLY),
    "silent": (False, consts.MS_SILENT),
    "strictatime": (False, consts.MS_STRICTATIME),
    "suid": (True, consts.MS_NOSUID),
    "sync": (False, consts.MS_SYNCHRONOUS),
    "symfollow": (True, consts.MS_NOSYMFOLLOW),
}

PROPAGATION_FLAGS: dict[str, int] = {
    "rprivate": consts.MS_PRIVATE | consts.MS_REC,
    "private": consts.MS_PRIVATE,
    "rslave": consts.MS_SLAVE | consts.MS_REC,
    "slave": consts.MS_SLAVE,
    "rshared": consts.MS_SHARED | consts.MS_REC,
    "shared": consts.MS_SHARED,
    "runbindable": consts.MS_UNBINDABLE | consts.MS_REC,
    "unbindable": consts.MS_UNBINDABLE,
}

# option -> (clear?, MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE))
RECURSIVE_ATTRS: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, MOUNT_ATTR_RELATIME),
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

EXTENSIONS = ("tmpcopyup",)
IDMAP_OPTIONS = ("idmap", "ridmap")


@dataclass(frozen=True)
class MountOptions:
    """What a mount's options mean.  JSON-serialisable via as_dict() (plans cross to the child)."""

    flags: int = 0                     # MS_* to pass to mount(2)
    clear_flags: int = 0               # MS_* the options explicitly turned off (rw, suid, dev, exec...)
    propagation: tuple[int, ...] = ()  # MS_PRIVATE|MS_REC, ... applied in order after mounting
    attr_set: int = 0                  # MOUNT_ATTR_* to set recursively (rro, rnosuid, ...)
    attr_clr: int = 0                  # MOUNT_ATTR_* to clear recursively (rrw, rsuid, ...)
    data: str = ""                     # filesystem-specific options, comma-joined
    tmpcopyup: bool = False            # copy the directory's contents into a new tmpfs
    idmap: bool = False                # idmapped mount (mount's uid/gidMappings)
    recursive_idmap: bool = False      # "ridmap": idmap every submount of an rbind too
    unknown: tuple[str, ...] = field(default=())  # the options that became data

    @property
    def bind(self) -> bool:
        return bool(self.flags & consts.MS_BIND)

    @property
    def recursive(self) -> bool:
        """rbind (MS_BIND|MS_REC)."""
        return bool(self.flags & consts.MS_BIND) and bool(self.flags & consts.MS_REC)

    @property
    def readonly(self) -> bool:
        return bool(self.flags & consts.MS_RDONLY)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["propagation"] = list(self.propagation)
        d["unknown"] = list(self.unknown)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MountOptions":
        return cls(**{**d, "propagation": tuple(d.get("propagation", ())), "unknown": tuple(d.get("unknown", ()))})


def parse_mount_options(options: list[str] | None) -> MountOptions:
    """['nosuid', 'mode=755', 'rprivate', 'rro'] -> MountOptions, as runc's parseMountOptions."""
    flags = clear = attr_set = attr_clr = 0
    propagation: list[int] = []
    data: list[str] = []
    tmpcopyup = idmap = recursive_idmap = False
    for option in options or ():
        if option in MOUNT_FLAGS:
            is_clear, flag = MOUNT_FLAGS[option]
            if is_clear:
                flags &= ~flag
                clear |= flag
            else:
                flags |= flag
                clear &= ~flag
        elif option in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[option])
        elif option in RECURSIVE_ATTRS:
            is_clear, attr = RECURSIVE_ATTRS[option]
            if is_clear:
                attr_clr |= attr
                attr_set &= ~attr
            else:
                attr_set |= attr
                attr_clr &= ~attr
                if attr & MOUNT_ATTR__ATIME == attr:
                    # mount_setattr(2): an access-time mode in attr_set needs MOUNT_ATTR__ATIME in attr_clr
                    attr_clr |= MOUNT_ATTR__ATIME
        elif option == "tmpcopyup":
            tmpcopyup = True
        elif option in IDMAP_OPTIONS:
            idmap = True
            recursive_idmap = recursive_idmap or option == "ridmap"
        else:
            data.append(option)
    return MountOptions(flags=flags, clear_flags=clear, propagation=tuple(propagation), attr_set=attr_set,
                        attr_clr=attr_clr, data=",".join(data), tmpcopyup=tmpcopyup, idmap=idmap,
                        recursive_idmap=recursive_idmap, unknown=tuple(data))


def is_bind_mount(mount: dict) -> bool:
    """A bind mount: type "bind" (mount(8)'s convention) or a bind/rbind option."""
    options = mount.get("options") or ()
    return mount.get("type") == "bind" or "bind" in options or "rbind" in options


def known_options(include_idmap: bool = False) -> list[str]:
    """Every option the table understands, sorted (runc features' mountOptions)."""
    names = set(MOUNT_FLAGS) | set(PROPAGATION_FLAGS) | set(RECURSIVE_ATTRS) | set(EXTENSIONS)
    if include_idmap:
        names |= set(IDMAP_OPTIONS)
    return sorted(names)
