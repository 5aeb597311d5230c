"""Search documents: what the full-text and semantic engines index for one asset.

A :class:`SearchDocument` is a flat, denormalised view of an asset (its own fields, its columns,
its tags, its owners and a few metadata values) plus the two things every engine needs to stay
correct when deliveries arrive late or twice:

* ``version``: an integer that grows with every change to *anything* the document is built from.
  The asset's own version is not enough (attaching a tag or editing a column does not bump it), so
  versions derive from the outbox's transaction ids (see :mod:`headwater.search.source`).
  Engines apply a document only when its version is greater than the one they hold.
* ``deleted``: a tombstone. Engines keep ``(tenant, asset, version, deleted)`` after a delete so a
  late, older upsert cannot resurrect the asset; a later restore (higher version) can.

:func:`build_document` builds one from plain values (the sink reads them from Postgres), and
:func:`embedding_text` is the text the semantic engine embeds for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

__all__ = [
    "DEFAULT_METADATA_KEYS",
    "SearchColumn",
    "SearchDocument",
    "build_document",
    "embedding_text",
    "identifier_words",
]

# Metadata keys whose values are worth searching; other metadata (ids, timestamps, raw JSON
# produced by ingestion) would only add noise.
DEFAULT_METADATA_KEYS: Final = (
    "display_name",
    "title",
    "summary",
    "purpose",
    "domain",
    "team",
    "system",
    "source",
    "database",
    "schema",
    "namespace",
    "location",
    "keywords",
    "notes",
)

# Bounds on what one document carries: enough for any real table, small enough that one huge
# asset cannot blow up an index batch.
MAX_COLUMNS: Final = 2000
MAX_TEXT: Final = 20_000
MAX_EMBEDDING_CHARS: Final = 2000

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^\w]+|_+")


@dataclass(frozen=True, slots=True)
class SearchColumn:
    """One column (schema field) of an asset."""

    name: str
    data_type: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """The searchable state of one asset at one version (or its tombstone when ``deleted``)."""

    tenant_id: UUID
    asset_id: int
    version: int
    deleted: bool = False
    type: str = ""
    name: str = ""
    qualified_name: str = ""
    description: str = ""
    columns: tuple[SearchColumn, ...] = ()
    tags: tuple[str, ...] = ()
    tag_categories: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    metadata_text: str = ""

    def __post_init__(self) -> None:
        if self.version < 0:
            raise ValueError(f"document versions are non-negative, got {self.version}")

    @classmethod
    def tombstone(cls, tenant_id: UUID, asset_id: int, version: int) -> SearchDocument:
        """The deleted state of an asset at ``version``."""
        return cls(tenant_id=tenant_id, asset_id=asset_id, version=version, deleted=True)

    @property
    def key(self) -> str:
        """The document's id in every engine: unique across tenants."""
        return document_key(self.tenant_id, self.asset_id)

    @property
    def name_words(self) -> str:
        """The name split into words (``dimCustomer_orders`` -> ``dim customer orders``)."""
        return identifier_words(self.name)

    @property
    def qualified_name_words(self) -> str:
        return identifier_words(self.qualified_name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def column_text(self) -> str:
        """Columns as text lines ``name type: description``, for matching and highlights."""
        return "\n".join(_column_line(c) for c in self.columns)


def document_key(tenant_id: UUID, asset_id: int) -> str:
    return f"{tenant_id}:{asset_id}"


def identifier_words(identifier: str) -> str:
    """Split an identifier into lower-case words on punctuation, underscores and camel case.

    >>> identifier_words("analytics.dimCustomer_orders2024")
    'analytics dim customer orders2024'
    """
    words: list[str] = []
    for part in _NON_WORD.split(identifier):
        if part:
            words.extend(w.lower() for w in _CAMEL.sub(" ", part).split())
    return " ".join(words)


def _clean(text: str | None, limit: int = MAX_TEXT) -> str:
    if not text:
        return ""
    # NFC so that the same visible text always tokenises (and hashes) the same way.
    return unicodedata.normalize("NFC", text).strip()[:limit]


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        cleaned = _clean(value, 320)
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


def _metadata_text(metadata: Mapping[str, Any], keys: Iterable[str]) -> str:
    lines: list[str] = []
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str):
            text = _clean(value, 2000)
        elif isinstance(value, list | tuple):
            text = ", ".join(_clean(v, 200) for v in value if isinstance(v, str) and v.strip())
        else:
            continue  # numbers, booleans and nested objects are not prose
        if text:
            lines.append(f"{key.replace('_', ' ')}: {text}")
    return "\n".join(lines)[:MAX_TEXT]


