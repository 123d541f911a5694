"""nsbox.oci.state: `runc state` and `runc list -f json` documents."""

from __future__ import annotations

import json

import pytest

from nsbox.oci import format_created, list_entry, parse_created, state_document
from tests.fixtures.oci_spec import examples, schema_validator

ARGS = dict(container_id="c1", pid=4242, bundle="/b", rootfs="/b/rootfs",
            created="2026-11-23T10:42:07.123456789Z")


def test_state_field_order_is_runcs():
    doc = state_document(status="created", owner="", annotations=None, **ARGS)
    assert list(doc) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    assert doc["ociVersion"] == "1.0.2-dev" and doc["pid"] == 4242 and doc["owner"] == ""


def test_annotations_only_when_not_empty_and_before_owner():
    assert "annotations" not in state_document(status="running", owner="", annotations={}, **ARGS)
    doc = state_document(status="running", owner="", annotations={"a": "b"}, **ARGS)
    assert list(doc)[-2:] == ["annotations", "owner"]
    assert doc["annotations"] == {"a": "b"}


def test_list_entry_has_the_owner():
    doc = list_entry(status="stopped", owner="root", **{**ARGS, "pid": 0})
    assert doc["owner"] == "root" and doc["pid"] == 0 and doc["status"] == "stopped"


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        state_document(status="exploded", owner="", **ARGS)


@pytest.mark.parametrize("status", ["creating", "created", "running", "stopped"])
def test_state_document_is_valid_against_the_schema(status):
    validator = schema_validator("state-schema.json")
    doc = state_document(status=status, owner="", annotations={"k": "v"}, **ARGS)
    assert list(validator.iter_errors(doc)) == []
    # and the schema does reject a broken one, so the check above means something
    assert list(validator.iter_errors({**doc, "pid": -1}))


def test_schema_examples_parse():
    validator = schema_validator("state-schema.json")
    for path in examples("state", "good"):
        with open(path) as f:
            assert list(validator.iter_errors(json.load(f))) == []


@pytest.mark.parametrize("ns,text", [
    (0, "1970-01-01T00:00:00Z"),
    (1_700_000_000_000_000_000, "2023-11-14T22:13:20Z"),
    (1_700_000_000_123_456_000, "2023-11-14T22:13:20.123456Z"),
    (1_700_000_000_000_000_001, "2023-11-14T22:13:20.000000001Z"),
    (1_700_000_000_100_000_000, "2023-11-14T22:13:20.1Z"),
])
def test_format_created_is_go_rfc3339nano(ns, text):
    assert format_created(ns) == text
    assert parse_created(text) == ns


@pytest.mark.parametrize("text", ["2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20.x1Z"])
def test_parse_created_rejects(text):
    with pytest.raises(ValueError):
        parse_created(text)


def test_state_json_is_go_marshal_indent():
    from nsbox.oci import state_json
    doc = state_document(status="created", owner="", **{**ARGS, "bundle": "/b&<x>"})
    text = state_json(doc)
    assert text.startswith('{\n  "ociVersion": "1.0.2-dev",\n  "id": "c1",\n') and text.endswith('"owner": ""\n}')
    assert '"bundle": "/b\\u0026\\u003cx\\u003e"' in text
    assert json.loads(text) == doc


def test_list_json():
    from nsbox.oci import list_json
    assert list_json([]) == "null\n"
    entry = list_entry(status="running", owner="root", **ARGS)
    text = list_json([entry, entry])
    assert text.endswith("}]\n") and "\n" not in text[:-1] and ", " not in text
    assert json.loads(text) == [entry, entry]


def test_list_table_is_tabwriter_aligned():
    from nsbox.oci import list_table
    assert list_table([]) == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
    long_id = "a-much-longer-container-id"
    rows = list_table([list_entry(status="created", owner="root", **{**ARGS, "container_id": long_id})]).splitlines()
    assert rows[0] == ("ID" + " " * 27 + "PID         STATUS      BUNDLE      "
                       + "CREATED" + " " * 26 + "OWNER")
    assert rows[1] == (long_id + "   4242        created     /b          2026-11-23T10:42:07.123456789Z   root")


def test_owner_of():
    from nsbox.oci import owner_of
    assert owner_of(0) == "root"
    assert owner_of(4_000_000_000) == "#4000000000"
