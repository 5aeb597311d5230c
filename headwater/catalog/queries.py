"""Named SQL statements, written as SQL in ``sql/*.sql`` (``-- name: statement_name`` blocks)."""

from __future__ import annotations

import re
from importlib import resources
from typing import LiteralString, cast

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def _load() -> dict[str, LiteralString]:
    statements: dict[str, LiteralString] = {}
    folder = resources.files("headwater.catalog") / "sql"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        parts = _HEADER.split(entry.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in statements:
                raise RuntimeError(f"SQL statement {name!r} is defined twice ({entry.name})")
            # The files are part of the package, never user input, so they are literal SQL.
            statements[name] = cast(LiteralString, body.strip())
    return statements


Q = _load()
