"""nsbox.oci: the OCI runtime-spec as pure data (no syscalls).

    load_config(bundle) -> dict                      config.json, permissive read
    validate_config(config, *, bundle, rootless)     one SpecError with every problem and its JSON path
    default_spec(rootless=False, args=None) -> dict  what `runc spec [--rootless]` writes
    state_document(...), list_entry(...), format_created(ns)   `runc state` / `runc list -f json`
    state_json(doc), list_json(entries), list_table(entries)    the exact bytes runc prints
    features_document() -> dict                      `runc features`
    parse_signal(text) -> int                        `runc kill` signal names
    parse_mount_options(options) -> MountOptions     runc's mount option table
    capability_names(), kernel_capabilities(), rlimit_types()

Names are loaded lazily (the runtime is exec'd per container; import only what is used).
"""

from __future__ import annotations

_EXPORTS = {
    "load_config": "config", "parse_config": "config", "config_path": "config", "rootfs_path": "config",
    "validate_config": "validate", "config_problems": "validate",
    "default_spec": "defaults",
    "state_document": "state", "list_entry": "state", "format_created": "state", "parse_created": "state",
    "OCI_VERSION": "state", "state_json": "state", "list_json": "state", "list_table": "state",
    "owner_of": "state",
    "features_document": "features",
    "parse_signal": "signals", "signal_name": "signals",
    "parse_mount_options": "mountopts", "MountOptions": "mountopts",
    "capability_names": "names", "kernel_capabilities": "names", "rlimit_types": "names",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nsbox.oci' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
