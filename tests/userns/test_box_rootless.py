"""`nsbox run` as an unprivileged user: --network pasta/slirp4netns with -p forwards a host port
into the container (foreground and detached), --network none has only lo, limits warn and the
command still runs when cgroups are not writable, and a missing tool is one clear line."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import require, require_tool
from tests.fixtures.net_helpers import ECHO, PYTHON, ask, free_port

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
SERVE_PORT = 7000


@pytest.fixture
def box_env(tmp_path, cleanup):
    env = {**os.environ, "NSBOX_NET_ROOT": str(tmp_path / "nets"), "NSBOX_BOX_ROOT": str(tmp_path / "boxes")}

    def remove_all():
        root = env["NSBOX_BOX_ROOT"]
        for name in (os.listdir(root) if os.path.isdir(root) else []):
            subprocess.run([sys.executable, "-m", "nsbox.cli.containers", "rm", "-f", name], env=env,
                           capture_output=True, timeout=60)
    cleanup.add(remove_all)
    return env


def need(tool: str) -> None:
    require_tool(tool)
    require(os.access("/dev/net/tun", os.R_OK | os.W_OK), "read-write /dev/net/tun (mode 0666)")


def nsbox_run(env, *args, timeout=60):
    return subprocess.run([NSBOX, "run", *args], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def no_helpers_left(env) -> bool:
    from nsbox.net.attach import Attachments
    return Attachments(env["NSBOX_NET_ROOT"]).all() == []


def test_none_has_only_lo(box_env):
    res = nsbox_run(box_env, "--network", "none", "--", "/bin/sh", "-c", "ls /sys/class/net; id -u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lo", "0"]
    assert res.stderr == ""    # no limits asked: no word about cgroups this user cannot write


@pytest.mark.parametrize("tool", ["pasta", "slirp4netns"])
def test_published_port_forwards_into_the_container(box_env, cleanup, tool):
    need(tool)
    port = free_port()
    # pid 1 ignores signals it has no handler for: the shell traps TERM so `nsbox run` can stop it
    server = f"trap 'exit 0' TERM; {PYTHON} {ECHO} serve {SERVE_PORT} & wait"
    proc = subprocess.Popen([NSBOX, "run", "--network", tool, "-p", f"127.0.0.1:{port}:{SERVE_PORT}", "--",
                             "/bin/sh", "-c", server], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=box_env, stdin=subprocess.DEVNULL)

    def stop():
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    cleanup.add(stop)
    r, _, _ = select.select([proc.stdout], [], [], 30)
    assert r and proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.poll() is not None else ""
    answer = ask(None, "127.0.0.1", port, "through")
    assert answer.endswith(" through")
    proc.terminate()   # forwarded to the container's shell
    assert proc.wait(timeout=30) == 0
    assert no_helpers_left(box_env)


def test_detached_with_pasta_exec_and_rm(box_env):
    need("pasta")
    port = free_port()
    box = [sys.executable, "-m", "nsbox.cli.containers"]
    res = nsbox_run(box_env, "-d", "--name", "rl", "--network", "pasta", "-p", f"127.0.0.1:{port}:{SERVE_PORT}",
                    "--", PYTHON, ECHO, "serve", str(SERVE_PORT))
    assert res.returncode == 0 and res.stdout == "rl\n", res.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        logs = subprocess.run(box + ["logs", "rl"], capture_output=True, text=True, env=box_env, timeout=30)
        if "ready" in logs.stdout:
            break
        time.sleep(0.05)
    assert ask(None, "127.0.0.1", port, "detached").endswith(" detached")
    ex = subprocess.run(box + ["exec", "rl", "/bin/sh", "-c", "cat /etc/hostname; ls /sys/class/net"],
                        capture_output=True, text=True, env=box_env, timeout=30)
    assert ex.returncode == 0 and ex.stdout.split()[0] == "rl" and len(ex.stdout.split()) == 3, ex.stderr
    rm = subprocess.run(box + ["rm", "-f", "rl"], capture_output=True, text=True, env=box_env, timeout=60)
    assert rm.returncode == 0, rm.stderr
    assert no_helpers_left(box_env) and not os.path.exists(os.path.join(box_env["NSBOX_BOX_ROOT"], "rl"))


def test_limits_warn_and_continue_without_writable_cgroups(box_env):
    from nsbox.engine.box import cgroups_writable
    require(not cgroups_writable({"namespaces": []}, "probe"), "cgroups not writable by this user")
    res = nsbox_run(box_env, "--memory", "64m", "--pids-limit", "10", "--", "/bin/echo", "ran")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "ran\n"
    assert "warning: cgroups are not writable by this user: resource limits" in res.stderr
    assert res.stderr.count("\n") == 1, res.stderr     # said once, by the front end, not again by the runtime


def test_bad_input_as_a_user(box_env):
    res = nsbox_run(box_env, "--network", "bridge", "--", "/bin/true")
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and "needs root" in res.stderr
    res = nsbox_run(box_env, "--memory", "big", "--", "/bin/true")
    assert res.returncode != 0 and res.stderr.count("\n") == 1 and "invalid --memory" in res.stderr


def test_missing_pasta_is_one_clear_line(box_env):
    env = {**box_env, "PATH": "/nonexistent"}
    res = nsbox_run(env, "--network", "pasta", "--", "/bin/true")
    assert res.returncode != 0
    assert res.stderr.count("\n") == 1 and "needs pasta, which is not installed" in res.stderr
    assert no_helpers_left(box_env)


def test_container_network_joins_another_rootless_container(box_env):
    need("pasta")
    box = [sys.executable, "-m", "nsbox.cli.containers"]
    res = nsbox_run(box_env, "-d", "--name", "first", "--network", "pasta", "--", PYTHON, ECHO, "serve", str(SERVE_PORT))
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 20
    while "ready" not in subprocess.run(box + ["logs", "first"], capture_output=True, text=True, env=box_env,
                                        timeout=30).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    res = nsbox_run(box_env, "--network", "container:first", "--", PYTHON, ECHO, "ask", "127.0.0.1",
                    str(SERVE_PORT), "shared")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "127.0.0.1 shared"
