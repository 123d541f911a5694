"""Unit: OCI seccomp -> BPF, judged by behaviour: install the filter in a forked child (with
no_new_privs, so no privilege is needed) and observe what each syscall returns."""

import base64
import ctypes
import errno
import json
import os
import socket

import pytest

from nsbox.errors import SpecError
from nsbox.linux import seccomp as l0
from nsbox.security import listener
from nsbox.security.plan import plan_security
from nsbox.security.seccomp import compile_seccomp, syscall_number
from nsbox.security.seccomp_default import default_profile
from tests.fixtures.security_child import run_in_child
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw(name_or_nr, *args) -> int:
    """0 (or the result) on success, -errno on failure."""
    nr = syscall_number(name_or_nr) if isinstance(name_or_nr, str) else name_or_nr
    ctypes.set_errno(0)
    res = _libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return -ctypes.get_errno() if res == -1 else res


def observe(profile, calls, cleanup, filters=1):
    """Install ``profile`` (compiled) in a child, run ``calls`` [(label, fn)], return {label: result}."""
    compiled = compile_seccomp(profile)

    def body():
        from nsbox.linux.prctl import set_no_new_privs
        set_no_new_privs()
        for _ in range(filters):
            l0.set_mode_filter(compiled.bpf, compiled.flags)
        out = {label: fn() for label, fn in calls}
        os.write(1, json.dumps(out).encode())
    code, out, err = run_in_child(body, cleanup=cleanup)
    assert code == 0, err.decode()
    return json.loads(out)


def test_argument_conditions_behave(cleanup):
    allow = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        # one condition, exact value
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOTTY,
         "args": [{"index": 0, "value": 4242, "op": "SCMP_CMP_EQ"}]},
        # masked: (arg0 & 0xff00) == 0x1200
        {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV,
         "args": [{"index": 0, "value": 0xFF00, "valueTwo": 0x1200, "op": "SCMP_CMP_MASKED_EQ"}]},
        # two args: AND
        {"names": ["setpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM,
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 54321, "op": "SCMP_CMP_EQ"}]},
        # same arg twice: runc makes one rule per condition (OR)
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ERANGE,
         "args": [{"index": 1, "value": 111111, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 222222, "op": "SCMP_CMP_EQ"}]},
        # greater-than
        {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.E2BIG,
         "args": [{"index": 0, "value": 0o700, "op": "SCMP_CMP_GT"}]},
    ]}
    seen = observe(allow, [
        ("getpgid_4242", lambda: raw("getpgid", 4242)),
        ("getpgid_self", lambda: raw("getpgid", 0)),
        ("getsid_masked_hit", lambda: raw("getsid", 0x1234)),
        ("getsid_masked_miss", lambda: raw("getsid", 0x3434)),
        ("setprio_both", lambda: raw("setpriority", 0, 54321, 0)),
        ("setprio_one", lambda: raw("setpriority", 1, 54321, 0)),
        ("getprio_a", lambda: raw("getpriority", 0, 111111)),
        ("getprio_b", lambda: raw("getpriority", 0, 222222)),
        ("getprio_c", lambda: raw("getpriority", 0, 333333)),
        ("umask_big", lambda: raw("umask", 0o777)),
        ("umask_ok", lambda: raw("umask", 0o022) >= 0),
    ], cleanup)
    assert seen["getpgid_4242"] == -errno.ENOTTY
    assert seen["getpgid_self"] > 0
    assert seen["getsid_masked_hit"] == -errno.EXDEV
    assert seen["getsid_masked_miss"] == -errno.ESRCH
    assert seen["setprio_both"] == -errno.EDOM
    assert seen["setprio_one"] == -errno.ESRCH
    assert seen["getprio_a"] == -errno.ERANGE and seen["getprio_b"] == -errno.ERANGE
    assert seen["getprio_c"] == -errno.ESRCH
    assert seen["umask_big"] == -errno.E2BIG and seen["umask_ok"] is True


