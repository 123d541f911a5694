"""DESIGN §2 as a test: imports point downward only, and a few packages stay pure.

Layers: 0 linux/ (and the leaves errors, paths), 1 proc/ ns/, 2 oci/ rootfs/ cgroups/ security/ image/ net/,
3 runtime/ _init/, 4 engine/, 5 cli/. A module may import its own layer or lower, with these extra rules:
oci/ makes no syscalls (of linux/ only the constants); runtime/ and _init/ never touch net/ or image/; _init/ (the child
side) imports no third-party package; only net/ may import pyroute2, and only lazily (inside functions).
"""

import ast
import os
import sys

import pytest

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src", "nsbox")
LAYER = {"errors": 0, "paths": 0, "linux": 0, "proc": 1, "ns": 1, "oci": 2, "rootfs": 2, "cgroups": 2,
         "security": 2, "image": 2, "net": 2, "runtime": 3, "_init": 3, "engine": 4, "cli": 5}
# (+ the builtin sha256 module under both of its names: _sha256 up to 3.11, _sha2 from 3.12)
STDLIB = set(sys.stdlib_module_names) | {"_sha256", "_sha2"}


def modules():
    for dirpath, _, files in os.walk(SRC):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                yield path, rel


def imports_of(path, rel):
    """(imported nsbox top-level package or external module, lazily?) for each import."""
    tree = ast.parse(open(path).read(), path)
    pkg = rel if path.endswith("__init__.py") else rel[:-1]
    top_level_nodes = set(id(n) for n in tree.body)
    for node in ast.walk(tree):
        lazy = id(node) not in top_level_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield (parts[1] if parts[0] == "nsbox" and len(parts) > 1 else parts[0],
                       parts[0] == "nsbox", lazy, ".".join(parts[1:3]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                full = base + (node.module.split(".") if node.module else [])
                if full:
                    for alias in node.names:
                        yield full[0], True, lazy, ".".join((full + [alias.name])[:2])
                else:  # "from . import x" at the package root
                    for alias in node.names:
                        yield alias.name, True, lazy, alias.name
            elif node.module:
                parts = node.module.split(".")
                if parts[0] == "nsbox":
                    if len(parts) > 1:
                        for alias in node.names:
                            yield parts[1], True, lazy, ".".join((parts[1:] + [alias.name])[:2])
                    else:
                        for alias in node.names:
                            yield alias.name, True, lazy, alias.name
                else:
                    yield parts[0], False, lazy, node.module


def violations():
    found = []
    for path, rel in modules():
        if not rel:
            continue
        own = rel[0]
        own_layer = LAYER.get(own)
        if own_layer is None:
            continue
        for target, internal, lazy, dotted in imports_of(path, rel):
            where = "/".join(rel)
            if internal:
                layer = LAYER.get(target)
                if layer is None:
                    continue
                if layer > own_layer:
                    found.append(f"{where} (layer {own_layer}) imports {target}/ (layer {layer})")
                if own == "oci" and target == "linux" and dotted != "linux.consts":
                    found.append(f"{where}: oci/ is pure data but imports {dotted} (only linux.consts)")
                if own in ("runtime", "_init") and target in ("net", "image"):
                    found.append(f"{where}: the runtime never imports {target}/")
            else:
                if target in STDLIB or target == "__future__":
                    continue
                if own == "_init":
                    found.append(f"{where}: the child side imports third-party {target}")
                elif target == "pyroute2" and (own != "net" or not lazy):
                    found.append(f"{where}: pyroute2 only in net/, imported lazily")
                elif target not in ("pyroute2",):
                    found.append(f"{where}: imports third-party {target} (add it to the allowed list on purpose)")
    return found


def test_imports_point_downward():
    assert violations() == []


def test_the_checker_notices_a_violation(tmp_path, monkeypatch):
    bad = tmp_path / "nsbox" / "linux"
    bad.mkdir(parents=True)
    (bad / "oops.py").write_text("from ..runtime import container\nimport pyroute2\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", str(tmp_path / "nsbox"))
    found = violations()
    assert any("imports runtime/" in v for v in found) and any("pyroute2" in v for v in found)
