"""RTM_GETNSID over rtnetlink: the id a network namespace has as seen from the caller's one.

One request, one answer; the stdlib socket module speaks netlink, so no ctypes and no pyroute2.
``ip netns list-id`` and util-linux ``lsns -o NETNSID`` ask the same question.
"""

from __future__ import annotations

import errno
import socket
import struct

RTM_NEWNSID = 88
RTM_GETNSID = 90
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NETNSA_NSID = 1
NETNSA_FD = 3
NSID_NOT_ASSIGNED = -1  # NETNSA_NSID_NOT_ASSIGNED: the kernel has not given the namespace an id yet

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_RTGENMSG = struct.Struct("=B3x")     # rtgen_family, padded to 4
_RTATTR = struct.Struct("=HH")        # rta_len, rta_type


def open_route_socket() -> socket.socket:
    """A NETLINK_ROUTE socket for :func:`get_netnsid` (reuse it for many queries)."""
    try:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError as exc:
        exc.syscall = "socket(AF_NETLINK, NETLINK_ROUTE)"  # type: ignore[attr-defined]
        raise


def build_request(fd: int, seq: int = 1) -> bytes:
    attr = _RTATTR.pack(_RTATTR.size + 4, NETNSA_FD) + struct.pack("=i", fd)
    body = _RTGENMSG.pack(socket.AF_UNSPEC) + attr
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETNSID, NLM_F_REQUEST, seq, 0) + body


def parse_response(data: bytes) -> int:
    """The NETNSA_NSID of an RTM_NEWNSID answer; OSError for an NLMSG_ERROR answer."""
    if len(data) < _NLMSGHDR.size:
        raise OSError(errno.EBADMSG, "short netlink answer")
    length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data)
    if mtype == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", data, _NLMSGHDR.size)
        raise OSError(-err, "RTM_GETNSID failed")
    if mtype != RTM_NEWNSID:
        raise OSError(errno.EBADMSG, f"unexpected netlink message type {mtype}")
    off = _NLMSGHDR.size + _RTGENMSG.size
    end = min(length, len(data))
    while off + _RTATTR.size <= end:
        rta_len, rta_type = _RTATTR.unpack_from(data, off)
        if rta_len < _RTATTR.size:
            break
        if rta_type == NETNSA_NSID and rta_len >= _RTATTR.size + 4:
            return struct.unpack_from("=i", data, off + _RTATTR.size)[0]
        off += (rta_len + 3) & ~3
    raise OSError(errno.EBADMSG, "RTM_NEWNSID without NETNSA_NSID")


def get_netnsid(sock: socket.socket, fd: int, path: str | None = None) -> int:
    """The nsid of the network namespace open as ``fd`` (NSID_NOT_ASSIGNED if it has none)."""
    try:
        sock.send(build_request(fd))
        return parse_response(sock.recv(4096))
    except OSError as exc:
        exc.syscall = "RTM_GETNSID"  # type: ignore[attr-defined]
        if path is not None and exc.filename is None:
            exc.filename = path
        raise
