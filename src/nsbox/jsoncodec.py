"""``json`` for the start-up path, straight on the C accelerator ``_json``: same output, same errors.

``import json`` costs ~8 ms of every `nsbox-runc` start: json.decoder imports re, re imports enum, enum
imports functools and collections. The C scanner and encoder behind json need none of that. This module
is a drop-in for what the runtime uses on its hot path:

    from . import jsoncodec as json
    json.loads(text_or_bytes); json.load(fp); json.dumps(obj) / json.dumps(obj, separators=(",", ":"))

The results are json's own (the same C code with the same settings json.dumps/json.loads use). Anything
else -- indent, sort_keys, object hooks, invalid input (so the JSONDecodeError is json's, word for word),
and any other attribute (``json.JSONDecodeError``, ``json.dump``) -- goes to the real ``json``, imported
then.
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What json.decoder.JSONDecoder() hands the C scanner (json.loads' defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)
    memo: dict = {}


_scan_once = _json.make_scanner(_Context())


def _real_json():
    import json
    return json


def _as_text(s):
    """json.loads' decoding of bytes, for the plain case (UTF-8 without a BOM); None: let json decide."""
    if isinstance(s, str):
        return s
    if isinstance(s, (bytes, bytearray)) and s[:1] not in (b"\xef", b"\xfe", b"\xff", b"\x00") \
            and s[1:2] != b"\x00":
        return s.decode("utf-8", "surrogatepass")
    return None


def loads(s, **kw):
    text = None if kw else _as_text(s)
    if text is None or text.startswith("\ufeff"):
        return _real_json().loads(s, **kw)
    n = len(text)
    i = 0
    while i < n and text[i] in _WHITESPACE:
        i += 1
    try:
        obj, end = _scan_once(text, i)
    except Exception:  # noqa: BLE001 - json words the error (StopIteration, JSONDecodeError, ...)
        return _real_json().loads(s)
    while end < n and text[end] in _WHITESPACE:
        end += 1
    if end != n:
        return _real_json().loads(s)  # "Extra data"
    return obj


def load(fp, **kw):
    return loads(fp.read(), **kw)


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj, *, separators=None, sort_keys=False, **kw):
    """json.dumps(obj) with separators= and sort_keys= as json takes them; other options go to json."""
    if kw:
        return _real_json().dumps(obj, separators=separators, sort_keys=sort_keys, **kw)
    item_sep, key_sep = separators if separators is not None else (", ", ": ")
    if isinstance(obj, str):
        return _json.encode_basestring_ascii(obj)
    # a fresh markers dict per call, as JSONEncoder.iterencode makes (it catches circular references)
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, key_sep, item_sep,
                                bool(sort_keys), False, True)
    return "".join(encode(obj, 0))


def __getattr__(name):
    return getattr(_real_json(), name)
