"""The start of a fresh-interpreter helper (``python -I -S -c '...main()' CHANNEL_FD PARENT_PID ...``),
which callers with threads use instead of fork: die with the parent, take the channel, wait for the
plan, run ``body``, and never unwind (a helper always ends in os._exit)."""

from __future__ import annotations

import gc
import os
import signal


def helper_main(name: str, argv: list[str], body) -> None:
    """``body(chan, plan_json, rest_of_argv) -> exit code``; failures are one line on stderr naming ``name``."""
    gc.disable()
    code = 1
    try:
        from ..linux.prctl import set_pdeathsig
        from .channel import Channel
        fd, parent = int(argv[0]), int(argv[1])
        os.set_inheritable(fd, False)
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)  # the caller is already gone
        chan = Channel.from_fd(fd)
        msg, _ = chan.expect("plan")
        code = body(chan, msg["plan"], argv[2:])
    except BaseException as exc:  # noqa: BLE001 - a helper never unwinds
        try:
            os.write(2, f"nsbox: {name}: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
