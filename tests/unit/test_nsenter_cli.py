"""`nsbox nsenter` option parsing (getopt_long rules) and bad input, without privileges."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nsbox.cli import nsenter as cli
from nsbox.errors import UsageError
from nsbox.ns.join import EnterOptions, open_targets

NSBOX = [sys.executable, "-m", "nsbox.cli.main", "nsenter"]


def test_optional_arguments_must_be_attached_like_getopt():
    opts, program, _, _ = cli.parse(["-t", "42", "-n", "-u/run/uts", "hostname", "-n"])
    assert opts.target == 42
    assert opts.types == ("net",)
    assert opts.files == (("uts", "/run/uts"),)
    assert program == ["hostname", "-n"]  # parsing stops at the program


def test_long_options_with_values_and_abbreviations():
    opts, program, _, _ = cli.parse(["--target=7", "--net=/x", "--mo", "--pres", "--setuid", "5",
                                     "--setg=6", "--root", "--wd=/tmp", "--no-f", "--", "-a"])
    assert (opts.target, opts.types, opts.files) == (7, ("mnt",), (("net", "/x"),))
    assert (opts.preserve_credentials, opts.uid, opts.gid, opts.root, opts.cwd, opts.fork) == (
        True, 5, 6, True, "/tmp", False)
    assert program == ["-a"]


def test_bundled_short_options_and_required_values():
    opts, program, _, _ = cli.parse(["-aFt99", "-S1", "-G", "2", "-r", "-w", "-Z", "sh"])
    assert opts.all and opts.fork is False and opts.target == 99 and (opts.uid, opts.gid) == (1, 2)
    assert opts.root is True and opts.cwd is True
    assert program == ["sh"]
    opts, _, _, _ = cli.parse(["-rw"])  # getopt: the rest of the word is -r's optional argument
    assert opts.root == "w" and opts.cwd is None


def test_target_file_wins_over_named_file_as_in_util_linux():
    opts, _, _, _ = cli.parse(["-t", "5", "--net=/x", "-n"])
    assert "net" in opts.types and opts.files == (("net", "/x"),)
    # open_targets drops the file when the target's own namespace was asked for (checked below)


@pytest.mark.parametrize("argv,message", [
    (["--foo"], "unrecognized option '--foo'"),
    (["-x"], "invalid option -- 'x'"),
    (["-t"], "option requires an argument -- 't'"),
    (["--target"], "option '--target' requires an argument"),
    (["--all=1"], "option '--all' doesn't allow an argument"),
    (["--p"], "option '--p' is ambiguous"),
    (["-t", "abc"], "failed to parse pid: 'abc'"),
    (["-S", "x"], "failed to parse uid: 'x'"),
    (["-G", "-1"], "failed to parse gid: '-1'"),
    (["-w", "-W", "/"], "mutually exclusive arguments: --wdns --wd"),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError) as info:
        cli.parse(argv)
    assert message in str(info.value)


def test_help_and_version():
    assert cli.parse(["-h"]) == "help"
    assert cli.parse(["--version"]) == "version"
    res = subprocess.run(NSBOX + ["--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "--preserve-credentials" in res.stdout
    res = subprocess.run(NSBOX + ["-V"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith("nsbox nsenter from nsbox ")


def _one_line_failure(argv, code=1):
    res = subprocess.run(NSBOX + argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == code, res
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsbox nsenter: "), res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    return lines[0]


def test_bad_input_is_one_line_and_exit_1():
    assert "unrecognized option '--bogus'" in _one_line_failure(["--bogus"])
    assert "failed to parse pid: 'x1'" in _one_line_failure(["-t", "x1", "-n", "true"])
    assert "neither filename nor target pid supplied for ns/net" in _one_line_failure(["-n", "true"])
    assert "no target PID specified for --all" in _one_line_failure(["-a", "true"])
    line = _one_line_failure(["-t", "999999999", "-n", "true"])
    assert line == "nsbox nsenter: open /proc/999999999/ns/net: No such file or directory"
    line = _one_line_failure(["--net=/nonexistent/ns", "true"])
    assert "open /nonexistent/ns: No such file or directory" in line


def test_follow_context_without_selinux_is_a_clear_error():
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here; the error path is for systems without it")
    line = _one_line_failure(["-Z", "-t", str(os.getpid()), "-u", "true"])
    assert "--follow-context: SELinux is not enabled" in line


def test_no_namespaces_runs_the_program_like_util_linux(tmp_path):
    res = subprocess.run(NSBOX + ["sh", "-c", "echo $$; exit 3"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 3 and res.stdout.strip().isdigit()


def test_exec_failures_use_util_linux_codes():
    assert "execvp /nonexistent/prog: No such file or directory" in _one_line_failure(
        ["/nonexistent/prog"], code=127)
    assert "execvp /: Permission denied" in _one_line_failure(["/"], code=126)


def test_shell_is_run_as_login_style_dash_name():
    env = dict(os.environ, SHELL="/bin/dash" if os.path.exists("/bin/dash") else "/bin/sh")
    res = subprocess.run(NSBOX, input='tr "\\0" " " < /proc/$$/cmdline\n', capture_output=True,
                         text=True, timeout=30, env=env)
    assert res.returncode == 0
    assert "-" + os.path.basename(env["SHELL"]) in res.stdout.split()


def test_open_targets_named_file_loses_to_target(tmp_path):
    me = os.getpid()
    opts = EnterOptions(target=me, types=("net",), files=(("net", "/nonexistent"),))
    with open_targets(opts) as opened:
        assert [(t.ns_name, p) for t, _, p in opened.namespaces] == [("net", f"/proc/{me}/ns/net")]


def test_open_targets_all_skips_own_user_namespace_and_keeps_order():
    me = os.getpid()
    with open_targets(EnterOptions(target=me, types=("all",))) as opened:
        names = [t.ns_name for t in opened.types]
        fds = [fd for _, fd, _ in opened.namespaces]
        assert all(fd >= 0 for fd in fds)
        assert all(not os.get_inheritable(fd) for fd in fds)
    assert "user" not in names
    assert names == [n for n in ("cgroup", "ipc", "uts", "net", "pid", "mnt", "time") if n in names]
    assert {"ipc", "uts", "net", "pid", "mnt"} <= set(names)
    for fd in fds:  # closed again
        with pytest.raises(OSError):
            os.fstat(fd)


def test_options_roundtrip_json():
    opts = EnterOptions(target=3, types=("net", "all"), files=(("uts", "/x"),), root=True, cwd="/tmp",
                        uid=1, gid=2, preserve_credentials=True, fork=False)
    assert EnterOptions.from_json(opts.to_json()) == opts


def test_debug_shows_the_traceback_too():
    res = subprocess.run([sys.executable, "-m", "nsbox.cli.main", "--debug", "nsenter", "-t", "999999999", "-n",
                          "true"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "Traceback" in res.stderr
    assert res.stderr.splitlines()[-1] == "nsbox nsenter: open /proc/999999999/ns/net: No such file or directory"


def test_debug_after_the_program_belongs_to_the_program():
    opts, program, _, debug = cli.parse(["-t", "1", "-n", "prog", "--debug"])
    assert program == ["prog", "--debug"] and not debug
