"""Child side: execute a security plan (made by nsbox.security.plan) in the process about to execve.

Runs after pivot_root, so everything it needs is imported before: here, at module import, and in
``preload(plan)`` what only a plan with seccomp needs (a call-time import then finds sys.modules).
Order, as in runc (each step's reason):

  apply_early(plan)          rlimits, oom_score_adj, new session keyring: while still privileged,
                             before the container's mounts can interfere.
  finalize_process(plan)     no_new_privs; seccomp now if no_new_privs is off (loading a filter then
                             needs CAP_SYS_ADMIN, which the next steps may drop); drop the bounding set
                             (needs CAP_SETPCAP, so before the uid switch); PR_SET_KEEPCAPS; setgroups,
                             setresgid, setresuid; clear KEEPCAPS; capset; ambient; umask; LSM exec labels.
  install_late_seccomp(plan) seccomp when no_new_privs is on: as late as possible, right before execve,
                             so the runtime's own last syscalls need not be in the profile.

Failures raise InitFailed(step, message, syscall, path, errno): they cross the channel as fields.
"""

from __future__ import annotations

import os

from ..errors import InitFailed
from ..linux import caps as _caps
from ..linux import ids as _ids
from ..linux import keyring as _keyring
from ..linux import prctl as _prctl
from ..linux import rlimit as _rlimit

KEY_USR_SEARCH = 0x00080000
_EINVAL = 22
_ENOSYS = 38
_EPERM = 1


def preload(plan: dict | None) -> None:
    """Import, before the pivot, the modules this plan's steps need beyond the always-needed ones."""
    if plan and plan.get("seccomp"):
        import binascii  # noqa: F401
        from ..linux import seccomp  # noqa: F401
        from . import listener  # noqa: F401


def _fail(step: str, exc: OSError, hint: str | None = None) -> InitFailed:
    err = InitFailed.from_oserror(step, exc)
    if hint:
        err = InitFailed(step, f"{err.message} ({hint})", err.syscall, err.path, err.errno)
    return err


def set_rlimits(entries: list[dict]) -> None:
    for entry in entries:
        try:
            _rlimit.prlimit(0, entry["resource"], (entry["soft"], entry["hard"]), name=entry["type"])
        except OSError as exc:
            hint = None
            if exc.errno == _EPERM:
                soft, hard = _rlimit.prlimit(0, entry["resource"], name=entry["type"])
                hint = (f"raising the hard limit from {hard} to {entry['hard']} needs CAP_SYS_RESOURCE, "
                        f"which this process lacks")
            raise _fail("rlimits", exc, hint) from exc


def set_oom_score_adj(value: int) -> None:
    path = "/proc/self/oom_score_adj"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        exc.syscall, exc.filename = "write", path
        hint = "lowering oom_score_adj needs CAP_SYS_RESOURCE" if exc.errno in (_EPERM, 13) else None
        raise _fail("oom_score_adj", exc, hint) from exc


def join_session_keyring(name: str | None) -> None:
    """A fresh session keyring, so the container cannot reach the host's keys (ENOSYS: no keyrings, skip)."""
    try:
        serial = _keyring.join_session_keyring(name)
        desc = _keyring.describe(serial).split(";")
        perm = int(desc[3], 16) | KEY_USR_SEARCH
        _keyring.setperm(serial, perm)
    except OSError as exc:
        if exc.errno == _ENOSYS:
            return
        raise _fail("keyring", exc) from exc


def apply_early(plan: dict) -> None:
    """rlimits, oom_score_adj and a new session keyring (unless plan["new_keyring"] is False)."""
    set_rlimits(plan.get("rlimits") or [])
    if plan.get("oom_score_adj") is not None:
        set_oom_score_adj(plan["oom_score_adj"])
    if plan.get("new_keyring", True):
        join_session_keyring(plan.get("keyring_name"))


def install_seccomp(seccomp: dict) -> int | None:
    """Load the plan's filter; the listener fd when it asks for one (SCMP_ACT_NOTIFY), else None."""
    import binascii
    from ..linux import seccomp as _seccomp
    bpf = binascii.a2b_base64(seccomp["bpf"])
    try:
        fd = _seccomp.set_mode_filter(bpf, seccomp.get("flags", 0))
    except OSError as exc:
        hint = "without no_new_privs a filter needs CAP_SYS_ADMIN" if exc.errno == 13 else None
        raise _fail("seccomp", exc, hint) from exc
    return fd if seccomp.get("flags", 0) & _seccomp.SECCOMP_FILTER_FLAG_NEW_LISTENER else None


def _hand_off_listener(seccomp: dict, fd: int | None, listener_sock, state) -> int | None:
    if fd is None or listener_sock is None:
        return fd
    from . import listener as _listener
    try:
        _listener.send_listener_fd(listener_sock, fd, pid=os.getpid(), state=state,
                                   metadata=seccomp.get("listener_metadata"))
    finally:
        os.close(fd)
    return None


