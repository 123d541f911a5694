#!/usr/bin/env python3
"""What seccomp costs in `run`: nsbox-runc vs runc vs crun with the same default profile.

    sudo bench/seccomp_bench.py [--runs N] [--json]

Two bundles running `true` in busybox: "none" (runc spec's config: no linux.seccomp) and "default"
(the docker/podman-equivalent default profile, nsbox.security.seccomp_default.default_profile() for the
spec's capabilities: ~350 allowed syscalls, argument conditions, SCMP_ACT_ERRNO by default). Each runtime
runs both; the difference of the medians is what compiling and installing the filter costs it. nsbox-runc
compiles with libseccomp in the parent and caches the BPF program by a key of the profile
(/var/lib/nsbox/seccomp); it is measured with the cache warm (what every run after the first pays) and
with NSBOX_SECCOMP_CACHE=0 (a compile in every run, like runc and crun). crun runs in a private mount
namespace with cgroup2 hidden (see tests/fixtures/runtimes.py). Needs root.
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

from tests.fixtures.bundles import make_bundle, read_config, write_config  # noqa: E402
from tests.fixtures.runtimes import Runtime, available  # noqa: E402


def compile_package() -> None:
    """With PYTHONDONTWRITEBYTECODE set nothing caches bytecode; an installed package would have it."""
    import compileall
    import nsbox
    compileall.compile_dir(os.path.dirname(nsbox.__file__), quiet=1)


def bundles(tmp: str) -> dict[str, str]:
    from nsbox.security.seccomp_default import default_profile
    plain = make_bundle(os.path.join(tmp, "none"), ["true"])
    filtered = make_bundle(os.path.join(tmp, "default"), ["true"])
    cfg = read_config(filtered)
    cfg["linux"]["seccomp"] = default_profile(cfg["process"]["capabilities"]["bounding"])
    write_config(filtered, cfg)
    return {"none": plain, "default": filtered}


def median_run_ms(rt: Runtime, bundle: str, runs: int, env: dict | None = None) -> float:
    times = []
    for i in range(runs + 2):   # two warm-up runs (page cache, the seccomp cache when on)
        cid = f"sb-{os.getpid()}-{i}"
        t0 = time.perf_counter()
        res = subprocess.run(rt.argv("run", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60, env=env)
        elapsed = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"{rt.name} run failed: {res.stderr.decode().strip()}")
        if i >= 2:
            times.append(elapsed)
    return statistics.median(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("seccomp_bench needs root")
    compile_package()
    work = tempfile.mkdtemp(prefix="nsbox-seccomp-bench-")
    rows: dict[str, dict[str, float]] = {}
    try:
        b = bundles(work)
        cold_env = dict(os.environ, NSBOX_SECCOMP_CACHE="0")
        for name in ("nsbox-runc", "runc", "crun"):
            if not available(name):
                continue
            rt = Runtime(name, os.path.join(work, f"state-{name}"))
            if name == "nsbox-runc":
                rows["nsbox-runc (cache warm)"] = {"none": median_run_ms(rt, b["none"], args.runs),
                                                   "default": median_run_ms(rt, b["default"], args.runs)}
                rows["nsbox-runc (no cache)"] = {"none": rows["nsbox-runc (cache warm)"]["none"],
                                                 "default": median_run_ms(rt, b["default"], args.runs, cold_env)}
            else:
                rows[name] = {"none": median_run_ms(rt, b["none"], args.runs),
                              "default": median_run_ms(rt, b["default"], args.runs)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in rows.values():
        r["seccomp_ms"] = r["default"] - r["none"]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"run of `true` in a busybox bundle, {args.runs} runs each (medians, ms)\n")
    print(f"{'runtime':<26}{'no seccomp':>11}{'default profile':>17}{'seccomp cost':>14}")
    for name, r in rows.items():
        print(f"{name:<26}{r['none']:>11.1f}{r['default']:>17.1f}{r['seccomp_ms']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
