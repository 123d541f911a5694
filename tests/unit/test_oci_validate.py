"""nsbox.oci.validate: every rule, with the JSON path it reports; agreement with the real schema."""

from __future__ import annotations

import copy
import json
import os

import pytest

from nsbox.errors import SpecError
from nsbox.oci import default_spec, validate_config
from nsbox.oci.validate import config_problems
from tests.fixtures.oci_spec import examples, schema_validator

DELETE = object()


def mutated(doc: dict, changes: dict) -> dict:
    """A deep copy of doc with {"linux.namespaces.2.type": value} applied (DELETE removes the key)."""
    doc = copy.deepcopy(doc)
    for dotted, value in changes.items():
        keys = [int(k) if k.isdigit() else k for k in dotted.split(".")]
        target = doc
        for key in keys[:-1]:
            if isinstance(target, dict) and key not in target:
                target[key] = {}
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        elif isinstance(target, list) and keys[-1] == len(target):
            target.append(value)
        else:
            target[keys[-1]] = value
    return doc


def problems_of(doc, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        validate_config(doc, **kwargs)
    return err.value.problems


def load(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------ accepted documents

def test_default_spec_is_valid():
    validate_config(default_spec())
    validate_config(default_spec(rootless=True), rootless=True)


@pytest.mark.parametrize("path", examples("config", "good"), ids=os.path.basename)
def test_spec_good_examples_are_accepted(path):
    doc = load(path)
    validate_config(doc, require_process="process" in doc)


def test_config_without_process_needs_require_process_false():
    doc = mutated(default_spec(), {"process": DELETE})
    assert problems_of(doc) == [("$.process", "is required to create a container")]
    validate_config(doc, require_process=False)


# Bad examples about fields nsbox does not read (FreeBSD jails) are out of scope.
NOT_READ_BY_NSBOX = {"freebsd-vnet-disable.json"}


@pytest.mark.parametrize("path", [p for p in examples("config", "bad") if not p.endswith("invalid-json.json")],
                         ids=os.path.basename)
def test_spec_bad_examples_are_rejected(path):
    doc = load(path)
    if os.path.basename(path) in NOT_READ_BY_NSBOX:
        assert config_problems(doc, require_process=False) == []
        return
    expected = {
        "linux-hugepage.json": "$.linux.resources.hugepageLimits[0].pageSize",
        "linux-netdevice.json": "$.linux.netDevices.eth0.name",
        "linux-rdma.json": "$.linux.resources.rdma.mlx5_1.hcaHandles",
    }[os.path.basename(path)]
    assert [p for p, _ in problems_of(doc, require_process=False)] == [expected]


def test_error_lists_every_problem_and_names_the_bundle(tmp_path):
    doc = mutated(default_spec(), {"process.args": [], "mounts.0.destination": "proc",
                                   "linux.namespaces.2.type": "foo"})
    with pytest.raises(SpecError) as err:
        validate_config(doc, bundle=str(tmp_path))
    paths = [p for p, _ in err.value.problems]
    assert paths == ["$.linux.namespaces[2].type", "$.root.path", "$.process.args", "$.mounts[0].destination"]
    text = str(err.value)
    assert text.startswith(os.path.join(str(tmp_path), "config.json") + ": 4 problems: ")
    assert '$.linux.namespaces[2].type: unknown namespace type "foo"' in text


# ------------------------------------------------------------------ every rule, with its path

USERNS = {"linux.namespaces.5": {"type": "user"},
          "linux.uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
          "linux.gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}

RULES = [
    # (changes, rootless, expected (path, message) somewhere in the problems)
    ({"ociVersion": DELETE}, False, ("$.ociVersion", "is required")),
    ({"ociVersion": 1}, False, ("$.ociVersion", "must be a string, got integer")),
    ({"ociVersion": "2.0.0"}, False, ("$.ociVersion", 'unsupported version "2.0.0": nsbox implements 1.x')),
    ({"ociVersion": "one"}, False, ("$.ociVersion", '"one" is not a semantic version such as 1.0.2')),
    ({"root": DELETE}, False, ("$.root", "is required on Linux (the container's root filesystem)")),
    ({"root.path": DELETE}, False, ("$.root.path", "is required")),
    ({"root.path": ""}, False, ("$.root.path", "must not be empty")),
    ({"root.readonly": "yes"}, False, ("$.root.readonly", "must be a boolean, got string")),
    ({"process.args": []}, False, ("$.process.args", "must be a non-empty array of strings")),
    ({"process.args": DELETE}, False, ("$.process.args", "must be a non-empty array of strings")),
    ({"process.args": ["sh", 3]}, False, ("$.process.args[1]", "must be a string, got integer")),
    ({"process.args": [""]}, False, ("$.process.args[0]", "must name the program to run")),
    ({"process.cwd": DELETE}, False, ("$.process.cwd", "is required")),
    ({"process.cwd": "tmp"}, False, ("$.process.cwd", '"tmp" must be an absolute path')),
    ({"process.env.2": "NOEQUALS"}, False, ("$.process.env[2]", '"NOEQUALS" is missing "="')),
    ({"process.env.2": "=x"}, False, ("$.process.env[2]", "variable name must not be empty")),
    ({"process.env.2": "A=\0"}, False, ("$.process.env[2]", "must not contain a NUL byte")),
    ({"process.terminal": 1}, False, ("$.process.terminal", "must be a boolean, got integer")),
    ({"process.user.uid": -1}, False, ("$.process.user.uid", "-1 is out of range for uint32 (0..4294967295)")),
    ({"process.user.gid": 1 << 32}, False,
     ("$.process.user.gid", "4294967296 is out of range for uint32 (0..4294967295)")),
    ({"process.user.additionalGids": [1, "2"]}, False,
     ("$.process.user.additionalGids[1]", "must be an integer (uint32), got string")),
    ({"process.user.uid": 1.0}, False, ("$.process.user.uid", "must be an integer (uint32), got number")),
    ({"process.rlimits.0.type": "RLIMIT_FOO"}, False, ("$.process.rlimits[0].type", 'unknown rlimit "RLIMIT_FOO"')),
    ({"process.rlimits.0.type": "nofile"}, False,
     ("$.process.rlimits[0].type", "'nofile' does not match RLIMIT_[A-Z]+")),
    ({"process.rlimits.1": {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}}, False,
     ("$.process.rlimits[1].type", 'duplicate rlimit "RLIMIT_NOFILE"')),
    ({"process.rlimits.0.soft": 2048}, False,
     ("$.process.rlimits[0].soft", "soft limit 2048 is above the hard limit 1024")),
    ({"process.rlimits.0.hard": DELETE}, False, ("$.process.rlimits[0].hard", "is required")),
    ({"process.capabilities.bounding.1": "CAP_FLY"}, False,
     ("$.process.capabilities.bounding[1]", 'unknown capability "CAP_FLY"')),
    ({"process.capabilities.ambient": "CAP_KILL"}, False,
     ("$.process.capabilities.ambient", "must be an array, got string")),
    ({"process.ioPriority": {"class": "IOPRIO_CLASS_FAST"}}, False,
     ("$.process.ioPriority.class", 'unknown I/O priority class "IOPRIO_CLASS_FAST"')),
    ({"process.scheduler": {"nice": 1}}, False, ("$.process.scheduler.policy", "is required")),
    ({"process.execCPUAffinity": {"initial": "a"}}, False,
     ("$.process.execCPUAffinity.initial", "'a' does not match a cpu list such as 0-3,7")),
    ({"process.consoleSize": {"height": 1}}, False, ("$.process.consoleSize.width", "is required")),
    ({"hooks.prestart": [{"path": "bin/hook"}]}, False,
     ("$.hooks.prestart[0].path", '"bin/hook" must be an absolute path')),
    ({"hooks.poststop": [{"path": "/bin/true", "timeout": 0}]}, False,
     ("$.hooks.poststop[0].timeout", "0 is out of range for timeout > 0 (1..9223372036854775807)")),
    ({"hooks.createRuntime": [{"args": ["x"]}]}, False, ("$.hooks.createRuntime[0].path", "is required")),
    ({"hooks.startContainer": {"path": "/x"}}, False, ("$.hooks.startContainer", "must be an array, got object")),
    ({"mounts.3.destination": "dev/shm"}, False, ("$.mounts[3].destination", '"dev/shm" must be an absolute path')),
    ({"mounts.3.destination": DELETE}, False, ("$.mounts[3].destination", "is required")),
    ({"mounts.7": {"destination": "/mnt", "type": "bind", "options": ["rbind"]}}, False,
     ("$.mounts[7].source", "is required for a bind mount")),
    ({"mounts.7": {"destination": "/mnt", "source": "/x", "options": ["bind"],
                   "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}, False,
     ("$.mounts[7].gidMappings", "uidMappings and gidMappings must be given together")),
    ({"mounts.7": {"destination": "/mnt", "source": "/x", "options": ["bind"],
                   "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
                   "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}, False,
     ("$.mounts[7].options", 'id mappings need the "idmap" or "ridmap" option')),
    ({"mounts.1.options.0": 7}, False, ("$.mounts[1].options[0]", "must be a string, got integer")),
    ({"linux.namespaces.2.type": "foo"}, False, ("$.linux.namespaces[2].type", 'unknown namespace type "foo"')),
    ({"linux.namespaces.5": {"type": "pid"}}, False, ("$.linux.namespaces[5].type", 'duplicate namespace "pid"')),
    ({"linux.namespaces.1.path": "run/netns/x"}, False,
     ("$.linux.namespaces[1].path", '"run/netns/x" must be an absolute path')),
    ({"linux.namespaces.5": {"path": "/proc/1/ns/net"}}, False, ("$.linux.namespaces[5].type", "is required")),
    ({"linux.namespaces.5": {"type": "user"}}, False,
     ("$.linux.uidMappings", "required when a user namespace is created")),
    ({"linux.namespaces.5": {"type": "user"}, "linux.uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}]},
     False, ("$.linux.gidMappings", "required when a user namespace is created")),
    ({"linux.namespaces.5": {"type": "user", "path": "/proc/1/ns/user"}}, False, None),
    ({"linux.uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}]}, False,
     ("$.linux.uidMappings", "id mappings given but no user namespace is configured")),
    ({"linux.uidMappings": [{"containerID": 0, "hostID": 0}]}, False, ("$.linux.uidMappings[0].size", "is required")),
    ({}, True, ("$.linux.namespaces", "a rootless container needs a user namespace")),
    ({"linux.namespaces.5": {"type": "user"}}, True,
     ("$.linux.uidMappings", "required when a user namespace is created rootless")),
    ({"linux.namespaces": [{"type": "pid"}]}, False, ("$.linux.maskedPaths", "needs a mount namespace")),
    ({"linux.namespaces": [{"type": "pid"}]}, False, ("$.linux.readonlyPaths", "needs a mount namespace")),
    ({"linux.namespaces": [{"type": "mount"}]}, False,
     ("$.hostname", "cannot set hostname without a UTS namespace")),
    ({"linux.namespaces": [{"type": "mount"}], "hostname": "", "domainname": "d"}, False,
     ("$.domainname", "cannot set domainname without a UTS namespace")),
    ({"linux.timeOffsets": {"monotonic": {"secs": 1}}}, False, ("$.linux.timeOffsets", "needs a new time namespace")),
    ({"linux.timeOffsets": {"monotonic": {"secs": 1, "nanosecs": -1}}, "linux.namespaces.5": {"type": "time"}},
     False, ("$.linux.timeOffsets.monotonic.nanosecs", "-1 is out of range for uint32 (0..4294967295)")),
    ({"linux.sysctl": {"net.ipv4.ip_forward": "1"}, "linux.namespaces.1": {"type": "cgroup"}}, False,
     ('$.linux.sysctl["net.ipv4.ip_forward"]', 'sysctl "net.ipv4.ip_forward" needs a network namespace')),
    ({"linux.sysctl": {"kernel.shmmax": "1"}, "linux.namespaces.2": {"type": "cgroup"}}, False,
     ('$.linux.sysctl["kernel.shmmax"]', 'sysctl "kernel.shmmax" needs an IPC namespace')),
    ({"linux.sysctl": {"fs.mqueue.msg_max": "1"}, "linux.namespaces.2": {"type": "cgroup"}}, False,
     ('$.linux.sysctl["fs.mqueue.msg_max"]', 'sysctl "fs.mqueue.msg_max" needs an IPC namespace')),
    ({"linux.sysctl": {"kernel.hostname": "x"}}, False,
     ('$.linux.sysctl["kernel.hostname"]', 'sysctl "kernel.hostname" conflicts with the "hostname" field')),
    ({"linux.sysctl": {"kernel.domainname": "x"}, "linux.namespaces.3": {"type": "cgroup"}, "hostname": ""},
     False, ('$.linux.sysctl["kernel.domainname"]',
             'sysctl "kernel.domainname" is not in a namespace the container has')),
    ({"linux.sysctl": {"vm.swappiness": "1"}}, False,
     ('$.linux.sysctl["vm.swappiness"]', 'sysctl "vm.swappiness" is not in a namespace the container has')),
    ({"linux.sysctl": {"net.core.somaxconn": 1}}, False,
     ('$.linux.sysctl["net.core.somaxconn"]', "must be a string, got integer")),
    ({"linux.maskedPaths.0": "proc/kcore"}, False, ("$.linux.maskedPaths[0]", '"proc/kcore" must be an absolute path')),
    ({"linux.readonlyPaths.0": "proc/sys"}, False,
     ("$.linux.readonlyPaths[0]", '"proc/sys" must be an absolute path')),
    ({"linux.devices": [{"type": "c", "path": "/dev/fuse", "minor": 229}]}, False,
     ("$.linux.devices[0].major", "is required for a c, b or u device")),
    ({"linux.devices": [{"type": "x", "path": "/dev/x"}]}, False,
     ("$.linux.devices[0].type", "'x' does not match one of c, b, u, p")),
    ({"linux.devices": [{"type": "p", "path": "dev/x"}]}, False,
     ("$.linux.devices[0].path", '"dev/x" must be an absolute path')),
    ({"linux.devices": [{"type": "p", "path": "/dev/x", "fileMode": -1}]}, False,
     ("$.linux.devices[0].fileMode", "-1 is out of range for uint32 file mode (0..4294967295)")),
    ({"linux.resources.devices.0.access": "rwx"}, False,
     ("$.linux.resources.devices[0].access", '"rwx" may only contain r, w and m')),
    ({"linux.resources.devices.0.type": "z"}, False,
     ("$.linux.resources.devices[0].type", '"z" is not one of a, b, c')),
    ({"linux.resources.devices.0.allow": DELETE}, False, ("$.linux.resources.devices[0].allow", "is required")),
    ({"linux.resources.pids": {}}, False, ("$.linux.resources.pids.limit", "is required")),
    ({"linux.resources.memory": {"limit": "1G"}}, False,
     ("$.linux.resources.memory.limit", "must be an integer (int64), got string")),
    ({"linux.resources.cpu": {"shares": -1}}, False,
     ("$.linux.resources.cpu.shares", "-1 is out of range for uint64 (0..18446744073709551615)")),
    ({"linux.resources.blockIO": {"weight": 70000}}, False,
     ("$.linux.resources.blockIO.weight", "70000 is out of range for uint16 (0..65535)")),
    ({"linux.resources.blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}, False,
     ("$.linux.resources.blockIO.throttleReadBpsDevice[0].minor", "is required")),
    ({"linux.resources.unified": {"memory.max": 5}}, False,
     ('$.linux.resources.unified["memory.max"]', "must be a string, got integer")),
    ({"linux.cgroupsPath": "/a/../../b"}, False, ("$.linux.cgroupsPath", '"/a/../../b" must not contain ".."')),
    ({"linux.rootfsPropagation": "privat"}, False,
     ("$.linux.rootfsPropagation", 'unknown rootfs propagation "privat"')),
    ({"linux.rootfsPropagation": "rslave"}, False, None),  # runc accepts the recursive forms too
    ({"linux.seccomp": {"syscalls": []}}, False, ("$.linux.seccomp.defaultAction", "is required")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}, False,
     ("$.linux.seccomp.defaultAction", 'unknown seccomp action "SCMP_ACT_NOPE"')),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}}, False,
     ("$.linux.seccomp.architectures[0]", 'unknown seccomp architecture "SCMP_ARCH_Z80"')),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}}, False,
     ("$.linux.seccomp.flags[0]", 'unknown seccomp flag "SECCOMP_FILTER_FLAG_X"')),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}},
     False, ("$.linux.seccomp.syscalls[0].names", "must have at least 1 item(s)")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}},
     False, ("$.linux.seccomp.syscalls[0].args[0].op", 'unknown seccomp operator "SCMP_CMP_XX"')),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}},
     False, ("$.linux.seccomp.syscalls[0].args[0].index", "6 is not a syscall argument index (0..5)")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}}, False,
     ("$.linux.seccomp.syscalls[0].errnoRet", "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}}, False,
     ("$.linux.seccomp.defaultErrnoRet", "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE as defaultAction")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_NOTIFY"}]}}, False,
     ("$.linux.seccomp.listenerPath", "is required when SCMP_ACT_NOTIFY is used")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/l.sock"}}, False,
     ("$.linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")),
    ({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l", "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}}, False,
     ("$.linux.seccomp.syscalls[0].action", "SCMP_ACT_NOTIFY cannot be used for write")),
    ({**USERNS, "process.user.uid": 1}, False, ("$.process.user.uid", "uid 1 is not mapped in linux.uidMappings")),
    ({**USERNS, "process.user.gid": 5}, False, ("$.process.user.gid", "gid 5 is not mapped in linux.gidMappings")),
    ({**USERNS, "process.user.additionalGids": [0, 7]}, False,
     ("$.process.user.additionalGids[1]", "gid 7 is not mapped in linux.gidMappings")),
    ({**USERNS, "mounts.2.options.5": "gid=5"}, True,
     ("$.mounts[2].options[5]", "gid=5 is not mapped in linux.gidMappings (rootless)")),
    ({**USERNS, "mounts.2.options.5": "gid=0", "linux.namespaces.1": {"type": "cgroup"}}, True, None),
    ({"linux.personality": {"domain": "LINUX64"}}, False,
     ("$.linux.personality.domain", 'unknown personality domain "LINUX64"')),
    ({"linux.intelRdt": {"memBwSchema": "L3:0=1"}}, False,
     ("$.linux.intelRdt.memBwSchema", "'L3:0=1' does not match MB:...")),
    ({"linux.memoryPolicy": {"mode": "MPOL_NONE"}}, False,
     ("$.linux.memoryPolicy.mode", 'unknown memory policy mode "MPOL_NONE"')),
    ({"annotations": {"a": 1}}, False, ("$.annotations.a", "must be a string, got integer")),
    ({"annotations": ["a"]}, False, ("$.annotations", "must be an object, got array")),
    ({"hostname": 5}, False, ("$.hostname", "must be a string, got integer")),
    ({"linux": []}, False, ("$.linux", "must be an object, got array")),
]


