"""CVE-2019-5736 class: while `<runtime> exec` joins the container again and again, a process in the
container hunts for a process whose /proc/PID/exe it can open and that lies on a host mount (the
runtime's own executable, which the real attack overwrites). The runtime must be unreachable
(non-dumpable until its execve); with CAP_SYS_PTRACE granted (weakened) the same hunt must find it.
"""

import os
import time

from tests.fixtures.escape_bundles import (attack_args, default_seccomp, make_bundle,  # noqa: F401
                                         runc_default_spec, runtime, weaken)

EXECS = 6


def hunt(runtime, tmp_path, unique_id, weakened: bool = False, add_caps=()) -> dict:
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("exe_hunt.py", "20"))
    if weakened:
        weaken(bundle.config)
    if add_caps:
        caps = sorted(set(runc_default_spec()["process"]["capabilities"]["bounding"]) | set(add_caps))
        bundle.process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
        bundle.config["linux"]["seccomp"] = default_seccomp(caps)
    runtime.start_detached(bundle, unique_id)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(bundle.out, "ready")):
        assert time.monotonic() < deadline, "the hunter never started"
        time.sleep(0.02)
    for _ in range(EXECS):
        runtime.ok("exec", unique_id, "/usr/bin/sleep", "0.02")
    open(os.path.join(bundle.out, "stop"), "w").close()
    deadline = time.monotonic() + 10
    while (found := bundle.result("result.json")) is None:
        assert time.monotonic() < deadline, "the hunter never reported"
        time.sleep(0.02)
    return found


def test_runtime_exe_unreachable_during_exec(runtime, tmp_path, unique_id):
    seen = hunt(runtime, tmp_path, unique_id, weakened=False)
    assert seen["seen_pids"] >= EXECS, f"the hunter saw no exec'd process at all: {seen}"
    assert seen["found"] == {}, f"{runtime.name}: host executable reachable from the container: {seen}"


def test_hunter_finds_runtime_when_weakened(runtime, tmp_path, unique_id):
    seen = hunt(runtime, tmp_path, unique_id, weakened=True)
    assert seen["found"], f"{runtime.name}: with CAP_SYS_PTRACE the hunter should reach the runtime: {seen}"


def test_sys_ptrace_reaches_no_writable_host_executable(runtime, tmp_path, unique_id):
    """`--cap-add SYS_PTRACE` (docker's debugging advice) makes the joining runtime reachable; what is
    reached must not be a host file on a writable mount (runc runs from a read-only or sealed clone
    of itself, so the real attack's reopen-for-write through /proc/self/fd has nothing to hit)."""
    seen = hunt(runtime, tmp_path, unique_id, add_caps=["CAP_SYS_PTRACE"])
    assert seen["found"], f"{runtime.name}: with CAP_SYS_PTRACE the hunter should reach the runtime: {seen}"
    writable = {pid: what for pid, what in seen["found"].items() if what["writable_host_file"]}
    assert not writable, f"{runtime.name}: a writable host executable is reachable: {writable}"
