"""Start-up guards for `nsbox-runc`: what the hot path imports, and the argparse-free parser's results.

Not timing tests: they fail when a heavy module creeps back onto the path of `run`/`create`/`start`/
`state`/`delete`, or when the fast parser and argparse disagree about a command line.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nsbox.cli import runc

# modules that cost milliseconds each and that the lifecycle path does not need. json, re, enum, functools,
# collections, signal and array come as one ~8 ms block (json -> re -> enum -> functools -> collections;
# signal and array pull in enum and collections): use nsbox.jsoncodec for json, _signal for signal
# constants, struct for fd arrays, and keep regexes and enums off the path.
HEAVY = ("dataclasses", "argparse", "shutil", "platform", "inspect", "typing", "logging", "gettext", "locale",
         "subprocess", "socket", "selectors", "tempfile", "pathlib", "ast", "dis", "bz2", "lzma", "base64",
         "traceback", "jsonschema", "pyroute2", "json", "re", "enum", "functools", "collections", "signal",
         "array", "threading")

# everything `run` imports in the parent before it forks (and stage 2 preloads), with a security plan
HOT_PATH = ("nsbox.cli.runc", "nsbox.cli.common", "nsbox.runtime.container", "nsbox.runtime.foreground",
            "nsbox.runtime.launcher", "nsbox.runtime.planner", "nsbox.runtime.store", "nsbox.runtime.status",
            "nsbox.runtime.hooks", "nsbox.oci.config", "nsbox.oci.validate", "nsbox.oci.state",
            "nsbox.rootfs.plan", "nsbox.rootfs.cgroupfs", "nsbox.cgroups.manager", "nsbox.security",
            "nsbox.security.plan", "nsbox.linux.caps", "nsbox.proc.procfs",
            "nsbox._init.stage1", "nsbox._init.stage2", "nsbox.proc.channel", "nsbox.proc.fork",
            "nsbox.security.apply", "nsbox.security.listener", "nsbox.linux.keyring", "nsbox.linux.seccomp",
            "nsbox.runtime.cgroup_warmup")


def imported_by(modules: tuple[str, ...]) -> set[str]:
    """The module names a fresh interpreter (-I -S: nothing from site) holds after importing ``modules``."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(runc.__file__)))
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(src)!r})\n"
            f"for m in {modules!r}: __import__(m)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def test_cli_module_imports_nothing_heavy():
    loaded = imported_by(("nsbox.cli.runc",))
    assert "nsbox.cli.runc" in loaded
    assert sorted(loaded & set(HEAVY)) == []


def test_run_path_imports_nothing_heavy():
    loaded = imported_by(HOT_PATH)
    assert {"nsbox.runtime.launcher", "nsbox._init.stage2"} <= loaded
    assert sorted(loaded & set(HEAVY)) == []


# modules stage 2 needs only for some plans: preload(plan) imports them before the pivot when the plan asks
PLAN_ONLY = ("termios", "nsbox._init.hookexec", "nsbox.linux.personality", "nsbox.security.listener",
             "nsbox.linux.seccomp", "binascii", "nsbox._init.credentials")