@pytest.mark.parametrize("changes,rootless,expected", RULES, ids=[str(i) for i in range(len(RULES))])
def test_rule(changes, rootless, expected):
    doc = mutated(default_spec(), changes)
    if expected is None:
        validate_config(doc, rootless=rootless)
        return
    problems = problems_of(doc, rootless=rootless)
    assert expected in problems
    # one problem per fault: never reported twice at the same path
    assert len(problems) == len(set(problems))


def test_rootfs_must_exist_in_the_bundle(tmp_path):
    doc = default_spec()
    rootfs = os.path.join(str(tmp_path), "rootfs")
    assert problems_of(doc, bundle=str(tmp_path)) == [("$.root.path", f"rootfs {rootfs} does not exist")]
    with open(rootfs, "w"):
        pass
    assert problems_of(doc, bundle=str(tmp_path)) == [("$.root.path", f"rootfs {rootfs} is not a directory")]
    os.unlink(rootfs)
    os.mkdir(rootfs)
    validate_config(doc, bundle=str(tmp_path))
    validate_config(mutated(doc, {"root.path": rootfs}), bundle="/nonexistent")


def test_non_object_config():
    assert problems_of([]) == [("$", "must be an object, got array")]


# ------------------------------------------------------------------ agreement with jsonschema

