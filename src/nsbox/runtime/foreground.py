"""`run`: create + start + wait, as the container's subreaper, forwarding signals; delete afterwards."""

from __future__ import annotations

import os
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)

from ..linux.prctl import set_child_subreaper
from ..proc.fork import wait_status_to_code

# signal.Signals' members (the named SIG* constants, aliases once), in its order, less those we keep
FORWARDED = [s for s in sorted({v for k, v in vars(signal).items() if k.isupper() and k.startswith("SIG")
                                and not k.startswith("SIG_")})
             if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGWINCH, signal.SIGURG)]


def run_container(rt, container_id: str, bundle: str, *, detach: bool = False, keep: bool = False,
                  pid_file=None, console_socket=None, no_pivot=False, no_new_keyring=False,
                  preserve_fds: int = 0, subreaper: bool = True, on_created=None) -> int:
    """``on_created(pid)``: called between create and start (the front end attaches the network)."""
    if subreaper and not detach:
        set_child_subreaper(True)
    doc = rt.create(container_id, bundle, pid_file=pid_file, console_socket=console_socket, no_pivot=no_pivot,
                    no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                    keep_console=not detach and not console_socket)
    master = doc.pop("console_master", None)
    pid = doc["pid"]
    try:
        if on_created is not None:
            on_created(pid)
        if detach:
            rt.start(container_id)
            return 0
        forward = lambda signum, _frame: _send(pid, signum)  # noqa: E731
        for sig in FORWARDED:
            try:
                signal.signal(sig, forward)
            except (OSError, ValueError):
                pass
        rt.start(container_id)
        if master is not None:
            from .relay import relay_terminal
            relay_terminal(master, pid)
        return wait_for(pid)
    except BaseException:
        keep = False
        raise
    finally:
        if master is not None:
            os.close(master)
        if not detach and not keep:
            try:
                rt.delete(container_id, force=True)
            except Exception:  # noqa: BLE001
                pass


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_for(pid: int) -> int:
    """Reap children (we are their subreaper) until the init exits; its status is ours."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if got == pid:
            return wait_status_to_code(status)