def _set_user(user: dict) -> None:
    gids = user.get("additional_gids") or []
    try:
        with open("/proc/self/setgroups") as f:
            allowed = f.read().strip() != "deny"
    except OSError:
        allowed = True
    if sorted(set(os.getgroups())) == sorted(set(gids)):
        pass  # already so: nothing to ask the kernel (an unprivileged caller could not)
    elif allowed:
        try:
            _ids.setgroups(gids)
        except OSError as exc:
            raise _fail("user", exc) from exc
    elif gids:
        raise InitFailed("user", f"cannot set additional gids {gids}: setgroups is denied in this user "
                                 f"namespace (/proc/self/setgroups)", "setgroups", None, _EPERM)
    gid, uid = user["gid"], user["uid"]
    try:
        if os.getresgid() != (gid, gid, gid):
            _ids.setresgid(gid, gid, gid)
        if os.getresuid() != (uid, uid, uid):
            _ids.setresuid(uid, uid, uid)
    except OSError as exc:
        hint = "is the id mapped in the container's user namespace?" if exc.errno == _EINVAL else None
        raise _fail("user", exc, hint) from exc


def _drop_bounding(keep: int, last_cap: int) -> None:
    for cap in range(last_cap + 1):
        if keep >> cap & 1:
            continue
        try:
            if _prctl.capbset_read(cap):
                _prctl.capbset_drop(cap)
        except OSError as exc:
            if exc.errno == _EINVAL:  # a capability this kernel does not have
                continue
            raise _fail("capabilities", exc, f"dropping capability {cap} from the bounding set") from exc


def _set_ambient(mask: int, last_cap: int) -> None:
    try:
        _prctl.ambient_clear_all()
        for cap in range(last_cap + 1):
            if mask >> cap & 1:
                _prctl.ambient_raise(cap)
    except OSError as exc:
        if exc.errno in (_EINVAL, _EPERM):  # no ambient caps (Linux < 4.3) / not permitted+inheritable: runc
            return                               # ignores both
        raise _fail("capabilities", exc) from exc


def _write_attr(step: str, paths: tuple[str, ...], value: bytes) -> None:
    last = None
    for path in paths:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            last = exc
            continue
        except OSError as exc:
            exc.syscall = "open"
            raise _fail(step, exc) from exc
        try:
            os.write(fd, value)
            return
        except OSError as exc:
            exc.syscall, exc.filename = "write", path
            raise _fail(step, exc) from exc
        finally:
            os.close(fd)
    if last is not None:
        last.syscall = "open"
        raise _fail(step, last)


def finalize_process(plan: dict) -> int | None:
    """Credentials, capabilities, umask, no_new_privs, and seccomp when it must come before the drop.

    Returns the seccomp listener fd if the early filter asked for one and no listener socket took it.
    """
    listener_fd = None
    if plan.get("no_new_privs"):
        try:
            _prctl.set_no_new_privs()
        except OSError as exc:
            raise _fail("no_new_privs", exc) from exc
    seccomp = plan.get("seccomp")
    if seccomp and seccomp.get("install") == "early":
        listener_fd = install_seccomp(seccomp)
    caps = plan.get("capabilities")
    last_cap = plan.get("last_cap", 40)
    if caps is not None:
        _drop_bounding(caps["bounding"], last_cap)
    try:
        _prctl.set_keepcaps(True)
    except OSError as exc:
        raise _fail("capabilities", exc) from exc
    _set_user(plan["user"])
    try:
        _prctl.set_keepcaps(False)
    except OSError as exc:
        raise _fail("capabilities", exc) from exc
    if caps is not None:
        try:
            _caps.capset(_caps.CapSets(caps["effective"], caps["permitted"], caps["inheritable"]))
        except OSError as exc:
            raise _fail("capabilities", exc) from exc
        _set_ambient(caps["ambient"], last_cap)
    if plan["user"].get("umask") is not None:
        os.umask(plan["user"]["umask"])
    if plan.get("apparmor_profile"):
        _write_attr("apparmor", ("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"),
                    f"exec {plan['apparmor_profile']}".encode())
    if plan.get("selinux_label"):
        _write_attr("selinux", ("/proc/thread-self/attr/exec",), plan["selinux_label"].encode())
    return listener_fd


def install_late_seccomp(plan: dict, *, listener_sock=None, state: dict | None = None) -> int | None:
    """Seccomp right before execve when no_new_privs is on (no-op otherwise).

    With SCMP_ACT_NOTIFY the kernel hands back a listener fd: given ``listener_sock`` (a socket, or its
    fd, connected to listenerPath before pivot_root), it is sent there with the process state (runc's
    message) and closed; otherwise it is returned for the caller to pass to the runtime, which calls
    ``nsbox.security.listener.send_listener_fd(listener_path, fd, pid=..., state=...)``.
    """
    seccomp = plan.get("seccomp")
    if not seccomp or seccomp.get("install") != "late":
        return None
    fd = install_seccomp(seccomp)
    return _hand_off_listener(seccomp, fd, listener_sock, state)


def send_early_listener(plan: dict, fd: int | None, *, listener_sock=None, state: dict | None = None) -> int | None:
    """The same hand-off for the fd finalize_process returned (filter installed early)."""
    seccomp = plan.get("seccomp") or {}
    return _hand_off_listener(seccomp, fd, listener_sock, state)