@pytest.fixture(scope="module")
def config_schema():
    return schema_validator("config-schema.json")


SHAPE_ONLY = [c for c, _, e in RULES if e is not None]


@pytest.mark.parametrize("changes", SHAPE_ONLY, ids=[str(i) for i in range(len(SHAPE_ONLY))])
def test_schema_errors_are_caught_by_validate_config(config_schema, changes):
    """Whenever the real schema rejects a document, validate_config does too, at the same path."""
    doc = mutated(default_spec(), changes)
    schema_errors = list(config_schema.iter_errors(doc))
    ours = {p for p, _ in config_problems(doc)}
    for error in schema_errors:
        if error.context:  # anyOf: the innermost reason
            from jsonschema.exceptions import best_match
            error = best_match(error.context)
        path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in error.absolute_path)
        # required-property errors are reported at the missing property
        if error.validator == "required":
            missing = error.message.split("'")[1]
            path = f"{path}.{missing}"
        normalized = {p.replace('["', ".").replace('"]', "") for p in ours}
        assert path in normalized, (error.message, ours)


@pytest.mark.parametrize("path", examples("config", "good") + examples("config", "bad")[2:],
                         ids=os.path.basename)
def test_schema_and_validate_config_agree_on_examples(config_schema, path):
    doc = load(path)
    schema_ok = not list(config_schema.iter_errors(doc))
    ours_ok = not config_problems(doc, require_process=False)
    if os.path.basename(path) in NOT_READ_BY_NSBOX:
        assert not schema_ok and ours_ok
    else:
        assert schema_ok == ours_ok


