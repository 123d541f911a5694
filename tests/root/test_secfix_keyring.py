"""The container's session keyring, seen from inside: "_ses.<id>", or with --no-new-keyring the
runtime caller's own (the host's). Compared with runc where it is installed."""

from __future__ import annotations

import ctypes
import os

import pytest

from tests.fixtures.bundles import make_bundle
from tests.fixtures.runtimes import Runtime, available

RUNTIMES = [name for name in ("nsbox-runc", "runc") if available(name)]
NR_KEYCTL = {"x86_64": 250, "aarch64": 219}[os.uname().machine]

# keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create=0), then KEYCTL_DESCRIBE
DESCRIBE = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
serial = libc.syscall({NR_KEYCTL}, 0, -3, 0)
buf = ctypes.create_string_buffer(512)
n = libc.syscall({NR_KEYCTL}, 6, serial, buf, 512)
print("KEYRING", serial, buf.value.decode() if n > 0 else "errno=%d" % ctypes.get_errno())
"""


def session_keyring_here() -> tuple[int, str]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    serial = libc.syscall(NR_KEYCTL, 0, -3, 1)
    buf = ctypes.create_string_buffer(512)
    libc.syscall(NR_KEYCTL, 6, serial, buf, 512)
    return serial, buf.value.decode()


@pytest.mark.parametrize("no_new_keyring", [False, True], ids=["new", "no-new-keyring"])
@pytest.mark.parametrize("name", RUNTIMES)
def test_session_keyring_seen_from_inside(name, no_new_keyring, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "bundle"), ["/usr/bin/python3", "-S", "-c", DESCRIBE], rootfs="python")
    rt = Runtime(name, str(tmp_path / "state"))
    cid = f"kr-{unique_id}"
    host_serial, host_desc = session_keyring_here()  # the runtime inherits our session keyring
    try:
        res = rt.run("run", *(["--no-new-keyring"] if no_new_keyring else []), "-b", bundle, cid, timeout=60)
    finally:
        rt.force_delete(cid)
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("KEYRING ")]
    assert line, res.stdout + res.stderr
    _, serial, desc = line[0].split(" ", 2)
    name_of = desc.split(";")[-1]
    if no_new_keyring:
        assert int(serial) == host_serial and name_of == host_desc.split(";")[-1], (line, host_desc)
    else:
        assert name_of == f"_ses.{cid}", line
        assert int(serial) != host_serial


def test_fallback_security_joins_the_same_named_keyring(unique_id, monkeypatch):
    """Without nsbox.security the runtime's fallback plan joins "_ses.<id>" in apply_early (one join)."""
    import sys
    from nsbox._init import credentials
    from nsbox.runtime.planner import plan_security
    monkeypatch.setitem(sys.modules, "nsbox.security", None)  # importing it now raises ImportError
    config = {"process": {"args": ["true"], "user": {"uid": 0, "gid": 0}}}
    sec = plan_security(config, False, f"c{unique_id}")
    assert sec["engine"] == "fallback"
    plan = sec["plan"]
    assert plan["new_keyring"] is True and plan["keyring_name"] == f"_ses.c{unique_id}"
    assert plan_security(config, False, "x", new_keyring=False)["plan"]["new_keyring"] is False
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            credentials.apply_early(plan)
            os.write(w, session_keyring_here()[1].encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        desc = f.read()
    os.waitpid(pid, 0)
    assert desc.split(";")[-1] == f"_ses.c{unique_id}", desc


@pytest.mark.parametrize("no_new_keyring", [False, True], ids=["new", "no-new-keyring"])
@pytest.mark.parametrize("name", RUNTIMES)
def test_exec_keyring_follows_create(name, no_new_keyring, tmp_path, unique_id):
    """As runc: a process exec'd into the container joins its "_ses.<id>" keyring (never the caller's),
    unless the container was created with --no-new-keyring: then it keeps the caller's."""
    bundle = make_bundle(str(tmp_path / "bundle"), ["/usr/bin/python3", "-S", "-c", "import time; time.sleep(60)"],
                         rootfs="python")
    rt = Runtime(name, str(tmp_path / "state"))
    cid = f"kx-{unique_id}"
    host_serial, host_desc = session_keyring_here()
    try:
        rt.ok("create", *(["--no-new-keyring"] if no_new_keyring else []), "-b", bundle, cid, timeout=60)
        rt.ok("start", cid)
        res = rt.ok("exec", cid, "/usr/bin/python3", "-S", "-c", DESCRIBE, timeout=60)
    finally:
        rt.force_delete(cid)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("KEYRING ")]
    assert line, res.stdout + res.stderr
    _, serial, desc = line[0].split(" ", 2)
    if no_new_keyring:
        assert int(serial) == host_serial and desc.split(";")[-1] == host_desc.split(";")[-1], (line, host_desc)
    else:
        assert desc.split(";")[-1] == f"_ses.{cid}", line
        assert int(serial) != host_serial
