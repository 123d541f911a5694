"""Masked and read-only paths of runc's default spec, seen from inside the container.

Masked (/proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware, ...): nothing readable (empty, or
EACCES/EPERM); read-only (/proc/sys, /proc/sysrq-trigger, /proc/bus, /proc/fs, /proc/irq): on a
read-only mount, and /proc/sys/kernel/domainname cannot even be opened for writing. Paths this kernel
does not have (kcore, sysrq-trigger, ... depend on its config) are reported as absent and skipped.
Weakened (no masked/read-only paths, every capability, no seccomp): the same reader gets the data.
"""

from tests.fixtures.escape_bundles import attack_args, make_bundle, runtime, weaken  # noqa: F401


def test_masked_and_readonly_paths_hold(runtime, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("proc_check.py"))
    report = runtime.run_json(bundle, unique_id)
    assert report["proc_is_procfs"], report
    present = {p: v for p, v in report["masked"].items() if v is not None}
    assert {"/proc/keys", "/proc/timer_list", "/sys/firmware"} <= set(present), report
    leaks = {p: v for p, v in present.items() if v not in (0, "EACCES", "EPERM")}
    assert not leaks, f"{runtime.name}: masked paths readable: {leaks}"
    writable = {p: v for p, v in report["writable"].items() if v is not None and v is not False}
    assert not writable, f"{runtime.name}: read-only paths writable: {writable}"
    assert report["open_domainname_wr"] in ("EROFS", "EACCES", "EPERM"), report


def test_reader_gets_the_data_when_weakened(runtime, tmp_path, unique_id):
    bundle = make_bundle(str(tmp_path / "bundle"), attack_args("proc_check.py"))
    weaken(bundle.config)
    report = runtime.run_json(bundle, unique_id)
    assert report["masked"]["/proc/timer_list"] > 0, report
    assert report["masked"]["/sys/firmware"] > 0, report
    assert report["writable"]["/proc/sys"] is True, report
    assert report["open_domainname_wr"] == "opened", report  # opened, never written
