"""OCI hooks run by the runtime itself (prestart, createRuntime, poststart, poststop)."""

from __future__ import annotations

from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)

from ..errors import NsboxError


class HookError(NsboxError):
    pass


def run_hooks(hooks: list[dict], state: dict, kind: str, warn_only: bool = False) -> None:
    if not hooks:
        return
    from .._init.hookexec import run_hook  # only with hooks: not on every container's start-up
    payload = json.dumps(state)
    for hook in hooks or ():
        try:
            run_hook(hook, payload, kind)
        except (OSError, RuntimeError, TimeoutError) as err:
            if warn_only:
                import sys
                sys.stderr.write(f"nsbox-runc: warning: {err}\n")
                continue
            raise HookError(f"error running {kind} hook: {err}") from err