def preloaded_by(tmp_path, config_extra: str) -> set[str]:
    """The modules a fresh interpreter holds after planning a runc-spec-like config and preloading stage 2."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(runc.__file__)))
    os.makedirs(tmp_path / "rootfs", exist_ok=True)
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(src)!r})\n"
            "from nsbox.runtime.planner import make_plan\n"
            "from nsbox._init import stage2, stage1\n"
            "config = {'process': {'args': ['true'], 'cwd': '/', 'capabilities': {'bounding': ['CAP_KILL']}}, "
            "'root': {'path': 'rootfs'}, 'hostname': 'h', 'linux': {'namespaces': [{'type': 'mount'}, "
            "{'type': 'pid'}], 'maskedPaths': ['/proc/kcore']}}\n"
            f"{config_extra}\n"
            f"plan = make_plan(config, {str(tmp_path)!r}, 'c1', rootless=False)\n"
            "stage2.preload(plan)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def test_plain_plan_preloads_nothing_it_does_not_use(tmp_path):
    loaded = preloaded_by(tmp_path, "")
    assert "nsbox.security.apply" in loaded
    assert sorted(loaded & set(PLAN_ONLY)) == []


def test_plan_preloads_what_it_uses(tmp_path):
    loaded = preloaded_by(tmp_path, "config['process']['terminal'] = True\n"
                                    "config['hooks'] = {'startContainer': [{'path': '/bin/true'}]}\n"
                                    "config['linux']['personality'] = {'domain': 'LINUX'}\n"
                                    "config['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ALLOW', "
                                    "'syscalls': [{'names': ['getcwd'], 'action': 'SCMP_ACT_ERRNO'}]}")
    assert sorted(set(PLAN_ONLY) - loaded) == ["nsbox._init.credentials"]  # the security engine instead


def test_runtime_hooks_round_trip_only_with_hooks(tmp_path):
    from nsbox.runtime.planner import make_plan
    os.makedirs(tmp_path / "rootfs")
    config = {"process": {"args": ["true"]}, "root": {"path": "rootfs"},
              "linux": {"namespaces": [{"type": "mount"}]}}
    assert make_plan(config, str(tmp_path), "c1", rootless=False).runtime_hooks is False
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer"):
        config["hooks"] = {kind: [{"path": "/bin/true"}]}
        assert make_plan(config, str(tmp_path), "c1", rootless=False).runtime_hooks is True


def test_cgroup_warmup_leaves_one_thread_in_the_same_cgroup():
    """The warm-up thread (root: no-op writes to our own cgroup.procs) is gone after finish(), nothing moved."""
    src = os.path.dirname(os.path.dirname(os.path.abspath(runc.__file__)))
    code = (f"import sys, os, time; sys.path.insert(0, {os.path.dirname(src)!r})\n"
            "from nsbox.runtime import cgroup_warmup as w\n"
            "before = open('/proc/self/cgroup').read()\n"
            "w.start(); started = len(os.listdir('/proc/self/task')); time.sleep(0.03); w.finish(); w.finish()\n"
            "print(started, len(os.listdir('/proc/self/task')), open('/proc/self/cgroup').read() == before)")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    started, after, same = res.stdout.split()
    unified = os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") or \
        os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    assert started == ("2" if os.geteuid() == 0 and unified else "1")
    assert (after, same) == ("1", "True")


# --- the fast parser gives what argparse gives, and defers to it for anything unusual -----------------

def argparse_result(argv: list[str]) -> dict:
    """What the argparse path makes of ``argv`` (fast path switched off)."""
    global_argv, rest = runc.split_global(argv)
    args = runc.build_global_parser().parse_args(global_argv)
    args.command = rest[0]
    runc.build_command_parser(rest[0]).parse_args(rest[1:], namespace=args)
    return vars(args)


AGREE = [
    ["run", "c1"],
    ["--root", "/run/x", "run", "-b", "/b", "c1"],
    ["--root=/run/x", "--log", "/l", "--log-format", "json", "run", "--bundle=/b", "-d", "--pid-file", "/p", "c1"],
    ["--debug", "--rootless", "true", "create", "--console-socket", "/s", "--no-pivot", "--no-new-keyring",
     "--preserve-fds", "2", "c1", "-b", "/b"],
    ["--systemd-cgroup", "run", "--keep", "--no-subreaper", "--detach", "c-1.x_y+z"],
    ["--criu", "/c", "--rootless=false", "create", "--bundle", "", "c1"],
    ["start", "c1"],
    ["--root", "/r", "state", "c1"],
    ["delete", "-f", "c1"],
    ["delete", "--force", "c1"],
    ["kill", "c1"],
    ["kill", "c1", "KILL"],
    ["kill", "-a", "c1", "9"],
    ["kill", "--all", "c1", "SIGUSR1"],
    ["run", "-", ],
    ["run", ""],
]


@pytest.mark.parametrize("argv", AGREE, ids=[" ".join(a) or "-" for a in AGREE])
def test_fast_parser_agrees_with_argparse(argv):
    fast = runc.fast_parse(argv)
    assert fast is not None, "expected the fast path to take this command line"
    assert vars(fast) == argparse_result(argv)


DEFER = [
    [],                                            # no command: usage
    ["--version"], ["-v", "run", "c1"],            # version output
    ["run", "-h"], ["--help"],                      # help
    ["--ro", "/x", "state", "c1"],                  # abbreviation
    ["run", "--bund", "/b", "c1"],                  # abbreviation
    ["run", "-b/b", "c1"],                          # attached short value
    ["run", "-dk", "c1"],                           # combined short flags
    ["run", "--", "c1"],                            # end of options
    ["run", "c1", "c2"],                            # extra argument
    ["run"],                                        # missing id
    ["run", "-b", "-x", "c1"],                      # value that looks like an option
    ["run", "--preserve-fds", "x", "c1"],           # bad int
    ["--log-format", "xml", "run", "c1"],           # bad choice
    ["run", "--detach=yes", "c1"],                  # value given to a flag
    ["kill", "c1", "-9"],                           # negative-number-like positional
    ["exec", "c1", "sh"], ["list"], ["ps", "c1"], ["spec"], ["features"], ["pause", "c1"],  # argparse commands
    ["bogus", "c1"],
]


@pytest.mark.parametrize("argv", DEFER, ids=[" ".join(a) or "(none)" for a in DEFER])
def test_fast_parser_defers_to_argparse(argv):
    assert runc.fast_parse(argv) is None


def test_parse_args_errors_as_before():
    from nsbox.errors import UsageError
    with pytest.raises(UsageError, match="unrecognized arguments: c2"):
        runc.parse_args(["run", "c1", "c2"])
    with pytest.raises(UsageError, match="invalid choice"):
        runc.parse_args(["--log-format", "xml", "run", "c1"])


def test_program_exits_with_flushed_output(tmp_path):
    """main() as the program ends with os._exit: stdout must still be complete, the exit code kept."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(runc.__file__))))
    code = f"import sys; sys.path.insert(0, {src!r}); sys.argv[0] = 'nsbox-runc'; from nsbox.cli.runc import main; main()"
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code, "--version"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("nsbox-runc version ")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code, "--root", str(tmp_path), "state", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr == "nsbox-runc: container nope does not exist\n"
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code, "--root", str(tmp_path), "list"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


