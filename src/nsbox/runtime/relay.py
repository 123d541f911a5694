"""Relay a container's pty to our terminal (`run` with process.terminal in the foreground)."""

from __future__ import annotations

import errno
import os
import select


def relay_terminal(master: int, pid: int) -> None:
    """Copy stdin -> master and master -> stdout until the container closes its side."""
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0, termios.TCSANOW)  # TCSAFLUSH would drop type-ahead
    stdin_open = True
    try:
        while True:
            fds = [master] + ([0] if stdin_open else [])
            ready, _, _ = select.select(fds, [], [], 0.2)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as err:
                    if err.errno == errno.EIO:
                        return
                    raise
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    stdin_open = False
                    os.write(master, b"\x04")
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
