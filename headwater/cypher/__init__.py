"""Every Cypher statement Headwater runs: one statement per ``*.cypher`` file, loaded by name.

Statements are parameterised (``$name``) and never assembled at run time; labels and relationship
types are fixed in the text. Each file declares its parameters in header comments, one per line,
with a JSON sample value that Neo4j's linter (``tools/cypher-lint``) type-checks against::

    // param: tenant_id = "00000000-0000-0000-0000-000000000001"

``schema.json`` beside the files lists the labels, relationship types and property keys the
statements use, for the same linter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final, LiteralString

__all__ = ["STATEMENTS", "Statement", "load_statements"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DECLARED = re.compile(r"^//\s*param:\s*(\w+)\s*=\s*(.+)$", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*")
_USED = re.compile(r"\$(\w+)")


@dataclass(frozen=True, slots=True)
class Statement:
    """One Cypher statement: its name (the file's stem), its text, and the parameters its header
    declares, with their sample values."""

    name: str
    text: LiteralString
    declared: Mapping[str, object]

    @property
    def used(self) -> frozenset[str]:
        """The ``$parameters`` the statement's code (comments aside) refers to."""
        return frozenset(_USED.findall(_COMMENT.sub("", self.text)))


def load_statements() -> dict[str, Statement]:
    """Read every ``*.cypher`` file of this package, by name."""
    statements: dict[str, Statement] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".cypher"):
            continue
        name = entry.name.removesuffix(".cypher")
        if not _NAME.match(name):
            raise RuntimeError(f"Cypher file {entry.name!r}: names are lower_snake_case")
        # The files are part of the package, never user input: their text is literal Cypher.
        text: LiteralString = entry.read_text(encoding="utf-8").strip()
        if not _COMMENT.sub("", text).strip():
            raise RuntimeError(f"Cypher file {entry.name!r} holds no statement")
        declared = {key: json.loads(sample) for key, sample in _DECLARED.findall(text)}
        statements[name] = Statement(name, text, declared)
    return statements


STATEMENTS: Final[Mapping[str, Statement]] = load_statements()
