"""L1 namespace primitives and the public namespace API (``nsbox.ns``).

Heavy submodules load lazily, so ``import nsbox.ns`` stays cheap.
"""

from __future__ import annotations

from .types import NamespaceType  # noqa: F401  (light: an enum)

_LAZY = {
    "spawn": "launch", "Process": "launch", "unshare": "launch", "UnshareOptions": "launch",
    "enter": "join", "EnterOptions": "join", "run_in": "join",
    "list_namespaces": "inspect", "Namespace": "inspect",
    "IdMapping": "idmap", "IdMap": "idmap",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nsbox.ns' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f".{module}", __name__), name)
