"""The fresh-interpreter stage 1 for callers with threads: ``python -I -S -c '...main()' FD PARENT_PID``.

spawn() starts it with one end of the channel as FD, sends {"type": "plan"}, and then speaks the
same protocol as with a forked stage 1 (see ``ns.stage1``). Imports only stdlib, L0/L1 and the plan.
"""

from __future__ import annotations

import sys


def _run(chan, plan_json, _rest: list[str]) -> int:
    from . import stage1
    from .unshare_plan import UnshareOptions
    return stage1.run_stage1(UnshareOptions.from_json(plan_json), chan)


def main(argv: list[str] | None = None) -> None:
    from ..proc.helper_main import helper_main
    helper_main("unshare helper", sys.argv[1:] if argv is None else argv, _run)
