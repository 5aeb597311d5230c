"""JSON text in and out on orjson (several times faster than the standard library on the write
and sync paths), exact where orjson alone is not.

orjson reads an integer beyond 64 bits as a float and cannot write one at all, and it rejects
what the standard library would encode through a ``default`` or with non-string keys; those
documents take the standard library's path, so values round-trip exactly as they did before.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import orjson

__all__ = ["dumps", "loads", "orjson_is_exact"]

# Nineteen digits in a row may be an integer outside 64 bits (or digits in a string, which merely
# take the slower path). Found by mapping every digit to "0" and searching for nineteen of them:
# a C scan, where a regular expression costs several times orjson's own parse.
_DIGITS: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS: Final = b"0" * 19


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


_ENCODER: Final = json.JSONEncoder(default=_default, separators=(",", ":"))


def dumps(value: object) -> str:
    """Compact JSON; datetimes and dates in ISO 8601, UUIDs as strings."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)


def orjson_is_exact(text: bytes) -> bool:
    """Whether orjson reads ``text`` exactly: it holds no nineteen digits in a row."""
    return text.translate(_DIGITS).find(_LONG_DIGITS) < 0


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """A JSON document, integers of any size kept exact."""
    text = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return orjson.loads(text) if orjson_is_exact(text) else json.loads(text)
