"""Device rules enforced by the kernel: the v1 devices controller and, on cgroup2, the eBPF program
nsbox assembles (BPF_PROG_TYPE_CGROUP_DEVICE). Observed from a process inside the cgroup."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nsbox.cgroups import detect
from nsbox.cgroups.detect import CgroupLayout
from nsbox.cgroups.manager import for_container
from tests.conftest import require
from tests.fixtures.cgroup_helpers import created_manager

PROBE = r'''
import json, os, sys
sys.stdin.readline()
out = {}
for path, mode in (("/dev/null", "r"), ("/dev/null", "w"), ("/dev/null", "rw"), ("/dev/zero", "r"),
                   ("/dev/zero", "w"), ("/dev/full", "r"), ("/dev/full", "rw"), ("/dev/urandom", "r")):
    flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
    try:
        os.close(os.open(path, flags))
        out[f"{path}:{mode}"] = "ok"
    except OSError as e:
        out[f"{path}:{mode}"] = e.strerror
print(json.dumps(out))
'''

DENIED = "Operation not permitted"
CASES = {
    "deny-by-default": (
        [{"allow": False, "access": "rwm"},
         {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},     # /dev/zero read-only
         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},   # /dev/null ...
         {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},    # ... minus write
         {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "r"},     # /dev/full r + w = rw
         {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "w"}],
        {"/dev/null:r": "ok", "/dev/null:w": DENIED, "/dev/null:rw": DENIED, "/dev/zero:r": "ok",
         "/dev/zero:w": DENIED, "/dev/full:r": "ok", "/dev/full:rw": "ok", "/dev/urandom:r": DENIED}),
    "allow-by-default": (
        [{"allow": True, "access": "rwm"},
         {"allow": False, "type": "c", "major": 1, "minor": 9, "access": "r"},    # no reading urandom
         {"allow": False, "type": "c", "major": None, "minor": None, "access": "w"},  # no char writes
         # an allow in allow-mode only removes an exception with the same key (the kernel's rule), so
         # it does not punch a hole in the wildcard deny above: /dev/null stays unwritable
         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "w"}],
        {"/dev/null:r": "ok", "/dev/null:w": DENIED, "/dev/null:rw": DENIED, "/dev/zero:r": "ok",
         "/dev/zero:w": DENIED, "/dev/full:r": "ok", "/dev/full:rw": DENIED, "/dev/urandom:r": DENIED}),
}


def run_probe(m, cleanup) -> dict:
    p = subprocess.Popen([sys.executable, "-S", "-c", PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    cleanup.add(lambda: (p.poll() is None and p.kill(), p.communicate(timeout=10)))
    m.add(p.pid)
    out, _ = p.communicate("go\n", timeout=30)
    return json.loads(out)


def host_allows_devices() -> bool:
    try:
        for path in ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"):
            os.close(os.open(path, os.O_RDONLY))
        return True
    except OSError:
        return False


def make(cleanup, linux, cid, **kw):
    return created_manager(cleanup, linux, cid, default_devices=False, **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_v1_devices_controller(cleanup, unique_id, case):
    require("devices" in detect.detect().v1, "the v1 devices controller")
    require(host_allows_devices(), "open(2) of /dev/{null,zero,full,urandom} on this host")
    rules, expected = CASES[case]
    m = make(cleanup, {"resources": {"devices": rules}}, unique_id)
    assert run_probe(m, cleanup) == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_v2_ebpf_device_filter_matches_v1(cleanup, unique_id, case):
    real = detect.detect()
    require(real.unified is not None, "a cgroup2 mount")
    require(host_allows_devices(), "open(2) of /dev/{null,zero,full,urandom} on this host")
    layout = CgroupLayout("v2", {}, real.unified, real.unified_root, real.v2_controllers)
    rules, expected = CASES[case]
    m = make(cleanup, {"resources": {"devices": rules}}, unique_id, layout=layout, own={"": "/"})
    assert run_probe(m, cleanup) == expected


def test_v2_default_rules_allow_the_standard_devices(cleanup, unique_id):
    real = detect.detect()
    require(real.unified is not None, "a cgroup2 mount")
    require(host_allows_devices(), "open(2) of /dev/{null,zero,full,urandom} on this host")
    layout = CgroupLayout("v2", {}, real.unified, real.unified_root, real.v2_controllers)
    m = for_container({"resources": {"devices": [{"allow": False, "access": "rwm"}]}}, unique_id,
                      layout=layout, own={"": "/"})            # runc's defaults appended
    m.create()
    cleanup.add(m.destroy)
    got = run_probe(m, cleanup)
    assert set(got.values()) == {"ok"}, got
