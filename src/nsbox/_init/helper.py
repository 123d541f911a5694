"""Stage 1 in a fresh interpreter, for library callers with threads (fork of a threaded process is unsafe):

    python -I -S -c '...main()' CHANNEL_FD PARENT_PID FIFO_FD

The launcher sends {"type": "plan", "plan": InitPlan.to_json()}; from there the protocol is the same as
with a forked stage 1 (see ``_init.stage1``). Imports only stdlib, L0/L1 and the plan.
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
        from ..runtime.plan import InitPlan
        from . import stage1, stage2
        fd, parent, fifo_fd = int(argv[0]), int(argv[1]), int(argv[2])
        os.set_inheritable(fd, False)
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)  # the caller is already gone
        chan = Channel.from_fd(fd)
        msg, _ = chan.expect("plan")
        plan = InitPlan.from_json(msg["plan"])
        stage2.preload(plan)
        code = stage1.run(plan, chan, fifo_fd if fifo_fd >= 0 else None)
    except BaseException as exc:  # noqa: BLE001 - a helper never unwinds
        try:
            os.write(2, f"nsbox: runtime helper: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
