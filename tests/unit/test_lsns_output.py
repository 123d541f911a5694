"""nsbox lsns output, byte for byte against util-linux 2.38 lsns, from captured fixtures (no privileges).

tests/fixtures/lsns/outputs.json holds, per option set, what ``lsns`` printed and the
``lsns -J --output-all`` data it was printed from (captured with the same data before and after).
The data is turned back into namespace records and rendered by nsbox's own code.
"""

from __future__ import annotations

import json
import os

import pytest

from nsbox.cli import lsns, smartcols
from nsbox.ns.inspect import Namespace, ProcessNamespaces
from nsbox.ns.types import NamespaceType

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "lsns", "outputs.json")
with open(FIXTURE) as _f:
    CAPTURE = json.load(_f)
FILLER_PID = 2**31  # pids above any real one: they make up NPROCS without changing the lowest PID


def flatten(rows):
    for row in rows:
        yield row
        yield from flatten(row.get("children", []))


def records_from(data):
    """Namespace records and representative processes equivalent to an lsns --output-all dump."""
    namespaces, procs = [], {}
    for row in flatten(data["namespaces"]):
        ns_type = NamespaceType.from_name(row["type"])
        ns = Namespace(type=ns_type, inode=row["ns"], owner=row["ons"] or None, parent=row["pns"] or None,
                       uid=row["uid"], user=row["user"], command=row["command"], ppid=row["ppid"],
                       nsfs=row["nsfs"].split("\n") if row["nsfs"] else [], path=row["path"])
        if row["pid"] is not None:
            ns.pids = [row["pid"]] + list(range(FILLER_PID, FILLER_PID + row["nprocs"] - 1))
            netnsid = {"unassigned": -1, None: None}.get(row["netnsid"], None)
            if row["netnsid"] not in ("unassigned", None):
                netnsid = int(row["netnsid"])
            proc = procs.setdefault(row["pid"], ProcessNamespaces(row["pid"], row["ppid"], row["uid"], {}))
            proc.ns[ns_type] = (ns.inode, row["pns"], row["ons"])
            if ns_type is NamespaceType.NET:
                proc.netnsid = netnsid
        namespaces.append(ns)
    namespaces.sort(key=lambda n: n.inode)
    return namespaces, procs


@pytest.fixture
def capture_locale(monkeypatch):
    for key, value in CAPTURE["env"].items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


def test_fixture_was_made_by_util_linux_2_38():
    assert CAPTURE["lsns"] == "lsns from util-linux 2.38.1"
    assert len(CAPTURE["cases"]) >= 20


@pytest.mark.parametrize("case", CAPTURE["cases"], ids=lambda c: " ".join(c["args"]) or "(defaults)")
def test_output_matches_util_linux(case, capture_locale, monkeypatch):
    o = lsns.parse_args(case["args"])
    namespaces, procs = records_from(case["data"])
    # The data came from one lsns run; render from it exactly (user names as that run saw them).
    users = {ns.uid: ns.user for ns in namespaces}
    monkeypatch.setattr("nsbox.ns.inspect.user_name", lambda uid: users.get(uid, str(uid)))
    assert lsns.render(o, namespaces, procs) == case["stdout"]


def test_json_types_and_nulls_follow_util_linux():
    case = next(c for c in CAPTURE["cases"] if c["args"] == ["-J", "--output-all"])
    rows = list(flatten(case["data"]["namespaces"]))
    numbers = {"ns", "nprocs", "pid", "ppid", "uid", "pns", "ons"}
    for row in rows:
        for key in numbers:
            assert row[key] is None or isinstance(row[key], int), (key, row)
        for key in ("type", "path", "command", "user", "netnsid", "nsfs"):
            assert row[key] is None or isinstance(row[key], str), (key, row)
    assert any(r["netnsid"] == "unassigned" for r in rows)   # a string even when numeric-looking


def test_empty_json_table_has_util_linux_layout():
    table = smartcols.Table([smartcols.Column("NS", json_type="number")], "namespaces", json=True)
    assert table.render() == '{\n   "namespaces": [\n\n   ]\n}\n'


def test_empty_human_table_prints_nothing():
    assert smartcols.Table([smartcols.Column("NS")], "namespaces").render() == ""


def test_raw_escapes_blanks_backslashes_and_non_ascii():
    assert smartcols.raw_encode("a b\\c\u2514\n") == "a\\x20b\\x5cc\\xe2\\x94\\x94\\x0a"


def test_json_escapes_quotes_and_control_characters():
    assert smartcols.json_quote('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\u0001"'


def test_ascii_tree_symbols_without_utf8_locale():
    cols = [smartcols.Column("NS", tree=True), smartcols.Column("TYPE")]
    table = smartcols.Table(cols, utf8=False)
    root = table.new_line(["1", "user"])
    child = table.new_line(["2", "user"], root)
    table.new_line(["3", "net"], child)
    table.new_line(["4", "net"], root)
    assert table.render() == "NS    TYPE\n1     user\n|-2   user\n| `-3 net\n`-4   net\n"


def test_multiline_nsfs_cell_continues_on_next_lines():
    cols = [smartcols.Column("NS", 10, right=True), smartcols.Column("NSFS", wrap=True),
            smartcols.Column("COMMAND")]
    table = smartcols.Table(cols, utf8=True)
    table.new_line(["4026532531", "/run/netns/a\n/tmp/b", "sleep"])
    assert table.render() == ("        NS NSFS         COMMAND\n"
                              "4026532531 /run/netns/a sleep\n"
                              "           /tmp/b       \n")


def test_locale_detection_order():
    assert smartcols.locale_is_utf8({"LANG": "C.UTF-8"})
    assert smartcols.locale_is_utf8({"LC_ALL": "C.utf8", "LANG": "C"})
    assert not smartcols.locale_is_utf8({"LANG": "xx_YY.UTF-8"})   # not installed: the C locale
    assert not smartcols.locale_is_utf8({"LC_ALL": "C", "LANG": "C.UTF-8"})
    assert not smartcols.locale_is_utf8({})


def test_terminal_truncates_command_but_not_below_its_header():
    cols = [smartcols.Column("NS", 10, right=True), smartcols.Column("COMMAND", trunc=True)]
    table = smartcols.Table(cols, utf8=True)
    table.new_line(["4026531834", "x" * 100])
    out = table.render(is_term=True, termwidth=40)
    assert out.splitlines()[1] == "4026531834 " + "x" * 29
