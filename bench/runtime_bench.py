#!/usr/bin/env python3
"""`run` of `true` in a busybox bundle: nsbox-runc vs runc vs crun, side by side.

    sudo bench/runtime_bench.py [--runs N] [--json]

Per runtime: median and p90 wall time of `<runtime> --root R run -b BUNDLE ID` (create + start + wait +
delete), the ratio to runc and crun, peak RSS of the runtime process (GNU time -v, median), and the RSS
of a created-but-not-started container's init (what an idle `create` costs: VmRSS of the init pid).
crun runs in a private mount namespace with the cgroup2 mount hidden (it refuses the hybrid layout
here); the wrapper's own cost (unshare + sh, ~2 ms) is measured and reported, not subtracted.
bubblewrap runs `true` from the same rootfs in new namespaces (not an OCI runtime: no cgroups, seccomp
or state), as the floor of "namespaces and a root filesystem".
Needs root.
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
sys.path.insert(0, os.path.join(HERE, ".."))

from tests.fixtures.bundles import make_bundle  # noqa: E402
from tests.fixtures.runtimes import Runtime  # noqa: E402

class Bubblewrap:
    """Not an OCI runtime (no config.json, cgroups, seccomp or state), but what people compare with: the
    same busybox rootfs, read-only, with a fresh /proc and /dev, in new namespaces of every kind. `run
    --bundle B ID` is translated to that bwrap command line (the id is unused)."""

    name = "bubblewrap"

    def __init__(self, exe: str):
        self.exe = exe

    def argv(self, command: str, _flag: str, bundle: str, _cid: str) -> list[str]:
        assert command == "run"
        return [self.exe, "--unshare-all", "--die-with-parent", "--ro-bind", os.path.join(bundle, "rootfs"), "/",
                "--proc", "/proc", "--dev", "/dev", "true"]


def compile_package() -> None:
    """With PYTHONDONTWRITEBYTECODE set nothing caches bytecode; an installed package would have it."""
    import compileall
    import nsbox
    compileall.compile_dir(os.path.dirname(nsbox.__file__), quiet=1)


def time_runs(rt: Runtime, bundle: str, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        cid = f"bench-{os.getpid()}-{i}"
        argv = rt.argv("run", "--bundle", bundle, cid)
        t0 = time.perf_counter()
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             timeout=60)
        out.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"{rt.name} run failed: {res.stderr.decode().strip()}")
    return out


def peak_rss_kb(rt: Runtime, bundle: str, runs: int) -> float | None:
    if not os.path.exists("/usr/bin/time"):
        return None
    values = []
    for i in range(runs):
        cid = f"bench-rss-{os.getpid()}-{i}"
        res = subprocess.run(["/usr/bin/time", "-v", *rt.argv("run", "--bundle", bundle, cid)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, timeout=60)
        for line in res.stderr.splitlines():
            if "Maximum resident set size" in line:
                values.append(int(line.split()[-1]))
    return statistics.median(values) if values else None


def created_rss_kb(rt: Runtime, bundle: str) -> int | None:
    cid = f"bench-created-{os.getpid()}"
    rt.run("create", "--bundle", bundle, cid)
    try:
        pid = rt.state(cid)["pid"]
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    finally:
        rt.run("delete", "-f", cid)
    return None


def import_time_ms(rt: Runtime, bundle: str, runs: int) -> float | None:
    """`python -X importtime` of one `run`: the sum of the top-level imports' cumulative times (median).
    importtime inflates what it measures; compare its totals with each other, not with wall times."""
    if rt.name != "nsbox-runc":
        return None
    totals = []
    for i in range(runs):
        argv = [sys.executable, "-X", "importtime", *rt.argv("run", "--bundle", bundle, f"bench-imp-{os.getpid()}-{i}")]
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, timeout=60)
        total = 0
        for line in res.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                _, cumulative, name = line[len("import time:"):].split("|")
                if cumulative.strip().isdigit() and not name.startswith("  "):
                    total += int(cumulative)
        totals.append(total / 1000)
    return statistics.median(totals)


def wrapper_cost(runs: int) -> float:
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "exec true"], check=True)
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("runtime_bench needs root")
    compile_package()
    work = tempfile.mkdtemp(prefix="nsbox-bench-")
    try:
        bundle = make_bundle(os.path.join(work, "bundle"), ["true"])
        results = {}
        for name in ("nsbox-runc", "runc", "crun", "bubblewrap"):
            exe = shutil.which("bwrap" if name == "bubblewrap" else name)
            if name != "nsbox-runc" and not exe:
                continue
            if name == "bubblewrap":
                bw = Bubblewrap(exe)
                time_runs(bw, bundle, 2)
                times = sorted(time_runs(bw, bundle, args.runs))
                results[name] = {"median_ms": statistics.median(times) * 1000,
                                 "p90_ms": times[int(len(times) * 0.9) - 1] * 1000,
                                 "peak_rss_kb": peak_rss_kb(bw, bundle, 5), "created_init_rss_kb": None}
                continue
            rt = Runtime(name, os.path.join(work, f"state-{name}"))
            time_runs(rt, bundle, 2)  # warm caches
            times = sorted(time_runs(rt, bundle, args.runs))
            results[name] = {
                "median_ms": statistics.median(times) * 1000,
                "p90_ms": times[int(len(times) * 0.9) - 1] * 1000,
                "peak_rss_kb": peak_rss_kb(rt, bundle, 5),
                "created_init_rss_kb": created_rss_kb(rt, bundle),
                "importtime_ms": import_time_ms(rt, bundle, 5),
            }
        if "crun" in results:
            results["crun"]["wrapper_ms"] = wrapper_cost(10) * 1000
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    base = results["nsbox-runc"]["median_ms"]
    print(f"run of `true` in a busybox bundle, {args.runs} runs each (medians)\n")
    print(f"{'runtime':<16}{'median ms':>11}{'p90 ms':>9}{'nsbox/x':>9}{'peak RSS MB':>13}{'created init RSS MB':>21}")
    for name, r in results.items():
        rss = f"{r['peak_rss_kb'] / 1024:.1f}" if r["peak_rss_kb"] else "-"
        crss = f"{r['created_init_rss_kb'] / 1024:.1f}" if r["created_init_rss_kb"] else "-"
        print(f"{name:<16}{r['median_ms']:>11.1f}{r['p90_ms']:>9.1f}{base / r['median_ms']:>9.2f}{rss:>13}{crss:>21}")
    if results["nsbox-runc"].get("importtime_ms") is not None:
        print(f"\nnsbox-runc `-X importtime` total of one run: {results['nsbox-runc']['importtime_ms']:.1f} ms")
    if "crun" in results:
        print(f"\n(crun figures include its unshare+sh wrapper: {results['crun']['wrapper_ms']:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
