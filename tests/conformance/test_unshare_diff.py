"""Differential: nsbox unshare vs util-linux unshare (2.38) on this machine, observed by the probe."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.unshare_tools import (PROBE, PYTHON, host_ns, ns_pattern, probe, propagation_of,
                                          run, tools)

TOOLS = tools()


@pytest.fixture(autouse=True)
def _util_linux():
    require_tool("unshare")


def both(flags, keys, **kw):
    return {name: probe(tool, flags, keys, **kw) for name, tool in TOOLS.items()}


@pytest.mark.parametrize("flags", [["-m"], ["-u"], ["-i"], ["-n"], ["-C"], ["-T"], ["-U"], ["-p"], ["-fp"],
                                   ["-fpmiun"], ["-UfpmiunCT"]])
def test_namespace_inodes_differ_exactly_where_util_linux_does(flags):
    seen = both(flags, ["ns"])
    assert ns_pattern(seen["nsbox"]["ns"]) == ns_pattern(seen["util-linux"]["ns"])
    pattern = ns_pattern(seen["nsbox"]["ns"])
    letters = "".join(flags).lstrip("-")
    assert pattern["net"] == ("n" in letters) and pattern["uts"] == ("u" in letters)
    assert pattern["pid_for_children"] == ("p" in letters)
    assert pattern["pid"] == ("p" in letters and "f" in letters)  # -p without -f: only children


@pytest.mark.parametrize("flags", [["-r"], ["-c"], ["-U", "--map-user=5"], ["-U", "--map-group=7"],
                                   ["-U", "--setgroups", "deny"], ["-U"], ["-U", "--setgroups", "allow"]])
def test_id_maps_and_setgroups_match(flags):
    keys = ["uid_map", "gid_map", "setgroups", "uid", "gid"]
    seen = both(flags, keys)
    assert seen["nsbox"] == seen["util-linux"]


def test_map_users_range_as_root_is_written():
    # util-linux always runs newuidmap for ranges (root has no /etc/subuid entry here, so it fails);
    # nsbox writes the map directly when the caller holds CAP_SETUID. Check the kernel's view.
    seen = probe(TOOLS["nsbox"], ["-U", "--map-users=100000,0,65536", "--map-groups=0:100000:65536",
                                  "--map-user=0", "--map-group=0"], ["uid_map", "gid_map", "setgroups"])
    assert seen["uid_map"].split() == ["0", "0", "1", "1", "100000", "65535"]
    assert seen["gid_map"].split() == ["0", "0", "1", "1", "100000", "65535"]
    assert seen["setgroups"] == "allow"


def test_hostname_isolated():
    before = os.uname().nodename
    for tool in TOOLS.values():
        res = run(tool + ["-u", "sh", "-c", f"hostname inner-x && {PYTHON} {PROBE} hostname"])
        assert res.returncode == 0, res.stderr
        assert '"inner-x"' in res.stdout
    assert os.uname().nodename == before


def test_mount_proc_shows_only_the_new_pid_namespace():
    seen = both(["-fp", "--mount-proc"], ["pids", "pid", "ppid"])
    assert seen["nsbox"] == seen["util-linux"] == {"pids": [1], "pid": 1, "ppid": 0}


@pytest.mark.parametrize("mode", ["private", "shared", "slave", "unchanged"])
def test_propagation_in_mountinfo(mode):
    seen = both(["-m", "--propagation", mode], ["mountinfo"])
    ours, theirs = (dict(propagation_of(seen[k]["mountinfo"])) for k in ("nsbox", "util-linux"))
    common = set(ours) & set(theirs)  # other tests may add or remove mounts between the two runs
    assert len(common) > 3 and "/" in common
    assert {m: ours[m] for m in common} == {m: theirs[m] for m in common}
    root = ours["/"]
    if mode == "private":
        assert root == ""
    elif mode == "shared":
        assert root.startswith("shared:")
    elif mode == "slave":
        assert "shared:" not in root  # a slave of the host's peer group (master:N) if "/" was shared


def test_time_offsets_written_before_first_child():
    flags = ["-T", "--monotonic", "100", "--boottime", "-200"]
    seen = both(flags, ["timens_offsets", "ns"])
    assert seen["nsbox"]["timens_offsets"] == seen["util-linux"]["timens_offsets"]
    assert seen["nsbox"]["timens_offsets"].split() == ["monotonic", "100", "0", "boottime", "-200", "0"]
    assert ns_pattern(seen["nsbox"]["ns"])["time"] == ns_pattern(seen["util-linux"]["ns"])["time"]


@pytest.fixture
def private_dir(tmp_path, cleanup):
    """A tmpfs with private propagation: the only kind of place a mount namespace may be bound."""
    d = tmp_path / "ns"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d)], check=True, timeout=10)
    cleanup.umount(str(d))
    subprocess.run(["mount", "--make-private", str(d)], check=True, timeout=10)
    return d


@pytest.mark.parametrize("tool_name", list(TOOLS))
def test_persistent_namespaces_outlive_the_program(tool_name, private_dir, cleanup):
    require_tool("nsenter")
    files = {t: str(private_dir / f"{tool_name}-{t}") for t in ("net", "uts", "mount", "ipc", "pid", "time")}
    for path in files.values():
        open(path, "w").close()  # util-linux binds onto an existing file only
        cleanup.umount(path)
    flags = [f"--{t}={p}" for t, p in files.items()] + ["-f"]
    res = run(TOOLS[tool_name] + flags + ["sh", "-c", f"hostname persisted; {PYTHON} {PROBE} ns"])
    assert res.returncode == 0, res.stderr
    import json
    inside = json.loads(res.stdout)["ns"]
    for t, path in files.items():
        key = {"mount": "mnt"}.get(t, t)
        assert os.stat(path).st_ino == inside[key], t  # the bind mount is the namespace
    # nobody is left in it, yet nsenter can join it
    joined = run(["nsenter", f"--net={files['net']}", f"--uts={files['uts']}", PYTHON, PROBE, "ns", "hostname"])
    assert joined.returncode == 0, joined.stderr
    out = json.loads(joined.stdout)
    assert out["ns"]["net"] == inside["net"] and out["hostname"] == "persisted"
    assert host_ns()["net"] != inside["net"]


def test_root_and_workdir(tmp_path, cleanup):
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True)
    (root / "work").mkdir()
    (root / "marker-file").write_text("x")
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            os.symlink(os.readlink(f"/{link}"), root / link)
    subprocess.run(["mount", "--bind", "-o", "ro", "/usr", str(root / "usr")], check=True, timeout=10)
    cleanup.umount(str(root / "usr"))
    code = "import os; print(os.getcwd(), sorted(os.listdir('/')))"
    outs = {}
    for name, tool in TOOLS.items():
        res = run(tool + ["-R", str(root), "-w", "/work", PYTHON, "-c", code])
        assert res.returncode == 0, res.stderr
        outs[name] = res.stdout
    assert outs["nsbox"] == outs["util-linux"]
    assert outs["nsbox"].startswith("/work ") and "marker-file" in outs["nsbox"]
    seen = both(["-w", "/tmp"], ["cwd"])
    assert seen["nsbox"] == seen["util-linux"] == {"cwd": "/tmp"}


def test_setuid_setgid_drop_groups():
    seen = both(["-S", "1234", "-G", "4321"], ["uid", "gid", "groups"])
    assert seen["nsbox"] == seen["util-linux"] == {"uid": [1234] * 3, "gid": [4321] * 3, "groups": []}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _running_sleep(pid: int) -> list[int]:
    out = []
    for kid in _children(pid):
        try:
            with open(f"/proc/{kid}/comm") as f:
                if f.read().strip() == "sleep":
                    out.append(kid)
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("tool_name", list(TOOLS))
@pytest.mark.parametrize("kill_child", [True, False])
def test_kill_child(tool_name, kill_child, cleanup):
    flags = ["-fp"] + (["--kill-child"] if kill_child else [])
    parent = subprocess.Popen(TOOLS[tool_name] + flags + ["sleep", "60"], stdin=subprocess.DEVNULL)
    cleanup.kill(parent.pid)
    # wait until the forked child runs the program: killed while the tool still sets it up, a child
    # may rightly die with its parent (nothing half-done), with or without --kill-child
    deadline = time.monotonic() + 10
    while not _running_sleep(parent.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    kids = _running_sleep(parent.pid)
    assert kids, "no forked child running the program"
    child = kids[0]
    cleanup.add(lambda: os.kill(child, signal.SIGKILL) if _alive(child) else None)
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + (5 if kill_child else 0.5)  # survival: half a second is enough
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _alive(child) is (not kill_child)


@pytest.mark.parametrize("argv, expect", [
    (["sh", "-c", "exit 3"], 3),
    (["-f", "sh", "-c", "exit 4"], 4),
    (["-f", "sh", "-c", "kill -TERM $$"], -signal.SIGTERM),
    (["/nonexistent/program"], 127),
    (["/etc/passwd"], 126),
    (["/etc/hostname"], 127),  # ENOEXEC: run by /bin/sh as execvp(3) does; sh fails on its content
    (["--bogus", "true"], 1),
    (["-U", "--map-users=1,2", "true"], 1),
    (["--propagation", "sideways", "true"], 1),
    (["--setgroups", "maybe", "-U", "true"], 1),
    (["-T", "--monotonic", "x", "true"], 1),
])
def test_exit_codes_match(argv, expect):
    codes = {}
    for name, tool in TOOLS.items():
        res = run(tool + argv)
        codes[name] = res.returncode
        if name == "nsbox" and "/etc/hostname" not in argv and res.returncode not in (0, 3, 4, -15):
            lines = res.stderr.strip().splitlines()
            assert lines and lines[0].startswith("nsbox unshare: "), res.stderr
            assert "Traceback" not in res.stderr
    assert codes["nsbox"] == codes["util-linux"] == expect


def test_pid_namespace_without_fork_semantics():
    # -p without -f: the program stays in the host pid namespace; its first child is pid 1 of the
    # new one, and once that child exits no more processes can be made there (ENOMEM).
    script = "sh -c 'echo child=$$'; sh -c 'echo second=$$' || echo second-failed"
    outs = {}
    for name, tool in TOOLS.items():
        res = run(tool + ["-p", "sh", "-c", script])
        outs[name] = (res.returncode, res.stdout)
    assert outs["nsbox"] == outs["util-linux"]
    assert outs["nsbox"][1].splitlines()[0] == "child=1"
    assert outs["nsbox"][0] != 0


def test_keep_caps_makes_caps_ambient():
    seen = both(["-r", "--keep-caps"], ["caps"])
    assert seen["nsbox"]["caps"] == seen["util-linux"]["caps"]
    assert int(seen["nsbox"]["caps"]["CapAmb"], 16) == int(seen["nsbox"]["caps"]["CapPrm"], 16) != 0
    plain = both(["-r"], ["caps"])
    assert plain["nsbox"]["caps"] == plain["util-linux"]["caps"]
    assert int(plain["nsbox"]["caps"]["CapAmb"], 16) == 0


def test_default_program_is_a_login_shell():
    outs = {}
    for name, tool in TOOLS.items():
        res = subprocess.run(tool + ["-u"], input="echo $0\n", capture_output=True, text=True, timeout=30,
                             env={**os.environ, "SHELL": "/bin/sh"})
        outs[name] = (res.returncode, res.stdout)
    assert outs["nsbox"] == outs["util-linux"] == (0, "-sh\n")
