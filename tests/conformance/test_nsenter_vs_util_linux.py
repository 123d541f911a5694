"""`nsbox nsenter` against util-linux `nsenter` on the same targets: what the program sees inside
(namespace inodes, hostname, pid view, ids, groups, cwd, root) and exit codes must agree."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import require_tool
from tests.fixtures.nsenter_targets import PROBE, PYTHON, ns_inodes, probe, run, start_target

IMPLS = ("util-linux", "nsbox")
NS_KEYS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


@pytest.fixture
def container(cleanup, unique_id):
    """A root-owned target: new pid, mount, ipc, uts, net, cgroup and time namespaces (boottime
    offset 100000 s), cwd /tmp."""
    require_tool("unshare")
    require_tool("nsenter")
    pid = start_target(cleanup, ["-fpmiunCT", "--boottime", "100000", "--mount-proc"], hostname=unique_id,
                       cwd="/tmp")
    return pid, unique_id


@pytest.fixture
def userns_container(cleanup, unique_id):
    """A target in a new user namespace (root mapped to root) owning all its other namespaces."""
    require_tool("unshare")
    require_tool("nsenter")
    pid = start_target(cleanup, ["-U", "--map-root-user", "-fpmiunC", "--mount-proc"], hostname=unique_id)
    return pid, unique_id


def both(args, keys):
    out = {impl: probe(impl, args, list(keys)) for impl in IMPLS}
    return out["util-linux"], out["nsbox"]


def test_all_joins_every_namespace_of_the_target(container):
    pid, hostname = container
    ref, ours = both(["-t", str(pid), "-a"], ["ns", "hostname", "pid", "pids", "uid", "gid", "cwd",
                                              "timens_offsets"])
    target = ns_inodes(pid)
    assert target["time"] != ns_inodes(os.getpid())["time"]
    assert ours["timens_offsets"] == ref["timens_offsets"] and "boottime       100000" in ours["timens_offsets"]
    for key in NS_KEYS:
        assert ours["ns"][key] == target[key] == ref["ns"][key], key
    assert ours["ns"]["pid_for_children"] == target["pid"]
    assert ours["hostname"] == ref["hostname"] == hostname
    # forked into the target's pid namespace: a small pid there, and the target is pid 1
    assert 1 in ours["pids"] and ours["pid"] in ours["pids"] and ours["pid"] < 1000
    assert 1 in ref["pids"]
    assert ours["uid"] == ref["uid"] == [0, 0, 0] and ours["gid"] == ref["gid"]
    assert ours["cwd"] == ref["cwd"] == "/"  # joining a mount namespace resets cwd to its root


def test_root_and_wd_of_the_target(container):
    pid, _ = container
    ref, ours = both(["-t", str(pid), "-a", "-r", "-w"], ["cwd", "mountinfo"])
    assert ours["cwd"] == ref["cwd"] == "/tmp"

    def mounts(info):  # other tests on this machine mount and unmount under /tmp meanwhile
        return [line.split()[4] for line in info.splitlines() if not line.split()[4].startswith("/tmp/")]
    assert mounts(ours["mountinfo"]) == mounts(ref["mountinfo"])
    assert "/proc" in mounts(ours["mountinfo"])


def test_explicit_root_and_wd_directories(container, tmp_path):
    pid, _ = container
    (tmp_path / "sub").mkdir()
    ref, ours = both(["-t", str(pid), "-u", f"--wd={tmp_path}/sub"], ["cwd", "hostname"])
    assert ours == ref and ours["cwd"] == f"{tmp_path}/sub"
    ref, ours = both(["-t", str(pid), "-u", "-r/", "-W/var"], ["cwd"])
    assert ours == ref == {"cwd": "/var"}


def test_selected_namespaces_only(container):
    pid, hostname = container
    ref, ours = both(["-t", str(pid), "-u", "-n"], ["ns", "hostname"])
    target, host = ns_inodes(pid), ns_inodes(os.getpid())
    assert ours["ns"]["uts"] == target["uts"] and ours["ns"]["net"] == target["net"]
    assert ours["ns"]["mnt"] == host["mnt"] and ours["ns"]["pid"] == host["pid"]
    assert ours == ref and ours["hostname"] == hostname
    links = {impl: run(impl, ["-t", str(pid), "-n", "ip", "-o", "link"]) for impl in IMPLS}
    assert links["nsbox"].stdout == links["util-linux"].stdout
    assert [line.split(":")[1].strip() for line in links["nsbox"].stdout.splitlines()] == ["lo"]


def test_no_fork_leaves_the_program_outside_the_pid_namespace(container):
    pid, _ = container
    ref, ours = both(["-t", str(pid), "-p", "-F"], ["ns", "pid"])
    target = ns_inodes(pid)
    assert ours["ns"]["pid"] == ref["ns"]["pid"] == ns_inodes(os.getpid())["pid"]
    assert ours["ns"]["pid_for_children"] == ref["ns"]["pid_for_children"] == target["pid"]


def test_setuid_setgid_drop_supplementary_groups(container):
    pid, _ = container
    ref, ours = both(["-t", str(pid), "-n", "-S", "1234", "-G", "4321"], ["uid", "gid", "groups"])
    assert ours == ref == {"uid": [1234] * 3, "gid": [4321] * 3, "groups": []}


def test_user_namespace_target_gets_root_by_default(userns_container):
    pid, hostname = userns_container
    ref, ours = both(["-t", str(pid), "-a"], ["ns", "uid", "gid", "groups", "uid_map", "hostname"])
    target = ns_inodes(pid)
    for key in NS_KEYS:
        assert ours["ns"][key] == target[key] == ref["ns"][key], key
    assert ours["uid"] == ref["uid"] == [0, 0, 0]
    assert ours["groups"] == ref["groups"] == []
    assert ours["uid_map"] == ref["uid_map"] and ours["hostname"] == hostname


def test_preserve_credentials_and_setuid_in_user_namespace(userns_container):
    pid, _ = userns_container
    for args in (["--preserve-credentials"], ["-S", "0", "-G", "0"], ["-S", "5"]):
        full = ["-t", str(pid), "-U", "-n", *args]
        refs = {impl: run(impl, full + [PYTHON, PROBE, "uid", "gid"]) for impl in IMPLS}
        assert refs["nsbox"].returncode == refs["util-linux"].returncode, args
        assert refs["nsbox"].stdout == refs["util-linux"].stdout, args
    # -S 5: uid 5 is unmapped in a root-only map: both fail the setuid
    assert refs["nsbox"].returncode == 1 and "setuid" in refs["nsbox"].stderr


def test_persistent_namespace_file(cleanup, tmp_path):
    require_tool("unshare")
    ns_file = tmp_path / "netns"
    ns_file.touch()
    res = subprocess.run(["unshare", f"--net={ns_file}", "true"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    cleanup.umount(str(ns_file))
    inode = os.stat(ns_file).st_ino
    ref, ours = both([f"--net={ns_file}"], ["ns"])
    assert ours["ns"]["net"] == ref["ns"]["net"] == inode != ns_inodes(os.getpid())["net"]
    links = run("nsbox", [f"--net={ns_file}", "ip", "-o", "link"])
    assert [line.split(":")[1].strip() for line in links.stdout.splitlines()] == ["lo"]
    # -n with a target after --net=FILE: the target's namespace wins, in both
    ref, ours = both([f"-n{ns_file}", "-t", str(os.getpid()), "-n"], ["ns"])
    assert ours["ns"]["net"] == ref["ns"]["net"] == ns_inodes(os.getpid())["net"]


@pytest.mark.parametrize("script,code", [("exit 7", 7), ("kill -TERM $$", -15), ("exit 0", 0)])
@pytest.mark.parametrize("fork_flags", [[], ["-F"]])
def test_exit_status_is_the_programs(container, script, code, fork_flags):
    """A signal death is relayed as one: nsenter (the forking parent too) dies of the same signal."""
    pid, _ = container
    for impl in IMPLS:
        res = run(impl, ["-t", str(pid), "-p", *fork_flags, "sh", "-c", script])
        assert res.returncode == code, (impl, res)


@pytest.mark.parametrize("args", [
    ["--bogus"], ["-t", "abc", "-n", "true"], ["-n", "true"], ["-a", "true"],
    ["-t", "999999999", "-n", "true"], ["--net=/nonexistent", "true"], ["-t", "SELF", "-u", "/nonexistent"],
    ["-t", "SELF", "-u", "/"], ["-t", "SELF", "-U", "true"], ["-w", "-W", "/", "-t", "SELF", "true"],
    ["-t", "SELF", "-S", "x", "true"],
])
def test_bad_input_exit_codes_match(args):
    require_tool("nsenter")
    args = [str(os.getpid()) if a == "SELF" else a for a in args]
    ref, ours = run("util-linux", args), run("nsbox", args)
    assert ours.returncode == ref.returncode != 0, (args, ref.stderr, ours.stderr)
    lines = ours.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsbox nsenter: ") and "Traceback" not in ours.stderr


def test_pid_file_of_target_persists_after_unshare(cleanup, tmp_path, unique_id):
    """-p=FILE and -m=FILE joined from bind-mounted namespace files (a persistent pid ns needs a
    live member: the target keeps it alive)."""
    pid = start_target(cleanup, ["-fpmu", "--mount-proc"], hostname=unique_id)
    uts_file = tmp_path / "uts"
    uts_file.touch()
    subprocess.run(["mount", "--bind", f"/proc/{pid}/ns/uts", str(uts_file)], check=True, timeout=30)
    cleanup.umount(str(uts_file))
    ref, ours = both([f"--uts={uts_file}", f"--pid=/proc/{pid}/ns/pid"], ["hostname", "ns"])
    assert ours["hostname"] == ref["hostname"] == unique_id
    assert ours["ns"]["pid"] == ref["ns"]["pid"] == ns_inodes(pid)["pid"]


def test_program_gets_the_same_fds(container):
    """Nothing of ours (namespace fds, root/cwd fds, sockets) reaches the program."""
    pid, _ = container
    ref, ours = both(["-t", str(pid), "-a", "-r", "-w"], ["fds"])
    assert sorted(ours["fds"]) == sorted(ref["fds"])
    for fd, target in ours["fds"].items():
        if int(fd) > 2:
            assert not target.startswith(("mnt:", "net:", "pid:", "uts:", "ipc:", "socket:")), (fd, target)


@pytest.mark.parametrize("args", [["-u"], ["-p", "-F"]])
def test_without_fork_the_program_replaces_nsenter(container, args):
    pid, _ = container
    from tests.fixtures.nsenter_targets import IMPLEMENTATIONS
    for impl, cmd in IMPLEMENTATIONS.items():
        proc = subprocess.Popen(cmd + ["-t", str(pid), *args, "sh", "-c", "echo $$"], stdout=subprocess.PIPE,
                                text=True)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and int(out) == proc.pid, impl
