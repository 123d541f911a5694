"""The fresh-interpreter stage 1 for callers with threads: ``python -I -S -c '...main()' FD PARENT_PID``.

spawn() starts it with one end of the channel as FD, sends {"type": "plan"}, and then speaks the
same protocol as with a forked stage 1 (see ``ns.stage1``). Imports only stdlib, L0/L1 and the plan.
"""

from __future__ import annotations

import gc
import os
import signal
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    gc.disable()
    code = 1
    try:
        from ..linux.prctl import set_pdeathsig
        from ..proc.channel import Channel
        from . import stage1
        from .unshare_plan import UnshareOptions
        fd, parent = int(argv[0]), int(argv[1])
        os.set_inheritable(fd, False)
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)  # the caller is already gone
        chan = Channel.from_fd(fd)
        msg, _ = chan.expect("plan")
        opts = UnshareOptions.from_json(msg["plan"])
        code = stage1.run_stage1(opts, chan)
    except BaseException as exc:  # noqa: BLE001 - a helper never unwinds
        try:
            os.write(2, f"nsbox: unshare helper: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
