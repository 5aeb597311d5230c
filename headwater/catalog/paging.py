"""Keyset pagination: opaque cursors over a monotonic id, limits capped by the server."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

from headwater.catalog.errors import Unprocessable

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    limit: int
    # True when the requested limit exceeded the server's cap and was lowered to ``limit``.
    limit_capped: bool = False


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unprocessable(
            "cursor is not valid: pass the next_cursor of a previous page unchanged",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from None


def clamp_limit(requested: int | None, default: int, maximum: int) -> tuple[int, bool]:
    if requested is None:
        return default, False
    if requested < 1:
        raise Unprocessable(
            "limit must be at least 1",
            errors=[{"loc": ["query", "limit"], "msg": "must be >= 1"}],
        )
    return (maximum, True) if requested > maximum else (requested, False)


def page_of(rows: list[T], limit: int, capped: bool, id_of: Callable[[T], int]) -> Page[T]:
    """Cut ``rows``, fetched with ``limit + 1``, to a page whose cursor follows its last item."""
    items = rows[:limit]
    more = len(rows) > limit
    return Page[T](
        items=items,
        next_cursor=encode_cursor(id_of(items[-1])) if more else None,
        limit=limit,
        limit_capped=capped,
    )
