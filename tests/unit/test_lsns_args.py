"""nsbox lsns command line: util-linux 2.38 lsns's options, defaults, quirks, messages and exit codes."""

from __future__ import annotations

import struct

import pytest

from nsbox.cli import lsns
from nsbox.linux import netnsid
from nsbox.ns import inspect
from nsbox.ns.types import NamespaceType


def run_main(argv, capsys):
    code = lsns.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["-t", "foo"], "lsns: unknown namespace type: foo\n"),
    (["-t", "mount"], "lsns: unknown namespace type: mount\n"),
    (["-o", "FOO"], "lsns: unknown column: FOO\n"),
    (["-o", "NS,FOO,BAR"], "lsns: unknown column: FOO,BAR\n"),
    (["-o", "NS,"], "lsns: unknown column: NS,\n"),
    (["-o", ""], ""),
    (["-o", "NS,,TYPE"], ""),
    (["-p", "abc"], "lsns: invalid PID argument: 'abc'\n"),
    (["-p", "99999999999"], "lsns: invalid PID argument: '99999999999': Numerical result out of range\n"),
    (["abc"], "lsns: invalid namespace argument: 'abc'\n"),
    (["--", "-5"], "lsns: invalid namespace argument: '-5': Numerical result out of range\n"),
    (["-p", "5", "4026531836"], "lsns: --task is mutually exclusive with <namespace>\n"),
    (["-J", "-r"], "lsns: mutually exclusive arguments: --json --raw\n"),
    (["-P", "-p", "1"], "lsns: mutually exclusive arguments: --persistent --task\n"),
    (["--tree=foo"], "lsns: unknown tree type: foo\n"),
    (["-Tfoo"], "lsns: unknown tree type: foo\n"),
    (["-X"], "lsns: invalid option -- 'X'\nTry 'lsns --help' for more information.\n"),
    (["--foo"], "lsns: unrecognized option '--foo'\nTry 'lsns --help' for more information.\n"),
    (["-p"], "lsns: option requires an argument -- 'p'\nTry 'lsns --help' for more information.\n"),
    (["--output"], "lsns: option '--output' requires an argument\nTry 'lsns --help' for more information.\n"),
    (["--json=1"], "lsns: option '--json' doesn't allow an argument\nTry 'lsns --help' for more information.\n"),
])
def test_bad_input_is_one_clear_message_and_exit_1(argv, message, capsys):
    code, out, err = run_main(argv, capsys)
    assert (code, out, err) == (1, "", message)


def test_defaults_are_process_tree_with_standard_columns():
    o = lsns.parse_args([])
    assert o.columns == ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"]
    assert o.tree == lsns.TREE_PROCESS


def test_net_type_adds_netnsid_and_nsfs_columns():
    assert lsns.parse_args(["-t", "net"]).columns == ["NS", "TYPE", "NPROCS", "PID", "USER", "NETNSID", "NSFS",
                                                     "COMMAND"]


def test_list_turns_the_default_tree_off_and_output_all_is_flat():
    assert lsns.parse_args(["-l"]).tree == lsns.TREE_NONE
    o = lsns.parse_args(["--output-all"])
    assert o.tree == lsns.TREE_NONE and o.columns == list(lsns.COLUMNS)


def test_output_replaces_and_plus_appends_case_insensitively():
    assert lsns.parse_args(["-o", "ns,Type"]).columns == ["NS", "TYPE"]
    assert lsns.parse_args(["-o", "+pns,ONS"]).columns[-3:] == ["COMMAND", "PNS", "ONS"]


def test_tree_argument_only_when_attached():
    assert lsns.parse_args(["-T"]).tree == lsns.TREE_OWNER
    assert lsns.parse_args(["--tree=parent"]).tree == lsns.TREE_PARENT
    assert lsns.parse_args(["-Tprocess"]).tree == lsns.TREE_PROCESS
    o = lsns.parse_args(["-T", "4026531837"])   # a detached word is the <namespace> argument
    assert o.tree == lsns.TREE_OWNER and o.namespace == 4026531837


