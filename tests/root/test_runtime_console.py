"""process.terminal: the pty master goes to --console-socket (as runc), or is relayed by `run`."""

from __future__ import annotations

import array
import os
import socket
import subprocess
import time

import pytest

from tests.fixtures.bundles import make_bundle, read_config, write_config
from tests.fixtures.runtimes import Runtime


def read_all(fd, timeout=10.0) -> bytes:
    import select
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("runtime", ["nsbox-runc", "runc"])
def test_console_socket_receives_the_pty(runtime, tmp_path, unique_id, cleanup):
    rt = Runtime(runtime, str(tmp_path / "state"))
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "tty; stty size; echo hello-tty"])
    cfg = read_config(bundle)
    cfg["process"]["terminal"] = True
    cfg["process"]["consoleSize"] = {"height": 33, "width": 111}
    write_config(bundle, cfg)
    sock_path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    cleanup.add(server.close)
    cleanup.add(rt.force_delete, unique_id)
    rt.ok("create", "--console-socket", sock_path, "--bundle", bundle, unique_id)
    conn, _ = server.accept()
    fds = array.array("i")
    _, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
    conn.close()
    fds.frombytes(anc[0][2][: fds.itemsize])
    master = fds[0]
    cleanup.add(os.close, master)
    rt.ok("start", unique_id)
    out = read_all(master).decode(errors="replace").replace("\r", "").splitlines()
    assert out[0].startswith("/dev/pts/") or out[0] == "/dev/console"
    assert out[1] == "33 111"
    assert out[2] == "hello-tty"


def test_terminal_without_console_socket_is_refused(tmp_path, unique_id, cleanup):
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    bundle = make_bundle(str(tmp_path / "b"), ["true"])
    cfg = read_config(bundle)
    cfg["process"]["terminal"] = True
    write_config(bundle, cfg)
    res = rt.run("create", "--bundle", bundle, unique_id)
    assert res.returncode == 1 and "console socket" in res.stderr
    assert not os.path.exists(os.path.join(rt.root, unique_id))


def test_foreground_run_relays_the_terminal(tmp_path, unique_id, cleanup):
    rt = Runtime("nsbox-runc", str(tmp_path / "state"))
    bundle = make_bundle(str(tmp_path / "b"), ["sh", "-c", "read line; echo got:$line; test -t 0 && echo is-a-tty"])
    cfg = read_config(bundle)
    cfg["process"]["terminal"] = True
    write_config(bundle, cfg)
    cleanup.add(rt.force_delete, unique_id)
    res = subprocess.run(rt.argv("run", "--bundle", bundle, unique_id), input="ping\n", capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert "got:ping" in res.stdout and "is-a-tty" in res.stdout