def test_default_profile_allows_ordinary_work_and_denies_escapes(cleanup, tmp_path):
    d = str(tmp_path / "made")
    path_buf = ctypes.create_string_buffer(d.encode())
    seen = observe(default_profile(), [
        ("mkdir", lambda: raw("mkdir", ctypes.addressof(path_buf), 0o755)),
        ("fork", lambda: _fork_and_wait()),
        ("unshare_user", lambda: raw("unshare", 0x10000000)),
        ("unshare_files", lambda: raw("unshare", 0x400)),
        ("keyctl", lambda: raw("keyctl", 0, -3, 0)),
        ("add_key", lambda: raw("add_key", 0, 0, 0, 0, 0)),
        ("mount", lambda: raw("mount", 0, 0, 0, 0, 0)),
        ("bpf", lambda: raw("bpf", 0, 0, 0)),
        ("ptrace", lambda: raw("ptrace", 0, 0, 0, 0)),
        ("kexec_load", lambda: raw("kexec_load", 0, 0, 0, 0)),
        # CLONE_NEWUSER|CLONE_FS: EINVAL from the kernel if the filter let it through (no child either way)
        ("clone_newuser", lambda: raw("clone", 0x10000200 | 17, 0, 0, 0, 0)),
        ("clone3", lambda: raw("clone3", 0, 0)),
        ("personality_query", lambda: raw("personality", 0xFFFFFFFF) >= 0),
        ("personality_bad", lambda: raw("personality", 0x0040000)),
        ("vsock", lambda: raw("socket", 40, 1, 0)),
        ("unix_socket", lambda: raw("socket", 1, 1, 0) >= 0),
        ("unknown_new_syscall", lambda: raw(1000)),
    ], cleanup)
    assert seen["mkdir"] == 0 and os.path.isdir(d)
    assert seen["fork"] == 0
    for denied in ("unshare_user", "keyctl", "add_key", "mount", "bpf", "ptrace", "kexec_load",
                   "clone_newuser", "personality_bad", "vsock"):
        assert seen[denied] == -errno.EPERM, denied
    assert seen["unshare_files"] == 0
    assert seen["clone3"] == -errno.ENOSYS  # libc falls back to clone
    assert seen["personality_query"] is True and seen["unix_socket"] is True
    assert seen["unknown_new_syscall"] == -errno.ENOSYS  # newer than the profile: ENOSYS, as runc


def _fork_and_wait():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return 0 if os.waitstatus_to_exitcode(status) == 7 else -1


def test_weakened_profile_lets_the_escape_through(cleanup):
    """The attack test can see an escape: with everything allowed the same calls are not EPERM."""
    seen = observe({"defaultAction": "SCMP_ACT_ALLOW"}, [
        ("personality_bad", lambda: raw("personality", 0x0040000)),
        ("keyctl", lambda: raw("keyctl", 0, -3, 0)),
    ], cleanup)
    assert seen["personality_bad"] >= 0 and seen["keyctl"] != -errno.EPERM


def test_default_profile_with_cap_sys_admin_allows_namespaces():
    prof = default_profile(["CAP_SYS_ADMIN"])
    names = {n for rule in prof["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and "args" not in rule
             for n in rule["names"]}
    assert {"mount", "unshare", "setns", "clone", "clone3"} <= names
    assert "keyctl" not in names and "ptrace" not in names
    assert not any(r["names"] == ["clone3"] for r in prof["syscalls"] if r["action"] != "SCMP_ACT_ALLOW")


def test_kill_process_and_trap(cleanup):
    from tests.fixtures.security_child import run_in_child
    compiled = compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})

    def body():
        from nsbox.linux.prctl import set_no_new_privs
        set_no_new_privs()
        l0.set_mode_filter(compiled.bpf, compiled.flags)
        raw("getppid")
        return 0
    code, _, _ = run_in_child(body, cleanup=cleanup)
    assert code == 128 + 31  # SIGSYS


def test_problems_have_json_paths():
    with pytest.raises(SpecError) as info:
        compile_seccomp({"defaultAction": "SCMP_ACT_MAYBE", "architectures": ["SCMP_ARCH_VAX"],
                         "flags": ["SECCOMP_FILTER_FLAG_NOPE"],
                         "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"},
                                                {"index": 9, "value": -1, "op": "SCMP_CMP_EQ"}]},
                                      {"names": [], "action": "SCMP_ACT_ALLOW"}]})
    probs = dict(info.value.problems)
    assert probs["$.linux.seccomp.defaultAction"] == "unknown seccomp action 'SCMP_ACT_MAYBE'"
    assert probs["$.linux.seccomp.architectures[0]"] == "unknown seccomp architecture 'SCMP_ARCH_VAX'"
    assert "SECCOMP_FILTER_FLAG_NOPE" in probs["$.linux.seccomp.flags[0]"]
    assert "SCMP_CMP_ALMOST" in probs["$.linux.seccomp.syscalls[0].args[0].op"]
    assert "$.linux.seccomp.syscalls[0].args[1].index" in probs
    assert "$.linux.seccomp.syscalls[0].args[1].value" in probs
    assert "$.linux.seccomp.syscalls[1].names" in probs