# --- nsbox.jsoncodec is json, for what the hot path asks of it -----------------------------------------

JSON_SAMPLES = [{"a": 1, "b": [1, 2.5, None, True, False, "x\u00e9\n\"\u2028", {"c": {}}], "d": [], "e": float("inf"),
                 "f": -0.0, "g": 10 ** 30, "h": 1e-7},
                "str", 1, None, [], {}, {1: "int key", None: "n", True: "t", 2.5: "f"}, [float("nan")]]


@pytest.mark.parametrize("obj", JSON_SAMPLES, ids=range(len(JSON_SAMPLES)))
def test_jsoncodec_dumps_as_json(obj):
    import json
    from nsbox import jsoncodec
    for sep in (None, (",", ":")):
        assert jsoncodec.dumps(obj, separators=sep) == json.dumps(obj, separators=sep)
        if not isinstance(obj, dict) or all(isinstance(k, str) for k in obj):
            assert jsoncodec.dumps(obj, separators=sep, sort_keys=True) == json.dumps(obj, separators=sep,
                                                                                     sort_keys=True)
    assert jsoncodec.dumps(obj, indent=2) == json.dumps(obj, indent=2)
    text = json.dumps(obj)
    assert repr(jsoncodec.loads(text)) == repr(json.loads(text))
    assert repr(jsoncodec.loads(text.encode())) == repr(json.loads(text.encode()))


@pytest.mark.parametrize("text", ["", " ", "{", '{"a":1} x', "[1,]", '"\x01"', "\ufeff{}", b"\xef\xbb\xbf{}", "nan", "01",
                                  '{"a": 1}\n', b'{"x": "\xc3\xa9"}', ' "s" ', "NaN", "-Infinity", "1.5e3", "-0",
                                  "[" * 100000])
