"""nsbox.oci.features and the capability/rlimit name tables."""

from __future__ import annotations

import resource

from nsbox.oci import capability_names, features_document, kernel_capabilities, rlimit_types
from nsbox.oci.mountopts import known_options
from tests.fixtures.oci_spec import examples, schema_validator


def test_features_document_is_valid_against_the_schema():
    validator = schema_validator("features-schema.json")
    doc = features_document()
    assert list(validator.iter_errors(doc)) == []
    # the schema rejects a document missing a required field, so the check above is not vacuous
    assert list(validator.iter_errors({k: v for k, v in doc.items() if k != "ociVersionMax"}))


def test_schema_examples_agree():
    validator = schema_validator("features-schema.json")
    import json
    for path in examples("features", "good"):
        with open(path) as f:
            assert list(validator.iter_errors(json.load(f))) == []


def test_features_content():
    doc = features_document()
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"] == "1.0.2-dev"
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                            "poststop"]
    linux = doc["linux"]
    assert set(linux["namespaces"]) >= {"mount", "pid", "network", "uts", "ipc", "user", "cgroup"}
    assert linux["capabilities"] == list(kernel_capabilities())
    assert linux["apparmor"] == {"enabled": False} and linux["selinux"] == {"enabled": False}
    from nsbox.oci.validate import SECCOMP_FLAGS
    assert linux["seccomp"]["knownFlags"] == list(SECCOMP_FLAGS)
    assert linux["cgroup"]["v1"] and linux["cgroup"]["v2"] and not linux["cgroup"]["systemd"]
    # every advertised mount option is one the parser understands
    assert set(doc["mountOptions"]) <= set(known_options(include_idmap=True))
    assert "tmpcopyup" not in doc["mountOptions"] and "idmap" not in doc["mountOptions"]
    assert doc["mountOptions"] == sorted(doc["mountOptions"])


def test_capability_table():
    names = capability_names()
    assert len(names) == 41
    assert names["CAP_CHOWN"] == 0 and names["CAP_SYS_ADMIN"] == 21 and names["CAP_CHECKPOINT_RESTORE"] == 40
    assert sorted(names.values()) == list(range(41))
    names["CAP_CHOWN"] = 99  # a copy: callers cannot corrupt the table
    assert capability_names()["CAP_CHOWN"] == 0


def test_kernel_capabilities_follow_cap_last_cap(tmp_path):
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    assert max(kernel_capabilities().values()) == last
    fake = tmp_path / "cap_last_cap"
    fake.write_text("37\n")
    caps = kernel_capabilities(str(fake))
    assert max(caps.values()) == 37 and "CAP_PERFMON" not in caps and "CAP_AUDIT_READ" in caps


def test_rlimit_types_match_the_resource_module():
    types = rlimit_types()
    assert len(types) == 16
    for name, number in types.items():
        if hasattr(resource, name):
            assert getattr(resource, name) == number
    assert types["RLIMIT_LOCKS"] == 10  # the one Python's resource module lacks
    assert types["RLIMIT_NOFILE"] == resource.RLIMIT_NOFILE