def test_unknown_syscall_names_are_skipped_with_a_warning():
    plan = plan_security({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"}]}}})
    assert any("no_such_syscall_xyz" in w and "$.linux.seccomp.syscalls[0]" in w for w in plan["warnings"])
    assert base64.b64decode(plan["seccomp"]["bpf"])
    assert plan["seccomp"]["install"] == "early"


def test_notify_needs_listener_path_and_sets_new_listener():
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(SpecError, match="listenerPath"):
        plan_security({"linux": {"seccomp": prof}})
    plan = plan_security({"linux": {"seccomp": dict(prof, listenerPath="/run/agent.sock",
                                                    listenerMetadata="hello")}})
    assert plan["seccomp"]["flags"] & l0.SECCOMP_FILTER_FLAG_NEW_LISTENER
    assert plan["seccomp"]["listener_path"] == "/run/agent.sock"


def test_listener_fd_is_handed_off_with_runc_state(cleanup, tmp_path):
    """The child installs a NOTIFY filter late and sends the fd with the state JSON; once the agent
    closes it, the notified syscall fails with ENOSYS instead of hanging."""
    from nsbox.security import apply
    path = str(tmp_path / "agent.sock")
    agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    agent.bind(path)
    agent.listen(1)
    cleanup.add(agent.close)
    agent.settimeout(20)
    me = {"uid": os.getuid(), "gid": os.getgid(), "additionalGids": os.getgroups()}
    plan = plan_security({"process": {"noNewPrivileges": True, "user": me},
                          "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
                                                "listenerMetadata": "meta",
                                                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}}})
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 1, "bundle": "/b"}
    r, w = os.pipe()

    def body():
        os.close(w)
        apply.finalize_process(plan)
        sock = listener.connect(path)
        assert apply.install_late_seccomp(plan, listener_sock=sock, state=state) is None
        os.read(r, 1)  # wait until the agent dropped the fd
        os.write(1, json.dumps(raw("getppid")).encode())

    import threading
    result = {}

    def agent_side():
        try:
            conn, _ = agent.accept()
            conn.settimeout(20)
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            result["msg"], result["nfds"] = json.loads(msg), len(fds)
            for fd in fds:
                os.close(fd)
            conn.close()
        finally:
            os.write(w, b"x")
    t = threading.Thread(target=agent_side, daemon=True)
    try:
        # the agent thread starts after the fork: fork only from a single-threaded process (DESIGN §4);
        # the child's connect() completes against the listen backlog before anyone accepts
        code, out, err = run_in_child(body, cleanup=cleanup, after_fork=lambda _pid: t.start())
    finally:
        agent.close()  # unblocks accept() if the child never connected
        if t.ident is not None:
            t.join(20)
        os.close(r)
        os.close(w)
    assert code == 0, err.decode()
    assert result["nfds"] == 1
    msg = result["msg"]
    assert msg["fds"] == ["seccompFd"] and msg["metadata"] == "meta" and msg["state"] == state
    assert isinstance(msg["pid"], int) and msg["pid"] > 0
    assert json.loads(out) == -errno.ENOSYS


def test_compiled_filters_are_cached_and_only_trusted_when_private(tmp_path, monkeypatch):
    from nsbox.security import seccomp as mod
    cache = str(tmp_path / "cache")
    first = compile_seccomp(default_profile(), cache_dir=cache)
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith(".json")
    monkeypatch.setattr(mod, "_compile", lambda *a: pytest.fail("compiled again despite the cache"))
    again = compile_seccomp(default_profile(), cache_dir=cache)
    assert (again.bpf, again.flags, again.instructions) == (first.bpf, first.flags, first.instructions)
    os.chmod(os.path.join(cache, files[0]), 0o666)  # anyone could have rewritten it: not trusted
    marker = mod.CompiledSeccomp(b"\x06\x00\x00\x00\x00\x00\xff\x7f", 0, False, ["recompiled"], 1)
    monkeypatch.setattr(mod, "_compile", lambda *a: marker)
    assert compile_seccomp(default_profile(), cache_dir=cache) is marker


def test_plan_uses_the_cache_dir(tmp_path):
    cache = str(tmp_path / "c")
    plan = plan_security({"linux": {"seccomp": default_profile()}}, seccomp_cache_dir=cache)
    assert os.listdir(cache) and plan["seccomp"]["bpf"]
    assert plan_security({"linux": {"seccomp": default_profile()}}, seccomp_cache_dir=cache) == plan
