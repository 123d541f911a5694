"""nsbox unshare without privileges: option parsing, id-map arithmetic, the plan's JSON round trip."""

import os

import pytest

from nsbox.cli.unshare import BadUsage, options_from, parse
from nsbox.errors import IdMapError, UsageError
from nsbox.ns.idmap import IdMap, IdMapping
from nsbox.ns.launch import build_idmap, build_options, split_range
from nsbox.ns.unshare_plan import UnshareOptions


def test_short_flags_bundle_and_stop_at_program():
    pairs, prog = parse(["-fpmiun", "--mount-proc", "sh", "-c", "echo -n"])
    names = [n for n, _ in pairs]
    assert names == ["fork", "pid", "mount", "ipc", "uts", "net", "mount-proc"]
    assert prog == ["sh", "-c", "echo -n"]


def test_namespace_files_only_with_equals_and_abbreviations():
    pairs, prog = parse(["--net=/run/n", "--mount", "/bin/true"])
    assert pairs == [("net", "/run/n"), ("mount", None)]
    assert prog == ["/bin/true"]
    assert parse(["--propag", "slave", "x"])[0] == [("propagation", "slave")]
    assert parse(["-R/new", "-w", "/tmp", "x"])[0] == [("root", "/new"), ("wd", "/tmp")]
    assert parse(["--", "-n"]) == ([], ["-n"])


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unrecognized option '--bogus'"),
    (["-x"], "invalid option -- 'x'"),
    (["-R"], "option requires an argument -- 'R'"),
    (["--map"], "ambiguous option '--map'"),
    (["--fork=1"], "option '--fork' doesn't allow an argument"),
])
def test_bad_usage_lines(argv, message):
    with pytest.raises(BadUsage) as info:
        parse(argv)
    assert str(info.value) == message


def test_split_range_matches_util_linux_2_38():
    # observed with util-linux 2.38.1 on this machine (unshare --map-users=auto --map-user=5 / -r)
    assert split_range((0, 300000, 65536), 0, 1001) == [(0, 1001, 1), (1, 300000, 65535)]
    assert split_range((0, 300000, 65536), 5, 1001) == [(5, 1001, 1), (0, 300000, 5), (6, 300005, 65530)]
    assert split_range((0, 300000, 10), 50, 1001) == [(50, 1001, 1), (0, 300000, 10)]


def test_build_idmap_single_ids_deny_setgroups():
    uids, gids, sg = build_idmap(0, 0, euid=1000, egid=1000)
    assert uids == ((0, 1000, 1),) and gids == ((0, 1000, 1),) and sg == "deny"
    with pytest.raises(UsageError, match="mutually exclusive"):
        build_idmap(0, 0, setgroups="allow", euid=1000, egid=1000)


def test_build_idmap_ranges_both_syntaxes():
    uids, gids, sg = build_idmap(map_users="100000,0,65536", map_groups="0:100000:65536", euid=0, egid=0)
    assert uids == ((0, 100000, 65536),) and gids == ((0, 100000, 65536),) and sg is None
    with pytest.raises(IdMapError, match="three numbers"):
        build_idmap(map_users="1,2")


def test_options_imply_namespaces_and_round_trip_json(tmp_path):
    opts = options_from(parse(["-r", "--mount-proc", "--kill-child=TERM", f"--net={tmp_path}/n",
                               "-T", "--monotonic", "-5", "true"])[0], ["true"])
    assert set(opts.namespaces) == {"user", "mnt", "net", "time"}
    assert opts.fork and opts.kill_signal == 15 and opts.mount_proc == "/proc"
    assert opts.self_map and opts.setgroups == "deny"
    assert opts.persist == {"net": f"{tmp_path}/n"} and opts.time_offsets == {"monotonic": -5}
    assert UnshareOptions.from_json(opts.to_json()) == opts


def test_default_program_is_login_shell(monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/bash")
    opts = build_options(("uts",))
    assert opts.program == "/bin/bash" and opts.argv == ("-bash",)


def test_idmap_object_and_problems():
    opts = build_options(("net",), argv=["x"], idmap=IdMap((IdMapping(0, 5000, 10),), (), None))
    assert "user" in opts.namespaces and not opts.self_map and opts.needs_outside
    with pytest.raises(UsageError, match="require unsharing of a time namespace"):
        build_options(("net",), argv=["x"], time_offsets={"monotonic": 1})
    with pytest.raises(UsageError, match="unsupported propagation"):
        build_options(("mnt",), argv=["x"], propagation="bogus")
    with pytest.raises(UsageError, match="unknown signal"):
        options_from([("kill-child", "NOPE")], ["x"])


def test_user_input_never_reaches_the_child_as_names():
    opts = build_options(("user",), argv=["x"], uid="root", gid="root")
    assert opts.uid == 0 and opts.gid == 0


def test_cli_start_up_imports_stay_lean():
    # nsbox unshare runs for every namespace someone makes: parsing and planning -fpmiun must not
    # pull in subprocess, socket, dataclasses or the passwd database.
    import subprocess
    import sys
    code = ("import sys; from nsbox.cli.unshare import options_from, parse; "
            "options_from(*parse(['-fpmiun', '--mount-proc', 'true'])); import nsbox.ns.stage1; "
            "print(sorted(m for m in ('subprocess', 'socket', 'dataclasses', 'pwd', 'shutil', 'argparse') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_child_side_imports_only_stdlib_l0_l1_and_the_plan():
    # DESIGN §2: the code that runs in the new namespaces (stage1, and the python -I -S helper that
    # runs it for threaded callers) must not drag in parent-side or third-party modules.
    import subprocess
    import sys
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("nsbox").__file__)))
    code = (f"import sys; sys.path.insert(0, {src!r}); import nsbox.ns.helper, nsbox.ns.stage1; "
            "print(sorted(m for m in sys.modules if m.startswith('nsbox')))")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    loaded = set(eval(res.stdout))
    allowed_prefixes = ("nsbox.linux", "nsbox.proc")
    allowed = {"nsbox", "nsbox.errors", "nsbox.ns", "nsbox.ns.types", "nsbox.ns.unshare_plan",
               "nsbox.ns.stage1", "nsbox.ns.helper"}
    assert {m for m in loaded if m not in allowed and not m.startswith(allowed_prefixes)} == set()
