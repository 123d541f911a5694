"""nsbox.oci.config: reading <bundle>/config.json."""

from __future__ import annotations

import json
import os

import pytest

from nsbox.errors import SpecError
from nsbox.oci import load_config, parse_config, rootfs_path
from tests.fixtures.oci_spec import examples


def write(bundle, text):
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(text)


def test_load_config_reads_the_document_and_keeps_unknown_fields(tmp_path):
    doc = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "org.example.future": {"x": [1, 2]}}
    write(tmp_path, json.dumps(doc))
    assert load_config(str(tmp_path)) == doc


def test_missing_config_names_the_path(tmp_path):
    with pytest.raises(SpecError) as err:
        load_config(str(tmp_path))
    path = os.path.join(str(tmp_path), "config.json")
    assert err.value.problems == [("$", f"cannot read {path}: No such file or directory")]
    assert path in str(err.value)


def test_config_that_is_a_directory_is_a_spec_error(tmp_path):
    os.mkdir(tmp_path / "config.json")
    with pytest.raises(SpecError, match="Is a directory"):
        load_config(str(tmp_path))


def test_malformed_json_reports_line_and_column(tmp_path):
    write(tmp_path, '{\n  "ociVersion": "1.0.2",\n  "root": {"path": "rootfs",}\n}\n')
    with pytest.raises(SpecError) as err:
        load_config(str(tmp_path))
    [(path, msg)] = err.value.problems
    assert path == "$"
    # the decoder's own words and column: Python 3.13 names the trailing comma (column 28), older ones
    # the missing property name after it (column 29)
    assert msg.startswith(("invalid JSON at line 3 column 29: Expecting property name",
                           "invalid JSON at line 3 column 28: Illegal trailing comma")), msg


@pytest.mark.parametrize("path", examples("config", "bad") + examples("state", "bad"),
                         ids=os.path.basename)
def test_spec_invalid_json_examples_are_rejected(path):
    with open(path) as f:
        text = f.read()
    try:
        json.loads(text)
    except ValueError:
        with pytest.raises(SpecError, match=r"invalid JSON at line 1 column 2"):
            parse_config(text)
    else:
        assert isinstance(parse_config(text), dict)


@pytest.mark.parametrize("text,kind", [("[]", "array"), ('"x"', "string"), ("null", "null"), ("3", "number")])
def test_top_level_must_be_an_object(text, kind):
    with pytest.raises(SpecError) as err:
        parse_config(text)
    assert err.value.problems == [("$", f"must be a JSON object, got {kind}")]


def test_non_utf8_is_a_spec_error():
    with pytest.raises(SpecError, match="not UTF-8 at byte 16"):
        parse_config(b'{"ociVersion": "\xff"}')


def test_rootfs_path_is_relative_to_the_bundle(tmp_path):
    assert rootfs_path({"root": {"path": "rootfs"}}, str(tmp_path)) == os.path.join(str(tmp_path), "rootfs")
    assert rootfs_path({"root": {"path": "/srv/r/../root"}}, str(tmp_path)) == "/srv/root"
