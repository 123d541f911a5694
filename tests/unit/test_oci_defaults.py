"""nsbox.oci.defaults: `runc spec` without runc (the byte-for-byte comparison is in tests/conformance)."""

from __future__ import annotations

import os

from nsbox.oci import default_spec


def test_root_spec_shape():
    spec = default_spec()
    assert spec["ociVersion"] == "1.0.2-dev"
    assert spec["process"]["args"] == ["sh"] and spec["process"]["terminal"] is True
    assert [n["type"] for n in spec["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]
    assert spec["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "uidMappings" not in spec["linux"]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "sysfs"
    devpts = next(m for m in spec["mounts"] if m["destination"] == "/dev/pts")
    assert "gid=5" in devpts["options"]


def test_rootless_spec_maps_the_caller():
    spec = default_spec(rootless=True)
    linux = spec["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "user"]
    assert "resources" not in linux
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert sys_mount == {"destination": "/sys", "type": "none", "source": "/sys",
                         "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    devpts = next(m for m in spec["mounts"] if m["destination"] == "/dev/pts")
    assert not any(o.startswith("gid=") for o in devpts["options"])


def test_args_replace_sh():
    assert default_spec(args=["/bin/echo", "hi"])["process"]["args"] == ["/bin/echo", "hi"]
    assert default_spec(args=[])["process"]["args"] == ["sh"]


def test_each_call_returns_a_fresh_document():
    first = default_spec()
    first["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    first["linux"]["maskedPaths"].clear()
    first["mounts"][1]["options"].append("ro")
    second = default_spec()
    assert "CAP_SYS_ADMIN" not in second["process"]["capabilities"]["bounding"]
    assert second["linux"]["maskedPaths"] and "ro" not in second["mounts"][1]["options"]
