"""L0/L1 foundations: errors name the call and path; the channel frames, passes fds, and fails loudly."""

import errno
import os
import signal

import pytest

from nsbox.errors import InitFailed, ProtocolError, describe_oserror, syscall_error
from nsbox.linux import mount, sched
from nsbox.linux.consts import CLONE_NEWNET, CLONE_NEWUSER
from nsbox.ns.idmap import IdMap, IdMapping, parse_map_text, parse_mapping_option, subid_ranges
from nsbox.ns.types import NamespaceType
from nsbox.proc import procfs
from nsbox.proc.channel import Channel
from nsbox.proc.fork import fork_child
from nsbox.errors import IdMapError


def test_syscall_error_is_errno_mapped_and_named():
    exc = syscall_error(errno.ENOENT, "mount", "/x")
    assert isinstance(exc, FileNotFoundError)
    assert describe_oserror(exc) == "mount /x: No such file or directory"


def test_l0_failure_names_call_and_path(tmp_path):
    missing = str(tmp_path / "absent")
    with pytest.raises(OSError) as info:
        mount.mount("none", missing, "tmpfs")
    assert info.value.syscall.startswith("mount")
    assert info.value.filename == missing
    assert info.value.errno in (errno.ENOENT, errno.EPERM)


def test_setns_on_a_regular_file_names_setns(tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(OSError) as info:
        sched.setns_path(str(f), CLONE_NEWNET)
    assert info.value.syscall == "setns" and info.value.errno == errno.EINVAL


def test_flag_names():
    assert sched.flag_names(CLONE_NEWUSER | CLONE_NEWNET) == "CLONE_NEWUSER|CLONE_NEWNET"


def test_channel_roundtrip_with_fds():
    a, b = Channel.pair()
    r, w = os.pipe()
    a.send("hello", fds=[w], n=1)
    msg, fds = b.recv(timeout=2)
    assert msg == {"type": "hello", "n": 1} and len(fds) == 1
    os.write(fds[0], b"ok")
    assert os.read(r, 2) == b"ok"
    for fd in (r, w, *fds):
        os.close(fd)
    a.close(), b.close()


def test_channel_error_crosses_as_fields():
    a, b = Channel.pair()
    a.send_error(syscall_error(errno.EPERM, "pivot_root", "/new"), step="pivot_root")
    with pytest.raises(InitFailed) as info:
        b.recv(timeout=2)
    assert info.value.step == "pivot_root" and info.value.errno == errno.EPERM
    assert "pivot_root /new: Operation not permitted" in str(info.value)


def test_channel_dead_peer_and_timeout_are_errors():
    a, b = Channel.pair()
    with pytest.raises(ProtocolError, match="within"):
        b.recv(timeout=0.05)
    a.close()
    with pytest.raises(ProtocolError, match="closed"):
        b.recv(timeout=1)


def test_channel_expect_rejects_the_wrong_type():
    a, b = Channel.pair()
    a.send("ready")
    with pytest.raises(ProtocolError, match="expected 'pid'"):
        b.expect("pid", timeout=1)


def test_fork_child_exits_with_body_result_and_never_returns():
    pid = fork_child(lambda: 7, pdeathsig=signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7

    def boom():
        raise ValueError("bad")
    pid = fork_child(boom)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


def test_parse_stat_with_hostile_comm():
    text = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10"
    st = procfs.parse_stat(text)
    assert st["pid"] == 1234 and st["comm"] == "a) b (c)" and st["ppid"] == 1 and st["starttime"] == 98765


def test_start_time_of_self_and_of_nobody():
    assert procfs.start_time(os.getpid()) > 0
    assert procfs.start_time(2**22 + 12345) is None


def test_parse_mountinfo_unescapes():
    line = r"36 35 98:0 /mnt1 /mnt\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
    (m,) = procfs.parse_mountinfo(line)
    assert m["mountpoint"] == "/mnt dir" and m["optional"] == ["master:1"] and m["fstype"] == "ext3"


def test_namespace_types():
    assert NamespaceType.from_name("mount") is NamespaceType.MNT
    assert NamespaceType.from_clone_flag(CLONE_NEWUSER) is NamespaceType.USER
    assert NamespaceType.PID.for_children_name == "pid_for_children"
    assert {t.short_opt for t in NamespaceType} == set("muinpUCT")
    with pytest.raises(ValueError):
        NamespaceType.from_name("bogus")


def test_mapping_options_both_orders():
    assert parse_mapping_option("0:100000:65536") == IdMapping(0, 100000, 65536)
    assert parse_mapping_option("100000,0,65536") == IdMapping(0, 100000, 65536)
    for bad in ("1:2", "a:b:c", "0:1:0", "5"):
        with pytest.raises(IdMapError):
            parse_mapping_option(bad)


def test_idmap_json_roundtrip_and_proc_text():
    m = IdMap((IdMapping(0, 1000), IdMapping(1, 100000, 65536)), (IdMapping(0, 1000),), "deny")
    assert IdMap.from_json(m.to_json()) == m
    assert parse_map_text("         0       1000          1\n") == [IdMapping(0, 1000, 1)]


def test_subid_ranges(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("# comment\nalice:100000:65536\n1001:200000:1000\nbob:x:1\nalice:300000:10\n")
    assert subid_ranges(str(f), "alice", 1000) == [(100000, 65536), (300000, 10)]
    assert subid_ranges(str(f), "carol", 1001) == [(200000, 1000)]
    assert subid_ranges(str(tmp_path / "none"), "alice", 1) == []


def test_parse_mountinfo_keeps_non_ascii_and_decodes_only_octal():
    line = "36 35 98:0 / /tmp/\u00e9\\040x rw - tmpfs a\\134b rw"
    (m,) = procfs.parse_mountinfo(line)
    assert m["mountpoint"] == "/tmp/\u00e9 x" and m["source"] == "a\\b"