@pytest.mark.parametrize("changes", SHAPE_ONLY, ids=[str(i) for i in range(len(SHAPE_ONLY))])
def test_shape_pass_rejects_only_what_the_schema_rejects(config_schema, changes):
    """The converse: the hand-written shape table is not stricter than config-schema.json."""
    from nsbox.oci.validate import CONFIG

    doc = mutated(default_spec(), changes)
    shape: list = []
    CONFIG(doc, "$", shape)
    assert bool(shape) == bool(list(config_schema.iter_errors(doc))), shape


def _all_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _all_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _all_paths(value, prefix + (i,))


ODD_VALUES = [None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"": 1}, 1 << 70]


def test_validate_config_never_crashes_on_wrong_types():
    """Every node of a rich config replaced by every odd JSON value: a list of problems, never an exception."""
    base = mutated(default_spec(), {
        "hooks.prestart": [{"path": "/bin/true", "args": ["a"], "env": ["A=1"], "timeout": 3}],
        "linux.seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
        "linux.sysctl": {"net.ipv4.ip_forward": "1"},
        "linux.devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229}],
        "process.user.additionalGids": [0],
        "linux.uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "linux.gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "linux.namespaces.5": {"type": "user"},
    })
    validate_config(base)
    count = 0
    for path in _all_paths(base):
        for value in ODD_VALUES:
            doc = copy.deepcopy(base)
            if not path:
                doc = value
            else:
                target = doc
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
            for rootless in (False, True):
                problems = config_problems(doc, rootless=rootless, bundle="/nonexistent")
                assert isinstance(problems, list)
                assert all(isinstance(p, str) and p.startswith("$") and isinstance(m, str) for p, m in problems)
                count += 1
    assert count > 1000