def _column_line(column: SearchColumn) -> str:
    line = column.name
    if column.data_type:
        line += f" {column.data_type}"
    if column.description:
        line += f": {column.description}"
    return line


def build_document(
    tenant_id: UUID,
    asset_id: int,
    version: int,
    *,
    type: str,
    name: str,
    qualified_name: str,
    description: str = "",
    columns: Iterable[SearchColumn | tuple[str, str, str]] = (),
    tags: Iterable[tuple[str, str | None]] = (),
    owners: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
    metadata_keys: Iterable[str] = DEFAULT_METADATA_KEYS,
    deleted: bool = False,
) -> SearchDocument:
    """Build an asset's search document from plain values.

    ``columns`` are in ordinal order, as :class:`SearchColumn` or ``(name, data_type,
    description)``; ``tags`` are ``(tag name, category or None)``; only the ``metadata_keys``
    values that are text (or lists of text) are kept. Text is NFC-normalised, trimmed and bounded.

    >>> doc = build_document(
    ...     UUID(int=1), 7, 3, type="table", name="contacts", qualified_name="crm.contacts",
    ...     columns=[("email", "text", "Primary e-mail")], tags=[("pii", "Privacy")],
    ... )
    >>> doc.column_names, doc.tags, doc.tag_categories
    (('email',), ('pii',), ('Privacy',))
    """
    if deleted:
        return SearchDocument.tombstone(tenant_id, asset_id, version)
    built_columns: list[SearchColumn] = []
    for column in columns:
        if len(built_columns) >= MAX_COLUMNS:
            break
        if not isinstance(column, SearchColumn):
            column = SearchColumn(*column)
        column_name = _clean(column.name, 1000)
        if column_name:
            built_columns.append(
                SearchColumn(
                    column_name, _clean(column.data_type, 200), _clean(column.description, 2000)
                )
            )
    tag_pairs = list(tags)
    return SearchDocument(
        tenant_id=tenant_id,
        asset_id=asset_id,
        version=version,
        type=_clean(type, 40),
        name=_clean(name, 1000),
        qualified_name=_clean(qualified_name, 2000),
        description=_clean(description),
        columns=tuple(built_columns),
        tags=_unique(tag for tag, _ in tag_pairs),
        tag_categories=_unique(category for _, category in tag_pairs),
        owners=_unique(owners),
        metadata_text=_metadata_text(metadata or {}, metadata_keys),
    )


def embedding_text(doc: SearchDocument) -> str:
    """The text the semantic engine embeds for ``doc``.

    MiniLM reads at most 256 word pieces, so the most telling parts come first: the name as words
    and the type, the description, then column names (with their descriptions), tags and the
    metadata text. Identifiers are split into words so "dimCustomer" reads as "dim customer".
    The result is bounded to :data:`MAX_EMBEDDING_CHARS` and deterministic, so equal documents
    give equal text and hit the embedding cache.

    >>> doc = build_document(
    ...     UUID(int=1), 7, 3, type="table", name="contacts", qualified_name="crm.contacts",
    ...     description="People we talk to.", columns=[("email", "text", "")],
    ... )
    >>> embedding_text(doc)
    'contacts (table). crm contacts. People we talk to. Columns: email.'
    """
    parts = [f"{doc.name_words or doc.name} ({doc.type})" if doc.type else doc.name_words]
    if doc.qualified_name_words and doc.qualified_name_words != doc.name_words:
        parts.append(doc.qualified_name_words)
    if doc.description:
        parts.append(doc.description.rstrip("."))
    if doc.columns:
        columns = []
        for column in doc.columns:
            words = identifier_words(column.name) or column.name
            if column.description:
                words += f" ({column.description.rstrip('.')})"
            columns.append(words)
        parts.append("Columns: " + ", ".join(columns))
    if doc.tags:
        parts.append("Tags: " + ", ".join(doc.tags + doc.tag_categories))
    if doc.metadata_text:
        parts.append(doc.metadata_text.replace("\n", ". "))
    text = ". ".join(p for p in parts if p) + "."
    return text[:MAX_EMBEDDING_CHARS]
