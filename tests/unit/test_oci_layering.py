"""nsbox.oci is pure data (DESIGN §2): no syscalls, no ctypes, nothing heavy, nothing from above."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import nsbox.oci

OCI_DIR = os.path.dirname(nsbox.oci.__file__)
ALLOWED_NSBOX = {"nsbox.errors", "nsbox.linux.consts", "nsbox", "nsbox.jsoncodec"}  # jsoncodec: json on _json (a leaf)
ALLOWED_STDLIB = {"__future__", "calendar", "dataclasses", "importlib", "json", "os", "pwd", "re", "resource",
                  "time"}


def imports_of(path: str) -> set[str]:
    """Dotted names imported by a module; 'from X import y' gives X.y (y may be a submodule)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = ["nsbox", "oci"][: 3 - node.level] if node.level else []
            base = ".".join(package + ([node.module] if node.module else []))
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def allowed(module: str) -> bool:
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    if parts[0] != "nsbox":
        return parts[0] in ALLOWED_STDLIB
    if module.startswith("nsbox.oci"):
        return True
    return bool(prefixes & ALLOWED_NSBOX - {"nsbox"}) or module == "nsbox.__version__"


def test_oci_imports_only_pure_modules():
    for name in sorted(os.listdir(OCI_DIR)):
        if not name.endswith(".py"):
            continue
        for module in imports_of(os.path.join(OCI_DIR, name)):
            assert allowed(module), f"{name} imports {module}"


def test_validate_and_config_import_no_heavy_modules():
    code = ("import sys; before = set(sys.modules); import nsbox.oci.validate, nsbox.oci.config; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(out.stdout.split())
    for heavy in ("jsonschema", "ctypes", "nsbox.linux._libc", "subprocess", "argparse", "nsbox.runtime"):
        assert heavy not in loaded
