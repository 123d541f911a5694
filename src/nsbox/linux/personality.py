"""personality(2)."""

from __future__ import annotations

import ctypes

from ._libc import libc, retry

_personality = libc.personality
_personality.argtypes = [ctypes.c_ulong]


def set_personality(persona: int) -> None:
    retry(lambda: _personality(persona), "personality")
