"""What every nsbox CLI shares: error -> one line on stderr + exit code; tracebacks only with --debug."""

from __future__ import annotations

import os
import sys

from ..errors import NsboxError, describe_oserror


def strip_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Remove a leading/global --debug (before '--' or the program) and report whether it was there."""
    if "--debug" in argv:
        cut = argv.index("--") if "--" in argv else len(argv)
        if "--debug" in argv[:cut]:
            i = argv.index("--debug")
            return argv[:i] + argv[i + 1:], True
    return argv, bool(os.environ.get("NSBOX_DEBUG"))


def message_for(exc: BaseException) -> str:
    if isinstance(exc, NsboxError):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_oserror(exc)
    return f"{type(exc).__name__}: {exc}"


def run(prog: str, body, argv: list[str], failure_code: int = 1, debug: bool | None = None) -> int:
    """Run ``body(argv) -> int`` and turn any exception into ``prog: message`` and an exit code."""
    if debug is None:
        argv, debug = strip_debug(argv)
    try:
        return body(argv)
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else failure_code)
    except BrokenPipeError:
        return failure_code
    except BaseException as exc:  # noqa: BLE001 - the one place exceptions become output
        if debug:
            import traceback
            traceback.print_exc()
        sys.stderr.write(f"{prog}: {message_for(exc)}\n")
        sys.stderr.flush()
        return getattr(exc, "exit_code", failure_code) if isinstance(exc, NsboxError) else failure_code
