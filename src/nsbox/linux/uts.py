"""sethostname(2) and setdomainname(2)."""

from __future__ import annotations

import ctypes

from ._libc import libc, retry

_sethostname = libc.sethostname
_sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_setdomainname = libc.setdomainname
_setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def sethostname(name: str) -> None:
    raw = name.encode()
    retry(lambda: _sethostname(raw, len(raw)), "sethostname", name)


def setdomainname(name: str) -> None:
    raw = name.encode()
    retry(lambda: _setdomainname(raw, len(raw)), "setdomainname", name)
