"""Reading an OCI bundle's config.json (permissive: unknown fields are kept)."""

from __future__ import annotations

from .. import jsoncodec as json  # json without re/enum (~8 ms of start-up)
import os

from ..errors import SpecError

__all__ = ["CONFIG_NAME", "config_path", "load_config", "parse_config", "rootfs_path"]

CONFIG_NAME = "config.json"


def config_path(bundle: str) -> str:
    return os.path.join(bundle, CONFIG_NAME)


def parse_config(text: str | bytes, source: str = CONFIG_NAME) -> dict:
    """Decode config.json text; SpecError with line and column on malformed JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SpecError([("$", f"invalid JSON: not UTF-8 at byte {err.start}")], source) from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError([("$", f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}")],
                        source) from None
    except RecursionError:
        raise SpecError([("$", "invalid JSON: nested too deeply")], source) from None
    if not isinstance(config, dict):
        raise SpecError([("$", f"must be a JSON object, got {_json_type(config)}")], source)
    return config


def load_config(bundle: str) -> dict:
    """Read and decode <bundle>/config.json. Validation is validate_config's job."""
    path = config_path(bundle)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise SpecError([("$", f"cannot read {path}: {err.strerror or err}")], path) from None
    return parse_config(data, path)


def rootfs_path(config: dict, bundle: str) -> str:
    """root.path made absolute: relative paths are relative to the bundle (as runc does)."""
    root = config.get("root") or {}
    path = root.get("path") or "rootfs"
    if not os.path.isabs(path):
        path = os.path.join(os.path.abspath(bundle), path)
    return os.path.normpath(path)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