def test_jsoncodec_loads_and_errors_as_json(text):
    import json
    from nsbox import jsoncodec

    def outcome(fn):
        try:
            return "ok", repr(fn(text))
        except Exception as exc:  # noqa: BLE001 - comparing what each raises
            return type(exc).__name__, str(exc)
    assert outcome(jsoncodec.loads) == outcome(json.loads)


def test_jsoncodec_refuses_what_json_refuses():
    import json
    from nsbox import jsoncodec
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        jsoncodec.dumps(loop)
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        jsoncodec.dumps({"a": object()})
    assert jsoncodec.JSONDecodeError is json.JSONDecodeError


def test_capsets_behaves_as_the_namedtuple_it_was():
    import pickle
    from nsbox.linux.caps import CapSets
    c = CapSets(1, 2, 3)
    assert c == (1, 2, 3) and (c.effective, c.permitted, c.inheritable) == (1, 2, 3)
    assert CapSets(effective=1, permitted=2, inheritable=3) == c
    assert repr(c) == "CapSets(effective=1, permitted=2, inheritable=3)"
    assert c._replace(permitted=5) == (1, 5, 3) and c._asdict() == {"effective": 1, "permitted": 2, "inheritable": 3}
    assert pickle.loads(pickle.dumps(c)) == c and type(pickle.loads(pickle.dumps(c))) is CapSets


def test_unescape_octal_as_the_regex():
    import random
    import re
    from nsbox.proc.procfs import unescape_octal
    rx = re.compile(r"\\([0-7]{3})")
    rng = random.Random(7)
    for _ in range(3000):
        s = "".join(rng.choice("\\0123789a ") for _ in range(rng.randint(0, 12)))
        assert unescape_octal(s) == rx.sub(lambda m: chr(int(m.group(1), 8)), s), s


def test_forwarded_signals_as_signal_module_lists_them():
    import signal
    from nsbox.runtime.foreground import FORWARDED
    assert FORWARDED == [s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD,
                                                                  signal.SIGWINCH, signal.SIGURG)]


def test_seccomp_cache_hit_imports_nothing_heavy(tmp_path):
    """podman and containerd pass a seccomp profile on every run: a cache hit must stay cheap too."""
    pytest.importorskip("nsbox.security.seccomp")
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(runc.__file__))))
    code = (f"import sys; sys.path.insert(0, {src!r})\n"
            "from nsbox.security.seccomp import compile_seccomp\n"
            "from nsbox.security.seccomp_default import default_profile\n"
            f"c = compile_seccomp(default_profile(['CAP_CHOWN']), cache_dir={str(tmp_path)!r})\n"
            "print(len(c.bpf)); print(' '.join(sorted(sys.modules)))")
    first = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    if first.returncode != 0 and "libseccomp" in first.stderr:
        pytest.skip("libseccomp is not installed")
    assert first.returncode == 0, first.stderr
    assert os.listdir(tmp_path), "nothing was cached"
    second = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    size, modules = second.stdout.split("\n", 1)
    assert size == first.stdout.split("\n", 1)[0]
    loaded = set(modules.split())
    assert sorted(loaded & set(HEAVY + ("hashlib", "_hashlib", "tempfile"))) == []


def test_compiled_seccomp_compares_and_prints_as_the_dataclass_did():
    pytest.importorskip("nsbox.security.seccomp")
    from nsbox.security.seccomp import CompiledSeccomp
    a = CompiledSeccomp(b"\x06\x00", 1, False, ["w"], 1)
    assert a == CompiledSeccomp(b"\x06\x00", 1, False, ["w"], 1) and a != CompiledSeccomp(b"\x06\x00", 2, False)
    assert CompiledSeccomp(b"", 0, True).warnings == [] and CompiledSeccomp(b"", 0, True).instructions == 0
    assert repr(a) == "CompiledSeccomp(bpf=b'\\x06\\x00', flags=1, uses_notify=False, warnings=['w'], instructions=1)"
