#!/usr/bin/env python3
"""The toolkit vs util-linux (and bubblewrap), same work, side by side.

    bench/unshare_bench.py [--runs N] [--flags "-fpmiun"] [--nsbox PATH]

Three groups, each with its ratio to util-linux:
  unshare   `unshare FLAGS true` vs `nsbox unshare FLAGS true`, and bubblewrap doing the nearest thing
            (`bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-net --bind / / true`: it also
            makes a mount namespace and pivots into it)
  nsenter   `nsenter -t PID -a true` vs `nsbox nsenter -t PID -a true`, PID a sleep in new namespaces
  lsns      `lsns` vs `nsbox lsns` (output to /dev/null)

Wall time: medians over N runs (hyperfine when installed, else an own fork/exec loop), and the ratio.
Peak RSS: "Maximum resident set size" from GNU /usr/bin/time -v (a small C parent, so the figure is
the unshare process's own; a fork of this Python would count its ~10 MB before exec), median.
Needs root (or pass flags an unprivileged user may use, e.g. "-Ufpmiun").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_nsbox() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "nsbox")
    if os.path.exists(exe):
        return [exe]
    venv = os.path.join(HERE, "..", ".venv", "bin", "nsbox")
    return [os.path.abspath(venv)] if os.path.exists(venv) else [sys.executable, "-m", "nsbox.cli.main"]


def compile_package() -> None:
    """Byte-compile nsbox: with PYTHONDONTWRITEBYTECODE set nothing caches it, and every run would
    compile from source (~7 ms) where an installed package would not."""
    import compileall
    try:
        import nsbox
    except ImportError:
        return
    compileall.compile_dir(os.path.dirname(nsbox.__file__), quiet=1)


def run_once(argv: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one run."""
    devnull = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.execvp(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {status}")
    return elapsed, usage.ru_maxrss


def peak_rss(argv: list[str]) -> int | None:
    """KiB, from /usr/bin/time -v; None when GNU time is not installed."""
    if not os.path.exists("/usr/bin/time"):
        return None
    res = subprocess.run(["/usr/bin/time", "-v", *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    for line in res.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def hyperfine(commands: dict[str, list[str]], runs: int) -> dict[str, float] | None:
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        argv = [exe, "-N", "--warmup", "3", "--runs", str(runs), "--export-json", out.name]
        for name, cmd in commands.items():
            argv += ["-n", name, " ".join(cmd)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        data = json.load(open(out.name))
    return {r["command"]: r["median"] for r in data["results"]}


def measure(commands: dict[str, list[str]], runs: int) -> tuple[dict[str, float], dict[str, float], str]:
    """(median seconds, median peak RSS KiB, how the wall time was taken) per command."""
    for cmd in commands.values():
        run_once(cmd)  # warm caches, fail early
    samples = {name: [run_once(cmd) for _ in range(runs)] for name, cmd in commands.items()}
    wall = {name: statistics.median(t for t, _ in s) for name, s in samples.items()}
    rss = {}
    for name, cmd in commands.items():
        values = [peak_rss(cmd) for _ in range(min(runs, 10))]
        rss[name] = statistics.median(values) if None not in values else float("nan")
    hf = hyperfine(commands, runs)
    return (hf or wall), rss, ("hyperfine -N" if hf else "own fork/exec loop")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--flags", default="-fpmiun")
    ap.add_argument("--nsbox", default=None, help="path of the nsbox executable")
    args = ap.parse_args()
    flags = args.flags.split()
    nsbox = [args.nsbox] if args.nsbox else default_nsbox()
    compile_package()
    groups = {"unshare": {"util-linux unshare": ["unshare", *flags, "true"],
                          "nsbox unshare": [*nsbox, "unshare", *flags, "true"]}}
    bwrap = shutil.which("bwrap")
    if bwrap and os.geteuid() == 0:
        groups["unshare"]["bubblewrap"] = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                                           "--unshare-net", "--bind", "/", "/", "true"]
    target = subprocess.Popen(["unshare", "-fpmiun", "--kill-child", "sleep", "600"], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        pid = None
        while pid is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{target.pid}/task/{target.pid}/children") as f:
                    kids = f.read().split()
                pid = int(kids[0]) if kids else None
            except OSError:
                pass
            time.sleep(0.02)
        if pid is not None:
            groups["nsenter"] = {"util-linux nsenter": ["nsenter", "-t", str(pid), "-a", "true"],
                                 "nsbox nsenter": [*nsbox, "nsenter", "-t", str(pid), "-a", "true"]}
        groups["lsns"] = {"util-linux lsns": ["lsns"], "nsbox lsns": [*nsbox, "lsns"]}
        results = {label: measure(commands, args.runs) for label, commands in groups.items()}
    finally:
        target.kill()
        target.wait(timeout=10)
    print(f"runs: {args.runs}   rss: /usr/bin/time -v medians   unshare flags: {' '.join(flags)}")
    print(f"{'command':<22} {'median ms':>10} {'ratio':>7} {'peak RSS KiB':>13}")
    for label, (wall, rss, source) in results.items():
        print(f"-- {label} (wall time: {source} medians; ratio to util-linux)")
        base = next(v for k, v in wall.items() if k.startswith("util-linux"))
        for name in groups[label]:
            print(f"{name:<22} {wall[name] * 1000:>10.2f} {wall[name] / base:>6.1f}x {rss[name]:>13.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
