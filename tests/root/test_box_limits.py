"""`nsbox run --memory/--memory-swap/--cpus/--cpu-shares/--pids-limit` as root: the limits are in
the container's cgroup files (read from the host and, read-only, from inside) and they bite."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

NSBOX = os.path.join(os.path.dirname(sys.executable), "nsbox")
PY = "/usr/bin/python3"


def nsbox_run(*args, timeout=60):
    return subprocess.run([NSBOX, "run", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def host_cgroup_file(controller: str, name: str, file: str) -> str:
    return f"/sys/fs/cgroup/{controller}/{name}/{file}"


def test_memory_limit_oom_kills_a_hog_with_137():
    hog = ("import sys\n"
           "print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip(),"
           " open('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes').read().strip(), flush=True)\n"
           "b = []\n"
           "while True: b.append(bytearray(1 << 20))\n")
    res = nsbox_run("--memory", "32m", "--memory-swap", "32m", "--", PY, "-c", hog)
    assert res.stdout.split() == [str(32 << 20), str(32 << 20)]
    assert res.returncode == 137, res.stderr


def test_memory_alone_allows_as_much_swap_again():
    res = nsbox_run("--memory", "48m", "--", "/bin/cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(48 << 20), str(96 << 20)]


def test_pids_limit_stops_a_fork_bomb():
    bomb = ("import errno, os, signal, time\n"
            "print(open('/sys/fs/cgroup/pids/pids.max').read().strip(), flush=True)\n"
            "kids, error = [], None\n"
            "for _ in range(200):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError as e:\n"
            "        error = errno.errorcode[e.errno]; break\n"
            "    if pid == 0:\n"
            "        time.sleep(30); os._exit(0)\n"
            "    kids.append(pid)\n"
            "print(len(kids), error, len([p for p in os.listdir('/proc') if p.isdigit()]), flush=True)\n"
            "for k in kids: os.kill(k, signal.SIGKILL)\n")
    res = nsbox_run("--pids-limit", "20", "--", PY, "-c", bomb)
    assert res.returncode == 0, res.stderr
    limit, (forked, error, visible) = res.stdout.splitlines()[0], res.stdout.splitlines()[1].split()
    assert limit == "20"
    assert error == "EAGAIN" and int(forked) == 19     # the bomb stopped at the limit (itself + 19)
    assert int(visible) == 20


@pytest.mark.timeout(60)
def test_cpus_hold_a_busy_loop_near_its_share(unique_id):
    name = f"cpu-{unique_id}"[:60]
    busy = ("import os, time\n"
            "print(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read().strip(),"
            " open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read().strip(),"
            " open('/sys/fs/cgroup/cpu/cpu.shares').read().strip(), flush=True)\n"
            "t0, c0 = time.monotonic(), sum(os.times()[:2])\n"
            "while time.monotonic() - t0 < 2.0: pass\n"
            "print((sum(os.times()[:2]) - c0) / (time.monotonic() - t0))\n"
            "print(dict(l.split() for l in open('/sys/fs/cgroup/cpu/cpu.stat'))['nr_throttled'])\n")
    proc = subprocess.Popen([NSBOX, "run", "--name", name, "--cpus", "0.5", "--cpu-shares", "256", "--", PY, "-c", busy],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        quota = host_cgroup_file("cpu", name, "cpu.cfs_quota_us")
        deadline = time.monotonic() + 20
        seen = None
        while time.monotonic() < deadline and seen is None:
            try:
                with open(quota) as f:
                    seen = f.read().strip()
            except FileNotFoundError:
                time.sleep(0.02)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert seen == "50000"                          # from the host
    lines = out.splitlines()
    assert lines[0].split() == ["50000", "100000", "256"]   # from inside
    share = float(lines[1])
    # 2 s of busy loop got at most half a CPU (less when the 2 shared cores are busy with other work)
    assert 0.15 <= share <= 0.6, share
    # the quota throttled it, period after period — unless the loaded host never let it reach the quota
    # (no period throttled: it used less than 50 ms of every 100 ms, so less than half a CPU overall)
    assert int(lines[2]) >= 5 or share <= 0.5, (share, lines[2])
    assert not os.path.exists(os.path.dirname(quota))   # the cgroup went with the container


def test_bad_limits_are_one_line_and_nothing_is_created():
    before = set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()
    for flags, msg in ((["--memory", "12q"], "invalid --memory '12q'"),
                       (["--memory", "1m"], "minimum memory limit is 6m"),
                       (["--memory-swap", "1g"], "--memory-swap needs --memory"),
                       (["--cpus", "999"], "invalid --cpus '999'"),
                       (["--pids-limit", "many"], "invalid --pids-limit 'many'")):
        res = nsbox_run(*flags, "--", "/bin/true")
        assert res.returncode != 0
        assert msg in res.stderr and res.stderr.strip().count("\n") <= 1, res.stderr
    after = set(os.listdir("/run/nsbox")) if os.path.isdir("/run/nsbox") else set()
    assert not {f for f in after - before if f.startswith(".box-")}
