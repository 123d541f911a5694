"""Stage 1 in a fresh interpreter, for library callers with threads (fork of a threaded process is unsafe):

    python -I -S -c '...main()' CHANNEL_FD PARENT_PID FIFO_FD

The launcher sends {"type": "plan", "plan": InitPlan.to_json()}; from there the protocol is the same as
with a forked stage 1 (see ``_init.stage1``). Imports only stdlib, L0/L1 and the plan.
"""

from __future__ import annotations

import sys


def _run(chan, plan_json, rest: list[str]) -> int:
    from ..runtime.plan import InitPlan
    from . import stage1, stage2
    fifo_fd = int(rest[0])
    plan = InitPlan.from_json(plan_json)
    stage2.preload(plan)
    return stage1.run(plan, chan, fifo_fd if fifo_fd >= 0 else None)


def main(argv: list[str] | None = None) -> None:
    from ..proc.helper_main import helper_main
    helper_main("runtime helper", sys.argv[1:] if argv is None else argv, _run)
