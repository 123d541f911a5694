"""Each config.json field, checked from inside the container with the probe (python rootfs)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.fixtures.probe_bundle import probe_bundle, run_probe
from tests.fixtures.runtimes import Runtime


@pytest.fixture
def rt(tmp_path, cleanup):
    return Runtime("nsbox-runc", str(tmp_path / "state"))


def probe(rt, tmp_path, cid, cleanup, keys, edit=None, extra=(), world_readable=False):
    base = str(tmp_path)
    if world_readable:  # ids mapped into a user namespace must be able to reach the rootfs
        import shutil
        import tempfile
        base = tempfile.mkdtemp(prefix="nsbox-test-", dir="/var/tmp")
        os.chmod(base, 0o755)
        cleanup.add(shutil.rmtree, base, ignore_errors=True)
    bundle = probe_bundle(os.path.join(base, "bundle"), keys, edit)
    cleanup.add(rt.force_delete, cid)
    return run_probe(rt, bundle, cid, *extra)


def caps_mask(*numbers):
    return f"{sum(1 << n for n in numbers):016x}"


def test_user_ids_groups_umask(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["process"]["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [3456, 4567], "umask": 0o027}
    seen = probe(rt, tmp_path, unique_id, cleanup, ["uid", "gid", "groups", "umask"], edit)
    assert seen["uid"] == [1234] * 3 and seen["gid"] == [2345] * 3
    assert sorted(seen["groups"]) == [3456, 4567]
    assert seen["umask"] == 0o027


def test_capabilities_and_no_new_privs(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["process"]["capabilities"] = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
                                        "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
                                        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
        c["process"]["noNewPrivileges"] = True
    seen = probe(rt, tmp_path, unique_id, cleanup, ["caps", "no_new_privs"], edit)
    # CAP_CHOWN=0, CAP_KILL=5, CAP_NET_RAW=13; execve of a non-root-owned... root keeps permitted
    assert seen["caps"]["CapBnd"] == caps_mask(0, 5, 13)
    assert seen["caps"]["CapAmb"] == caps_mask(5)
    assert seen["caps"]["CapInh"] == caps_mask(5)
    assert seen["no_new_privs"] == "1"


def test_rlimits_and_oom_score_adj(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                                   {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
        c["process"]["oomScoreAdj"] = 123
    seen = probe(rt, tmp_path, unique_id, cleanup, ["rlimits", "oom_score_adj"], edit)
    assert seen["rlimits"]["RLIMIT_NOFILE"] == [321, 654]
    assert seen["rlimits"]["RLIMIT_CORE"] == [0, 0]
    assert seen["oom_score_adj"] == "123"


def test_hostname_domainname_env_cwd(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["hostname"] = "probe-host"
        c["domainname"] = "probe.example"
        c["process"]["env"] = ["PATH=/usr/bin:/bin", "ANSWER=42"]
        c["process"]["cwd"] = "/work/dir"
    seen = probe(rt, tmp_path, unique_id, cleanup, ["hostname", "domainname", "env", "cwd"], edit)
    assert seen["hostname"] == "probe-host" and seen["domainname"] == "probe.example"
    assert seen["env"]["ANSWER"] == "42" and seen["cwd"] == "/work/dir"


def test_mounts_options(rt, tmp_path, unique_id, cleanup):
    src = tmp_path / "data"
    src.mkdir()
    (src / "hello").write_text("hi")

    def edit(c):
        c["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro", "nosuid", "noexec"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=700"]},
        ]
    seen = probe(rt, tmp_path, unique_id, cleanup, ["mountinfo"], edit)
    rows = {line.split()[4]: line for line in seen["mountinfo"].splitlines()}
    data_opts = rows["/data"].split()[5].split(",")
    assert {"ro", "nosuid", "noexec"} <= set(data_opts)
    scratch = rows["/scratch"]
    assert "nodev" in scratch.split()[5].split(",") and "size=1024k" in scratch and "mode=700" in scratch
    assert rows["/proc"].split(" - ")[1].startswith("proc ")


def test_readonly_root_masked_and_readonly_paths(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["root"]["readonly"] = True
        c["process"]["args"] = ["/bin/sh", "-c",
                                "touch /x 2>&1 | grep -c Read-only; cat /proc/timer_list | wc -c; "
                                "(echo 1 > /proc/sys/kernel/domainname) 2>&1 | grep -c Read-only; ls /sys/firmware | wc -l"]
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["1", "0", "1", "0"]


def test_sysctl_and_new_netns(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        c["process"]["args"] = ["/bin/cat", "/proc/sys/net/ipv4/ip_forward"]
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert (res.returncode, res.stdout.strip()) == (0, "1"), res.stderr


def test_join_namespace_by_path(rt, tmp_path, unique_id, cleanup):
    holder = subprocess.Popen(["unshare", "--uts", "sh", "-c", "hostname joined-uts; exec sleep 60"])
    cleanup.kill(holder.pid)
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.stat(f"/proc/{holder.pid}/ns/uts").st_ino != os.stat("/proc/self/ns/uts").st_ino and \
                open(f"/proc/{holder.pid}/comm").read().strip() == "sleep":
            break
        time.sleep(0.02)
    target = os.stat(f"/proc/{holder.pid}/ns/uts").st_ino

    def edit(c):
        c.pop("hostname", None)
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "uts"] + \
            [{"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"}]
    seen = probe(rt, tmp_path, unique_id, cleanup, ["ns", "hostname"], edit)
    assert seen["ns"]["uts"] == target and seen["hostname"] == "joined-uts"


def test_user_namespace_with_mappings(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        c["linux"].pop("resources", None)
        c["mounts"] = [m for m in c["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        for m in c["mounts"]:
            if m["destination"] == "/dev/pts":
                m["options"] = [o for o in m["options"] if o != "gid=5"]
    seen = probe(rt, tmp_path, unique_id, cleanup, ["uid", "uid_map", "gid_map", "ns"], edit, world_readable=True)
    assert seen["uid"] == [0, 0, 0]
    assert seen["uid_map"].split() == ["0", "200000", "65536"]
    assert seen["gid_map"].split() == ["0", "200000", "65536"]
    assert seen["ns"]["user"] != os.stat("/proc/self/ns/user").st_ino


def test_devices(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620,
                                  "uid": 7, "gid": 8}]
        c["linux"].setdefault("resources", {})["devices"] = [{"allow": False, "access": "rwm"},
                                                             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
        c["process"]["args"] = ["/usr/bin/stat", "-c", "%F %t:%T %a %u:%g", "/dev/mynull", "/dev/zero", "/dev/fd"]
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "character special file 1:3 620 7:8"
    assert lines[1] == "character special file 1:5 666 0:0"
    assert lines[2].startswith("symbolic link")


def test_time_namespace_offsets(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400 * 365, "nanosecs": 0}}
    seen = probe(rt, tmp_path, unique_id, cleanup, ["timens_offsets"], edit)
    assert seen["timens_offsets"].split()[:3] == ["monotonic", str(86400 * 365), "0"]


def test_hooks_receive_state(rt, tmp_path, unique_id, cleanup):
    out = tmp_path / "hooks"
    out.mkdir()

    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{name}.json"]}

    def edit(c):
        c["hooks"] = {kind: [hook(kind)] for kind in ("prestart", "createRuntime", "poststart", "poststop")}
        c["hooks"]["createContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/createContainer.json"]}]
        c["process"]["args"] = ["/bin/true"]
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    import json
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        doc = json.loads((out / f"{kind}.json").read_text())
        assert doc["id"] == unique_id and doc["bundle"] == bundle, kind
    assert json.loads((out / "poststop.json").read_text())["status"] == "stopped"


def test_failing_hook_fails_create_and_cleans_up(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("create", "--bundle", bundle, unique_id)
    assert res.returncode == 1 and "createRuntime hook" in res.stderr
    assert not os.path.exists(os.path.join(rt.root, unique_id))


def test_seccomp_installed_last(rt, tmp_path, unique_id, cleanup):
    def edit(c):
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                               "errnoRet": 1}]}
        c["process"]["args"] = ["/bin/sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/x 2>&1 | grep -c 'not permitted'"]
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    bundle = probe_bundle(str(tmp_path / "bundle"), (), edit)
    cleanup.add(rt.force_delete, unique_id)
    res = rt.run("run", "--bundle", bundle, unique_id)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["Seccomp:", "2", "1"]
