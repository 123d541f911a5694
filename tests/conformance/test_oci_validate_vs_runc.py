"""validate_config's verdicts next to runc's on the same bundles.

Every config runc refuses, nsbox refuses before doing anything (at the JSON path of the fault).
Where nsbox is deliberately stricter than runc 1.1.5 (which warns, ignores or fails late), the test
says so: those are listed in STRICTER with the reason.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess

import pytest

from nsbox.oci import default_spec
from nsbox.oci.validate import config_problems
from tests.conftest import require_tool


def without_ns(kind):
    return lambda d: d["linux"].update(namespaces=[n for n in d["linux"]["namespaces"] if n["type"] != kind])


def both(*fns):
    def apply(d):
        for fn in fns:
            fn(d)
    return apply


MAPS = {"uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 0, "size": 1}]}

# name: (change, JSON path nsbox reports)
BOTH_REFUSE = {
    "hostname-without-uts": (without_ns("uts"), "$.hostname"),
    "net-sysctl-in-host-netns": (both(without_ns("network"), lambda d: d["linux"].update(
        sysctl={"net.ipv4.ip_forward": "1"})), '$.linux.sysctl["net.ipv4.ip_forward"]'),
    "non-namespaced-sysctl": (lambda d: d["linux"].update(sysctl={"vm.swappiness": "1"}),
                              '$.linux.sysctl["vm.swappiness"]'),
    "kernel.hostname-sysctl": (lambda d: d["linux"].update(sysctl={"kernel.hostname": "x"}),
                               '$.linux.sysctl["kernel.hostname"]'),
    "ipc-sysctl-in-host-ipc": (both(without_ns("ipc"), lambda d: d["linux"].update(sysctl={"kernel.shmmax": "1"})),
                               '$.linux.sysctl["kernel.shmmax"]'),
    "userns-without-mappings": (lambda d: d["linux"]["namespaces"].append({"type": "user"}), "$.linux.uidMappings"),
    "unknown-rlimit": (lambda d: d["process"]["rlimits"].append({"type": "RLIMIT_FOO", "soft": 1, "hard": 1}),
                       "$.process.rlimits[1].type"),
    "relative-cwd": (lambda d: d["process"].update(cwd="tmp"), "$.process.cwd"),
    "empty-args": (lambda d: d["process"].update(args=[]), "$.process.args"),
    "no-process": (lambda d: d.pop("process"), "$.process"),
    "duplicate-namespace": (lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
                            "$.linux.namespaces[5].type"),
    "unknown-namespace": (lambda d: d["linux"]["namespaces"].append({"type": "foo"}), "$.linux.namespaces[5].type"),
    "relative-hook-path": (lambda d: d.setdefault("hooks", {}).update(prestart=[{"path": "true"}]),
                           "$.hooks.prestart[0].path"),
    "hook-timeout-0": (lambda d: d.setdefault("hooks", {}).update(prestart=[{"path": "/bin/true", "timeout": 0}]),
                       "$.hooks.prestart[0].timeout"),
    "env-without-equals": (lambda d: d["process"]["env"].append("FOO"), "$.process.env[2]"),
    "masked-paths-without-mntns": (without_ns("mount"), "$.linux.maskedPaths"),
    "unmapped-uid": (both(lambda d: d["linux"]["namespaces"].append({"type": "user"}),
                          lambda d: d["linux"].update(copy.deepcopy(MAPS)),
                          lambda d: d["process"]["user"].update(uid=5)), "$.process.user.uid"),
    "soft-above-hard": (lambda d: d["process"]["rlimits"][0].update(soft=2048), "$.process.rlimits[0].soft"),
    "relative-namespace-path": (lambda d: d["linux"]["namespaces"][1].update(path="proc/1/ns/net"),
                                "$.linux.namespaces[1].path"),
    "notify-as-default-action": (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_NOTIFY",
                                                                      "listenerPath": "/x"}),
                                 "$.linux.seccomp.defaultAction"),
    "unknown-seccomp-action": (lambda d: d["linux"].update(seccomp={"defaultAction": "SCMP_ACT_NOPE"}),
                               "$.linux.seccomp.defaultAction"),
}

# name: (change, JSON path, why nsbox refuses what runc 1.1.5 runs)
STRICTER = {
    "mappings-without-userns": (lambda d: d["linux"].update(copy.deepcopy(MAPS)), "$.linux.uidMappings",
                                "runc 1.1 silently ignores the mappings; later runc refuses them"),
    "relative-mount-destination": (lambda d: d["mounts"].append({"destination": "mnt", "type": "tmpfs",
                                                                 "source": "tmpfs"}),
                                   "$.mounts[7].destination", "runc 1.1 only warns; the brief requires absolute"),
    "oci-version-2": (lambda d: d.update(ociVersion="2.0.0"), "$.ociVersion",
                      "runc does not look at ociVersion"),
    "unknown-capability": (lambda d: d["process"]["capabilities"]["bounding"].append("CAP_FLY"),
                           "$.process.capabilities.bounding[3]", "runc warns and ignores unknown capabilities"),
    "time-offsets-without-timens": (lambda d: d["linux"].update(timeOffsets={"monotonic": {"secs": 1}}),
                                    "$.linux.timeOffsets", "runc 1.1 has no time namespace and ignores them"),
}

BOTH_ACCEPT = {
    "default": lambda d: None,
    "rslave-rootfs-propagation": lambda d: d["linux"].update(rootfsPropagation="rslave"),
    "kernel.domainname-sysctl": lambda d: d["linux"].update(sysctl={"kernel.domainname": "x"}),
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("missing capability: busybox is not installed")
    path = tmp_path_factory.mktemp("bundle")
    os.makedirs(path / "rootfs" / "bin")
    shutil.copy(busybox, path / "rootfs" / "bin" / "busybox")
    for name in ("sh", "true"):
        os.symlink("busybox", path / "rootfs" / "bin" / name)
    return path


def config_with(change) -> dict:
    doc = default_spec(args=["true"])
    doc["process"]["terminal"] = False
    change(doc)
    return doc


def runc_run(bundle, doc, cleanup, unique_id) -> subprocess.CompletedProcess:
    runc = require_tool("runc")
    with open(bundle / "config.json", "w") as f:
        json.dump(doc, f)
    root = str(bundle.parent / f"state-{unique_id}")
    cleanup.add(lambda: subprocess.run([runc, "--root", root, "delete", "-f", unique_id], capture_output=True,
                                       timeout=30))
    cleanup.add(lambda: shutil.rmtree(root, ignore_errors=True))
    return subprocess.run([runc, "--root", root, "run", "--bundle", str(bundle), unique_id],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(BOTH_REFUSE))
def test_runc_and_nsbox_refuse(bundle, cleanup, unique_id, name):
    change, path = BOTH_REFUSE[name]
    doc = config_with(change)
    res = runc_run(bundle, doc, cleanup, unique_id)
    assert res.returncode != 0, f"runc accepted {name}"
    assert path in [p for p, _ in config_problems(doc, bundle=str(bundle))]


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_nsbox_is_stricter_than_runc(bundle, cleanup, unique_id, name):
    change, path, _why = STRICTER[name]
    doc = config_with(change)
    res = runc_run(bundle, doc, cleanup, unique_id)
    assert res.returncode == 0, f"runc 1.1.5 refuses {name} now: {res.stderr.strip()} (move it to BOTH_REFUSE)"
    assert path in [p for p, _ in config_problems(doc, bundle=str(bundle))]


@pytest.mark.parametrize("name", sorted(BOTH_ACCEPT))
def test_runc_and_nsbox_accept(bundle, cleanup, unique_id, name):
    doc = config_with(BOTH_ACCEPT[name])
    res = runc_run(bundle, doc, cleanup, unique_id)
    assert res.returncode == 0, res.stderr
    assert config_problems(doc, bundle=str(bundle)) == []
