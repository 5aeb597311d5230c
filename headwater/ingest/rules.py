"""How a unit's wishes merge with what the catalog holds: pure rules both appliers share.

The sequential applier (one catalog call per item) and the set-based one (one statement per kind
for a run of units) must leave the catalog in the same state and report the same counts and
warnings, so the decisions live here once: what an asset becomes, which fields an asset ends up
with, and how the fields count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError as PydanticValidationError

from headwater.catalog.assets import AssetCreate, AssetType
from headwater.catalog.base import Outcome
from headwater.catalog.errors import Unprocessable
from headwater.catalog.fields import FieldSpec
from headwater.ingest import openlineage
from headwater.ingest.batch import (
    DATA_ASSET_TYPES,
    AssetSpec,
    FieldsMode,
    ItemCounts,
    Loc,
    merge_metadata,
    merge_run,
)

__all__ = [
    "MAX_OWNERS",
    "AssetView",
    "FieldLike",
    "Warn",
    "count",
    "created_asset",
    "desired_fields",
    "field_content",
    "loc_text",
    "merged_asset",
    "tally_fields",
]

MAX_OWNERS = 100
_INFERRED_KEYS = frozenset(openlineage.INFERRED)

Warn = Callable[[Loc, str], None]


class AssetView(Protocol):
    """What the merge reads of an asset the catalog holds."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def qualified_name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def owners(self) -> list[str]: ...


def count(counts: ItemCounts, outcome: Outcome) -> None:
    setattr(counts, outcome.value, getattr(counts, outcome.value) + 1)


