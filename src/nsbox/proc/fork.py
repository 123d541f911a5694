"""Forking by the rules of DESIGN §4: flush first, the child never returns, never raises past us.

``fork_child(body)`` runs ``body()`` in a child and returns its pid. The child:
  - has stdio flushed before the fork and gc disabled after it,
  - ends with ``os._exit`` (the code ``body`` returns, 0 for None; 1 with a message on an exception),
  - optionally gets PR_SET_PDEATHSIG so a dead parent leaves nothing half-built.
Only for single-threaded callers: a threaded process must use a fresh helper (see ``nsbox.ns.helper``).
"""

from __future__ import annotations

import gc
import os
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)
import sys


def assert_single_threaded(what: str) -> None:
    threading = sys.modules.get("threading")  # not imported: no Python thread can exist
    if threading is not None and threading.active_count() > 1:
        raise RuntimeError(f"{what} needs a single-threaded process (have {threading.active_count()} threads)")
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:") and int(line.split()[1]) > 1:
                    raise RuntimeError(f"{what} needs a single-threaded process (native threads running)")
    except FileNotFoundError:
        pass


def is_single_threaded() -> bool:
    try:
        assert_single_threaded("check")
        return True
    except RuntimeError:
        return False


def fork_child(body, pdeathsig: int | None = signal.SIGKILL) -> int:
    """Fork; run ``body()`` in the child and _exit with its result. Returns the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        gc.disable()
        if pdeathsig is not None:
            from ..linux.prctl import set_pdeathsig
            set_pdeathsig(pdeathsig)
            if pdeathsig and os.getppid() not in (parent, 0):
                # the parent died between fork and prctl: the death signal will never come
                # (0: the child is in a new pid namespace and cannot see its parent; no check then)
                os.kill(os.getpid(), pdeathsig)
                os._exit(128 + pdeathsig)
        result = body()
        code = 0 if result is None else int(result)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - a child must never unwind into the parent's code
        try:
            os.write(2, f"nsbox: child: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def reset_signals_for_exec() -> None:
    """CPython ignores SIGPIPE/SIGXFSZ and may block signals; execve keeps both. Undo that."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT,
                signal.SIGCHLD, signal.SIGHUP, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def wait_status_to_code(status: int) -> int:
    """A shell-style exit code: the exit status, or 128+signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
