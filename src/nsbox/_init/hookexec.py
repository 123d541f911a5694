"""Run an OCI hook from inside the container's set-up (createContainer, startContainer): fork + execve,
the state JSON on stdin, a timeout. No imports: usable after pivot_root."""

from __future__ import annotations

import os
import _signal as signal  # the C module: signal.py builds enums at import (~0.5 ms + enum)
import time


def run_hook(hook: dict, state_json: str, kind: str) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
    timeout = hook.get("timeout")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(r, 0)
            os.close(r)
            os.close(w)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            os.execve(path, args, env)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(2, f"{kind} hook {path}: {exc}\n".encode())
            finally:
                os._exit(127)
    os.close(r)
    try:
        os.write(w, state_json.encode())
    except OSError:
        pass
    os.close(w)
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG if deadline else 0)
        if done:
            break
        if deadline and time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"{kind} hook {path} timed out after {timeout}s")
        time.sleep(0.01)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{kind} hook {path} failed with exit status {code}")