def loc_text(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def _validated(spec: AssetSpec, **values: Any) -> AssetCreate:
    try:
        return AssetCreate(**values)
    except PydanticValidationError as e:
        detail = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise Unprocessable(
            f"{loc_text(spec.loc)}: {spec.qualified_name!r} cannot be stored: {detail}",
            errors=[{"loc": list(spec.loc), "msg": detail}],
        ) from None


def _owners(current: list[str], spec: AssetSpec, warn: Warn) -> list[str]:
    owners = current + [o for o in spec.owners if o not in current]
    if len(owners) > MAX_OWNERS:
        warn(spec.loc, f"only the first {MAX_OWNERS} owners are kept")
        owners = owners[:MAX_OWNERS]
    return owners


def created_asset(spec: AssetSpec, warn: Warn) -> AssetCreate:
    """The asset ``spec`` creates when no live asset has its name (or an alias of it)."""
    metadata = merge_metadata(merge_metadata({}, spec.identity), spec.metadata)
    if spec.aliases:
        metadata["aliases"] = list(spec.aliases)
    if spec.run is not None:
        last_run = merge_run(None, spec.run)
        metadata = merge_metadata(metadata, {"openlineage": {"last_run": last_run}})
    return _validated(
        spec,
        type=spec.type,
        name=spec.name,
        qualified_name=spec.qualified_name,
        description=spec.description or "",
        metadata=metadata,
        owners=_owners([], spec, warn),
    )


def merged_asset(current: AssetView, spec: AssetSpec, exact: bool, warn: Warn) -> AssetCreate:
    """What ``current`` becomes with ``spec`` merged in; ``exact``: found by its own name, not
    through an alias. An asset keeps its type: a data asset named as another data type stays
    what it is (with a warning unless the source only guessed), any other mismatch is a 422."""
    if current.type != spec.type.value:
        both_data = spec.type in DATA_ASSET_TYPES and AssetType(current.type) in DATA_ASSET_TYPES
        if not both_data:
            raise Unprocessable(
                f"{loc_text(spec.loc)}: {spec.qualified_name!r} is a {current.type} in the "
                f"catalog, not a {spec.type.value}: an asset's type cannot change",
                errors=[{"loc": list(spec.loc), "msg": "asset type mismatch"}],
            )
        if not spec.type_guessed:
            warn(
                spec.loc,
                f"{spec.qualified_name!r} stays a {current.type} (this source says "
                f"{spec.type.value}): an asset's type cannot change",
            )
    metadata = current.metadata
    if exact:
        metadata = merge_metadata(metadata, spec.identity)
    metadata = merge_metadata(metadata, spec.metadata)
    if spec.aliases:
        known = list(metadata.get("aliases") or [])
        metadata["aliases"] = known + [a for a in spec.aliases if a not in known]
    if spec.run is not None:
        previous = (metadata.get("openlineage") or {}).get("last_run")
        last_run = merge_run(previous if isinstance(previous, dict) else None, spec.run)
        metadata = merge_metadata(metadata, {"openlineage": {"last_run": last_run}})
    return _validated(
        spec,
        type=AssetType(current.type),
        name=current.name,
        qualified_name=current.qualified_name,
        description=current.description if spec.description is None else spec.description,
        metadata=metadata,
        owners=_owners(current.owners, spec, warn),
    )


class FieldLike(Protocol):
    """A field as the rules read it: a FieldSpec, or a stored row read the same way."""

    @property
    def name(self) -> str: ...
    @property
    def data_type(self) -> str: ...
    @property
    def nullable(self) -> bool: ...
    @property
    def description(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...


F = TypeVar("F", bound=FieldLike)


def field_content(field: FieldLike) -> tuple[str, str, bool, str, dict[str, Any]]:
    """What makes two fields equal (as two FieldSpecs compare)."""
    return field.name, field.data_type, field.nullable, field.description, field.metadata


def _merged_field(old: FieldLike, new: FieldSpec) -> FieldSpec:
    """A declared column updates what it says and is no longer only inferred."""
    metadata = {k: v for k, v in old.metadata.items() if k not in _INFERRED_KEYS}
    metadata.update(new.metadata)
    return FieldSpec(
        name=old.name,
        data_type=new.data_type or old.data_type,
        nullable=old.nullable,
        description=new.description or old.description,
        metadata=metadata,
    )


def desired_fields(existing: list[F], spec: AssetSpec) -> list[F | FieldSpec]:
    """The asset's whole field list after ``spec`` (which has fields or ensure_fields)."""
    wanted: list[F | FieldSpec]
    if spec.fields is None:
        wanted = list(existing)
    elif spec.fields.mode == FieldsMode.REPLACE:
        # Columns only inferred from column lineage stay (after the declared ones) with the
        # lineage through them: dropping them would make a replay re-create them, and a
        # replay must change nothing.
        declared = {f.name for f in spec.fields.fields}
        wanted = list(spec.fields.fields)
        wanted += [
            f for f in existing if f.metadata.get("inferred") is True and f.name not in declared
        ]
    else:
        given = {f.name: f for f in spec.fields.fields}
        given_lower = {f.name.lower(): f for f in spec.fields.fields}
        wanted = []
        for old in existing:
            new = given.pop(old.name, None)
            if new is None and (new := given_lower.get(old.name.lower())) is not None:
                given.pop(new.name, None)
            wanted.append(old if new is None else _merged_field(old, new))
        wanted += list(given.values())
    names = {f.name for f in wanted}
    return wanted + [f for f in spec.ensure_fields if f.name not in names]


def tally_fields(
    existing: Sequence[FieldLike], wanted: Sequence[FieldLike], counts: ItemCounts
) -> bool:
    """Count what replacing ``existing`` by ``wanted`` does; True when it changes anything."""
    before = {f.name: (ordinal, field_content(f)) for ordinal, f in enumerate(existing)}
    changed = False
    for ordinal, field in enumerate(wanted):
        previous = before.get(field.name)
        if previous is None:
            counts.created += 1
            changed = True
        elif previous != (ordinal, field_content(field)):
            counts.updated += 1
            changed = True
        else:
            counts.unchanged += 1
    removed = len(before.keys() - {f.name for f in wanted})
    counts.deleted += removed
    return changed or bool(removed)
