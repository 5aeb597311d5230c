"""Reading ingestion input: JSON documents, NDJSON streams and gzip bodies, safely.

Everything parsed here ends up in jsonb, so what Postgres would refuse (NaN, ``\\u0000``, lone
surrogates) is refused here with a 400 that says why, instead of failing later as a 500; so is a
number beyond a double, which would be stored as null.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

import orjson

from headwater import jsoncodec
from headwater.catalog.errors import BadRequest, PayloadTooLarge

__all__ = ["decode_body", "load_documents", "loads"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (only finite numbers can be stored)")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(
            f"{text} is beyond the range of a double (only finite numbers can be stored)"
        )
    return value


def loads(data: bytes, *, what: str = "body") -> Any:
    """One JSON document; 400 naming the position of the first problem."""
    if b"\\u0000" in data:
        raise BadRequest(f"{what} contains a NUL character (\\u0000), which cannot be stored")
    if jsoncodec.orjson_is_exact(data):
        try:
            # orjson refuses NaN, Infinity and unpaired surrogates itself; what it refuses is
            # read again below, for the standard library's precise reason.
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as e:
        raise BadRequest(
            f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except UnicodeDecodeError as e:
        raise BadRequest(f"{what} is not UTF-8 text: {e.reason} at byte {e.start}") from None
    except ValueError as e:
        raise BadRequest(f"{what}: {e}") from None
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                f"{what} contains an unpaired UTF-16 surrogate escape, which is not text"
            ) from None
    return value


def load_documents(data: bytes, *, what: str = "body") -> list[Any]:
    """A JSON array of documents, one JSON document, or NDJSON (one document per line)."""
    stripped = data.strip()
    if not stripped:
        raise BadRequest(f"{what} is empty")
    if stripped[:1] == b"[":
        value = loads(stripped, what=what)
        assert isinstance(value, list)
        return value
    try:
        return [loads(stripped, what=what)]
    except BadRequest as whole:
        lines = [(n, line) for n, line in enumerate(stripped.split(b"\n"), 1) if line.strip()]
        # NDJSON only if its first line is a document of its own; otherwise the error about the
        # whole body is the useful one (a pretty-printed document with a typo, say).
        try:
            first = loads(lines[0][1], what=f"{what} line {lines[0][0]}")
        except BadRequest:
            raise whole from None
    return [first] + [loads(line, what=f"{what} line {n}") for n, line in lines[1:]]


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The request body after its Content-Encoding (gzip, as the OpenLineage client sends it
    when compression is on), never inflated past ``max_bytes``."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as e:
        raise BadRequest(f"body is not valid {encoding} data: {e}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"decompressed body exceeds the limit of {max_bytes} bytes: split it into smaller "
            "requests",
            limit_bytes=max_bytes,
        )
    if not inflater.eof:
        raise BadRequest(f"body is truncated {encoding} data")
    return out
