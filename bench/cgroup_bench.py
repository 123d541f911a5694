#!/usr/bin/env python3
"""What cgroups cost inside `run`: nsbox-runc vs runc vs crun, with and without limits.

    sudo bench/cgroup_bench.py [--runs N] [--json]

1. `<runtime> run -b BUNDLE ID` of `true` (create + start + wait + delete), median and p90, for a bundle
   whose linux.resources has only the default device rules ("no limits") and one with memory, memsw,
   cpu shares/quota, cpuset and pids limits ("limits"); the difference is what writing the limits costs.
2. The pieces of nsbox's cgroup set-up, timed in-process with the library the runtime uses:
   for_container (validate + plan), create (mkdir in every hierarchy + writes), add (cgroup.procs in each
   hierarchy, after 0.3 s idle as between two runs), one more cgroup.procs write right after
   ("procs_write_warm"), destroy (rmdir). The first cgroup.procs write after an idle moment is where the
   kernel waits: migrating a process takes cgroup_threadgroup_rwsem (a percpu rwsem) for writing, which
   first waits out an RCU grace period (rcu_sync); writes right after find it warm. runc pays the same
   (it writes the same files); nsbox overlaps it with stage 1's work (runtime/launcher.py).
crun runs in a private mount namespace with cgroup2 hidden (see tests/fixtures/runtimes.py); its
wrapper's cost (~2 ms) is included. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from tests.fixtures.bundles import make_bundle, read_config, write_config  # noqa: E402
from tests.fixtures.runtimes import Runtime, available  # noqa: E402

LIMITS = {"memory": {"limit": 256 << 20, "swap": 512 << 20, "reservation": 128 << 20},
          "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
          "pids": {"limit": 100}}


def compile_package() -> None:
    import compileall
    import nsbox
    compileall.compile_dir(os.path.dirname(nsbox.__file__), quiet=1)


def bundles(tmp: str) -> dict[str, str]:
    out = {}
    for name, res in (("no limits", None), ("limits", LIMITS)):
        b = make_bundle(os.path.join(tmp, name.replace(" ", "-")), ["true"])
        if res:
            cfg = read_config(b)
            cfg["linux"]["resources"] = {**cfg["linux"].get("resources", {}), **json.loads(json.dumps(res))}
            write_config(b, cfg)
        out[name] = b
    return out


def time_runs(rt: Runtime, bundle: str, runs: int) -> list[float]:
    times = []
    for i in range(runs + 1):                       # the first run warms caches and is dropped
        cid = f"cgbench-{os.getpid()}-{i}"
        t0 = time.perf_counter()
        res = subprocess.run(rt.argv("run", "--bundle", bundle, cid), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        elapsed = time.perf_counter() - t0
        if res.returncode != 0:
            rt.run("delete", "-f", cid)
            raise SystemExit(f"{rt.name} run failed: {res.stderr.decode().strip()}")
        if i:
            times.append(elapsed)
    return times


def summary(times: list[float]) -> dict:
    s = sorted(times)
    return {"median_ms": round(statistics.median(s) * 1000, 1),
            "p90_ms": round(s[min(len(s) - 1, int(len(s) * 0.9))] * 1000, 1)}


def pieces(runs: int) -> dict:
    """In-process timing of for_container / create / add / destroy (the calls `create` makes)."""
    from nsbox.cgroups.manager import for_container
    acc: dict[str, list[float]] = {"plan": [], "create": [], "add": [], "destroy": [], "procs_write_warm": []}
    for i in range(runs):
        linux = {"resources": json.loads(json.dumps(LIMITS)), "cgroupsPath": f"/cgbench-{os.getpid()}-{i}"}
        child = subprocess.Popen(["sleep", "60"])
        time.sleep(0.3)     # let the kernel's rcu_sync of cgroup_threadgroup_rwsem go idle, as between runs
        try:
            t0 = time.perf_counter()
            m = for_container(linux, f"cgbench{i}")
            t1 = time.perf_counter()
            m.create()
            t2 = time.perf_counter()
            m.add(child.pid)
            t3 = time.perf_counter()
            # one more cgroup.procs write right after: the rwsem's writer path is warm now
            pids_dir = m.paths().get("pids")
            if pids_dir:
                sub = os.path.join(pids_dir, "one")
                os.mkdir(sub)
                t4 = time.perf_counter()
                with open(os.path.join(sub, "cgroup.procs"), "w") as f:
                    f.write(str(child.pid))
                acc["procs_write_warm"].append(time.perf_counter() - t4)
            child.kill()
            child.wait()
            t5 = time.perf_counter()
            m.destroy()
            t6 = time.perf_counter()
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
        acc["plan"].append(t1 - t0)
        acc["create"].append(t2 - t1)
        acc["add"].append(t3 - t2)
        acc["destroy"].append(t6 - t5)
    hierarchies = len(m.paths())
    out = {k: summary(v) for k, v in acc.items() if v}
    out["hierarchies"] = hierarchies
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("cgroup_bench needs root")
    compile_package()
    results: dict = {"run": {}, "pieces": None}
    with tempfile.TemporaryDirectory(prefix="cgbench-") as tmp:
        bs = bundles(tmp)
        for name in ("nsbox-runc", "runc", "crun"):
            if not available(name):
                continue
            rt = Runtime(name, os.path.join(tmp, "root-" + name))
            results["run"][name] = {label: summary(time_runs(rt, b, args.runs)) for label, b in bs.items()}
            r = results["run"][name]
            r["limits_cost_ms"] = round(r["limits"]["median_ms"] - r["no limits"]["median_ms"], 1)
    results["pieces"] = pieces(args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"run of `true` ({args.runs} runs each; median / p90 ms)")
    print(f"{'runtime':<12}{'no limits':>18}{'limits':>18}{'limits cost':>14}")
    for name, r in results["run"].items():
        nl, li = r["no limits"], r["limits"]
        print(f"{name:<12}{nl['median_ms']:>10.1f} / {nl['p90_ms']:<6.1f}{li['median_ms']:>10.1f} / "
              f"{li['p90_ms']:<6.1f}{r['limits_cost_ms']:>+12.1f}")
    p = results["pieces"]
    print(f"\nnsbox cgroup set-up, in-process ({p['hierarchies']} hierarchies; median / p90 ms)")
    for key in ("plan", "create", "add", "procs_write_warm", "destroy"):
        if key in p:
            print(f"  {key:<16}{p[key]['median_ms']:>8.1f} / {p[key]['p90_ms']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