SAMPLES = ["", "RLIMIT_NOFILE", "RLIMIT_", "RLIMIT_nofile", "RLIMIT_NO_FILE", "RLIMIT_É", "0-3,7", "0 - 3", "a",
           "2MB", "64kB", "1GB", "0MB", "12KB", "1B", "MB", "MB:0=100", "MB:", "L3:0=1", "MB:x\ny", "c", "b",
           "u", "p", "cb", "x", "1x", "10MB"]


@pytest.mark.parametrize("name,pattern", [
    ("_is_rlimit_name", r"^RLIMIT_[A-Z]+\Z"), ("_is_cpu_list", r"^[0-9, -]*\Z"),
    ("_is_page_size", r"^[1-9][0-9]*[KMG]B\Z"), ("_is_mem_bw_schema", r"^MB:[^\n]*\Z"),
    ("_is_device_type", r"^[cbup]\Z"),
])
def test_pattern_predicates_equal_the_schema_patterns(name, pattern):
    import re

    from nsbox.oci import validate
    accept = getattr(validate, name)
    for sample in SAMPLES:
        assert accept(sample) == bool(re.search(pattern, sample, re.ASCII)), sample


@pytest.mark.parametrize("version,major", [
    ("1.0.2-dev", 1), ("1.0.0", 1), ("1.2.1", 1), ("0.5.0-dev", 0), ("2.0.0", 2), ("1.0.0+build.1", 1),
    ("1.0.0-rc.1+b", 1), ("1.0", None), ("1.0.0-", None), ("1.0.0+", None), ("v1.0.0", None), ("1.0.x", None),
    ("1.0.0-dev!", None), ("", None),
])
def test_semver_major(version, major):
    from nsbox.oci.validate import _semver_major
    assert _semver_major(version) == major