def test_namespace_argument_lists_processes_columns():
    o = lsns.parse_args(["4026531836"])
    assert o.columns == ["PID", "PPID", "USER", "COMMAND"] and o.tree == lsns.TREE_PROCESS


def test_clustered_short_options_and_long_prefixes():
    o = lsns.parse_args(["-Jnup", "1", "--now", "-tnet"])
    assert (o.json, o.noheadings, o.notruncate, o.pid, o.nowrap) == (True, True, True, 1, True)
    assert o.types == [NamespaceType.NET]


def test_ambiguous_long_prefix_is_refused(capsys):
    code, _, err = run_main(["--no"], capsys)
    assert code == 1 and "is ambiguous" in err and err.endswith("Try 'lsns --help' for more information.\n")


def test_help_and_version(capsys):
    code, out, _ = run_main(["-h"], capsys)
    assert code == 0 and out.startswith("\nUsage:\n lsns [options] [<namespace>]\n")
    assert "     NETNSID  namespace ID as used by network subsystem\n" in out
    code, out, _ = run_main(["-V"], capsys)
    assert code == 0 and out.startswith("lsns from nsbox ")


# ---- namespace grouping (what util-linux does with the processes it read) ----------------------

def proc(pid, ppid, uid, **inodes):
    ns = {NamespaceType.from_name(k): (v, 0, 1) for k, v in inodes.items()}
    return inspect.ProcessNamespaces(pid, ppid, uid, ns)


def test_group_by_namespace_takes_the_lowest_pid_as_representative():
    procs = [proc(30, 1, 1000, net=7, user=9), proc(12, 1, 0, net=7, user=8), proc(40, 30, 1000, net=6)]
    found = {ns.inode: ns for ns in inspect.group_by_namespace(procs)}
    assert found[7].pids == [30, 12] and found[7].pid == 12 and found[7].uid == 0
    assert found[7].path == "/proc/12/ns/net" and found[7].ppid == 1
    assert found[6].nprocs == 1 and found[6].uid == 1000
    assert [ns.inode for ns in inspect.group_by_namespace(procs)] == [7, 9, 8, 6]  # util-linux's meeting order


def test_nsfs_mounts_groups_targets_by_namespace():
    mountinfo = [
        {"fstype": "nsfs", "root": "net:[5]", "mountpoint": "/run/netns/a"},
        {"fstype": "nsfs", "root": "net:[5]", "mountpoint": "/run/netns/a"},
        {"fstype": "nsfs", "root": "net:[5]", "mountpoint": "/tmp/b"},
        {"fstype": "ext4", "root": "/", "mountpoint": "/"},
    ]
    assert inspect.nsfs_mounts(mountinfo) == {"net:[5]": ["/run/netns/a", "/tmp/b"]}


def test_list_namespaces_rejects_unknown_type_names():
    from nsbox.errors import NamespaceError
    with pytest.raises(NamespaceError, match="unknown namespace type: bogus"):
        inspect.list_namespaces(types=["bogus"])


# ---- RTM_GETNSID framing ----------------------------------------------------------------------

def test_netnsid_request_is_one_rtm_getnsid_with_an_fd_attribute():
    req = netnsid.build_request(7, seq=3)
    length, mtype, flags, seq, _ = struct.unpack_from("=IHHII", req)
    assert (length, mtype, flags, seq) == (len(req), netnsid.RTM_GETNSID, netnsid.NLM_F_REQUEST, 3)
    assert struct.unpack_from("=HHi", req, 20) == (8, netnsid.NETNSA_FD, 7)


def answer(mtype, *attrs):
    body = struct.pack("=B3x", 0) + b"".join(struct.pack("=HHi", 8, t, v) for t, v in attrs)
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 1, 0) + body


def test_netnsid_answers():
    assert netnsid.parse_response(answer(netnsid.RTM_NEWNSID, (netnsid.NETNSA_NSID, 4))) == 4
    assert netnsid.parse_response(answer(netnsid.RTM_NEWNSID, (2, 9), (netnsid.NETNSA_NSID, -1))) == -1
    err = struct.pack("=IHHII", 36, netnsid.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -22) + bytes(16)
    with pytest.raises(OSError) as info:
        netnsid.parse_response(err)
    assert info.value.errno == 22
