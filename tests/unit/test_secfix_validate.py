"""linux.devices[].fileMode with file-type bits (podman sends S_IFCHR|0600) is accepted, as by runc."""

import stat

import pytest

from nsbox.errors import SpecError
from nsbox.oci.validate import validate_config
from nsbox.rootfs.plan import plan_rootfs_ops


def _config(tmp_path, mode):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return {"ociVersion": "1.0.2", "root": {"path": str(tmp_path / "rootfs")},
            "process": {"args": ["/bin/sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}],
                      "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                                   "fileMode": mode}]}}


def test_device_file_mode_with_type_bits_is_accepted_and_masked(tmp_path):
    mode = stat.S_IFCHR | 0o600
    assert mode == 8576
    config = _config(tmp_path, mode)
    validate_config(config, bundle=str(tmp_path), rootless=False)
    ops = [op for op in plan_rootfs_ops(config, str(tmp_path)) if op["op"] == "device"]
    assert [op["mode"] for op in ops if op["path"] == "/dev/fuse"] == [0o600]


def test_device_file_mode_must_still_be_a_uint32(tmp_path):
    with pytest.raises(SpecError) as err:
        validate_config(_config(tmp_path, -1), bundle=str(tmp_path), rootless=False)
    assert ("$.linux.devices[0].fileMode", "-1 is out of range for uint32 file mode (0..4294967295)") \
        in err.value.problems
