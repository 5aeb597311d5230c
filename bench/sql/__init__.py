"""The benchmark's SQL, written as SQL in ``*.sql`` files (``-- name: statement`` blocks), the
way the catalog keeps its own (headwater/catalog/queries.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import LiteralString, cast

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def _load() -> dict[str, LiteralString]:
    statements: dict[str, LiteralString] = {}
    for path in sorted(Path(__file__).parent.glob("*.sql")):
        parts = _HEADER.split(path.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in statements:
                raise RuntimeError(f"SQL statement {name!r} is defined twice ({path.name})")
            # Files of this package, never user input: literal SQL.
            statements[name] = cast(LiteralString, body.strip())
    return statements


Q = _load()
