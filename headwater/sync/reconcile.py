"""Drift between a graph mirror and Postgres: a pure comparison of two :class:`GraphData`.

Both sides are entity *states* (id, version, tombstone flag and the attributes the graph keeps),
one tenant at a time. Per entity kind (``asset``, ``field``, ``relationship``,
``field_lineage``) every difference falls in one of four classes:

* **missing**: Postgres has the entity, the mirror holds no state for it;
* **extra**: the mirror holds a live entity Postgres does not have;
* **stale**: both hold it, but the version, the tombstone flag or an attribute differs (type,
  owning asset, end points, transformation);
* **duplicated**: the mirror holds more than one state under one id.

Postgres hard-deletes two kinds, so a mirror keeps their tombstones after the rows are gone:
a deleted field, and a field-lineage edge whose row was deleted or cascaded away with one of its
fields. Those are not extra. Assets and relationships are only ever soft-deleted: any state the
mirror holds for an id Postgres lacks is extra.

Display names are not compared: reads hydrate them from Postgres, and the memory engine does not
keep them.

>>> from headwater.graph.model import AssetState, GraphData
>>> pg = GraphData.from_states([AssetState(1, "table", 2), AssetState(2, "job", 1)])
>>> held = GraphData.from_states([AssetState(1, "table", 1), AssetState(3, "table", 1)])
>>> sorted((d.kind, d.id, d.problem) for d in differences(pg, held))
[('asset', 1, 'stale'), ('asset', 2, 'missing'), ('asset', 3, 'extra')]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from headwater.graph.model import GraphData

__all__ = [
    "KINDS",
    "Counts",
    "Difference",
    "DriftReport",
    "Kind",
    "Problem",
    "TenantDrift",
    "differences",
    "sizes",
    "tenant_drift",
]

Kind = Literal["asset", "field", "relationship", "field_lineage"]
Problem = Literal["missing", "extra", "stale", "duplicated"]
KINDS: Final[tuple[Kind, ...]] = ("asset", "field", "relationship", "field_lineage")

I64 = NDArray[np.int64]
_NONE: Final = -1


@dataclass(frozen=True, slots=True)
class Counts:
    """How many entities differ, by class of difference."""

    missing: int = 0
    extra: int = 0
    stale: int = 0
    duplicated: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.missing + other.missing,
            self.extra + other.extra,
            self.stale + other.stale,
            self.duplicated + other.duplicated,
        )

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.stale + self.duplicated

    def as_dict(self) -> dict[str, int]:
        return {
            "missing": self.missing,
            "extra": self.extra,
            "stale": self.stale,
            "duplicated": self.duplicated,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class Difference:
    """One entity the mirror holds differently from Postgres. Versions are None where a side
    holds no state; ``detail`` names what differs for a stale entity."""

    kind: Kind
    id: int
    problem: Problem
    postgres_version: int | None
    mirror_version: int | None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "problem": self.problem,
            "postgres_version": self.postgres_version,
            "mirror_version": self.mirror_version,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Table:
    """One kind's states as columns: attributes are int64 (labels as codes into a vocabulary
    shared by both sides of the comparison)."""

    ids: I64
    version: I64
    deleted: NDArray[np.bool_]
    attrs: dict[str, I64]


def _codes(codes: NDArray[Any], names: Sequence[str], vocabulary: dict[str, int]) -> I64:
    table = np.array([vocabulary[n] for n in names] or [_NONE], np.int64)
    return table[np.asarray(codes, np.int64)] if len(codes) else np.zeros(0, np.int64)


def _vocabulary(*names: Iterable[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(sorted(set().union(*names)))}


def _tables(postgres: GraphData, mirror: GraphData) -> dict[Kind, tuple[_Table, _Table]]:
    asset_types = _vocabulary(postgres.assets.type_names, mirror.assets.type_names)
    rel_types = _vocabulary(postgres.relationships.type_names, mirror.relationships.type_names)
    transformations = _vocabulary(
        postgres.field_lineage.transformation_names, mirror.field_lineage.transformation_names
    )

    def tables(data: GraphData) -> dict[Kind, _Table]:
        a, f, r, e = data.assets, data.fields, data.relationships, data.field_lineage
        return {
            "asset": _Table(
                a.id.astype(np.int64),
                a.version.astype(np.int64),
                a.deleted,
                {"type": _codes(a.type, a.type_names, asset_types)},
            ),
            "field": _Table(
                f.id.astype(np.int64),
                f.version.astype(np.int64),
                f.deleted,
                {"asset_id": f.asset_id.astype(np.int64)},
            ),
            "relationship": _Table(
                r.id.astype(np.int64),
                r.version.astype(np.int64),
                r.deleted,
                {
                    "source_id": r.source_id.astype(np.int64),
                    "target_id": r.target_id.astype(np.int64),
                    "type": _codes(r.type, r.type_names, rel_types),
                },
            ),
            "field_lineage": _Table(
                e.id.astype(np.int64),
                e.version.astype(np.int64),
                e.deleted,
                {
                    "source_field_id": e.source_field_id.astype(np.int64),
                    "target_field_id": e.target_field_id.astype(np.int64),
                    "transformation": _codes(
                        e.transformation, e.transformation_names, transformations
                    ),
                },
            ),
        }

    pg, held = tables(postgres), tables(mirror)
    return {kind: (pg[kind], held[kind]) for kind in KINDS}


def _hard_deleted_ok(kind: Kind, held: _Table, rows: NDArray[np.intp], mirror: GraphData) -> Any:
    """Which of the mirror's ``rows`` (absent from Postgres) are tombstones of a hard delete."""
    if kind == "field":
        return held.deleted[rows]
    if kind == "field_lineage":
        dropped = mirror.fields.id[mirror.fields.deleted]
        ends_dropped = np.isin(held.attrs["source_field_id"][rows], dropped) | np.isin(
            held.attrs["target_field_id"][rows], dropped
        )
        return held.deleted[rows] | ends_dropped
    return np.zeros(len(rows), bool)


def _compare_kind(kind: Kind, pg: _Table, held: _Table, mirror: GraphData) -> list[Difference]:
    found: list[Difference] = []
    unique_ids, first, counts = np.unique(held.ids, return_index=True, return_counts=True)
    for i in np.flatnonzero(counts > 1).tolist():
        row = int(first[i])
        found.append(
            Difference(
                kind,
                int(unique_ids[i]),
                "duplicated",
                None,
                int(held.version[row]),
                f"{int(counts[i])} states held",
            )
        )
    # Compare against one state per id (the first held); duplicates are reported above.
    h_ids = held.ids[first]
    common, pi, hi_unique = np.intersect1d(pg.ids, h_ids, assume_unique=True, return_indices=True)
    hi = first[hi_unique]

    missing = np.setdiff1d(np.arange(len(pg.ids)), pi, assume_unique=True)
    for row in missing.tolist():
        found.append(
            Difference(kind, int(pg.ids[row]), "missing", int(pg.version[row]), None, "not held")
        )

    absent = first[np.setdiff1d(np.arange(len(h_ids)), hi_unique, assume_unique=True)]
    excused = _hard_deleted_ok(kind, held, absent, mirror)
    for row in absent[~excused].tolist():
        state = "tombstone" if held.deleted[row] else "live"
        found.append(
            Difference(
                kind,
                int(held.ids[row]),
                "extra",
                None,
                int(held.version[row]),
                f"{state} state of an id Postgres does not have",
            )
        )

    mismatches: dict[str, NDArray[np.bool_]] = {
        "version": pg.version[pi] != held.version[hi],
        "deleted": pg.deleted[pi] != held.deleted[hi],
    }
    for name, column in pg.attrs.items():
        mismatches[name] = column[pi] != held.attrs[name][hi]
    stale = np.zeros(len(common), bool)
    for mask in mismatches.values():
        stale |= mask
    for k in np.flatnonzero(stale).tolist():
        differing = [name for name, mask in mismatches.items() if mask[k]]
        found.append(
            Difference(
                kind,
                int(common[k]),
                "stale",
                int(pg.version[pi[k]]),
                int(held.version[hi[k]]),
                "differs in " + ", ".join(differing),
            )
        )
    return found


def differences(postgres: GraphData, mirror: GraphData) -> list[Difference]:
    """Every entity ``mirror`` holds differently from ``postgres`` (one tenant's graphs),
    ordered by kind, then class, then id."""
    found: list[Difference] = []
    for kind, (pg, held) in _tables(postgres, mirror).items():
        found += _compare_kind(kind, pg, held, mirror)
    order = {k: i for i, k in enumerate(KINDS)}
    classes = {"missing": 0, "extra": 1, "stale": 2, "duplicated": 3}
    found.sort(key=lambda d: (order[d.kind], classes[d.problem], d.id))
    return found


def sizes(data: GraphData) -> dict[Kind, int]:
    """States per kind, tombstones included."""
    return {
        "asset": len(data.assets),
        "field": len(data.fields),
        "relationship": len(data.relationships),
        "field_lineage": len(data.field_lineage),
    }


@dataclass(frozen=True)
class TenantDrift:
    """One tenant's comparison. ``in_flight``: differing entities that changed after the
    Postgres snapshot (an outbox event after its position), so neither side is wrong yet;
    they are not counted as drift."""

    tenant_id: UUID
    postgres: Mapping[Kind, int]
    mirror: Mapping[Kind, int]
    by_kind: Mapping[Kind, Counts]
    in_flight: int = 0
    examples: tuple[Difference, ...] = ()

    @property
    def total(self) -> Counts:
        return sum(self.by_kind.values(), Counts())

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "postgres": dict(self.postgres),
            "mirror": dict(self.mirror),
            "by_kind": {kind: counts.as_dict() for kind, counts in self.by_kind.items()},
            "total": self.total.as_dict(),
            "in_flight": self.in_flight,
            "examples": [d.as_dict() for d in self.examples],
        }


def tenant_drift(
    tenant_id: UUID,
    postgres: GraphData,
    mirror: GraphData,
    found: Sequence[Difference],
    *,
    in_flight: Collection[tuple[Kind, int]] = (),
    examples: int = 10,
) -> TenantDrift:
    """Summarise ``found`` (from :func:`differences`), leaving out the in-flight entities."""
    flying = set(in_flight)
    counted: dict[Kind, dict[str, int]] = {kind: {} for kind in KINDS}
    shown: list[Difference] = []
    excluded = 0
    for d in found:
        if (d.kind, d.id) in flying:
            excluded += 1
            continue
        counted[d.kind][d.problem] = counted[d.kind].get(d.problem, 0) + 1
        if len(shown) < examples:
            shown.append(d)
    return TenantDrift(
        tenant_id,
        sizes(postgres),
        sizes(mirror),
        {kind: Counts(**counted[kind]) for kind in KINDS},
        excluded,
        tuple(shown),
    )


@dataclass(frozen=True)
class DriftReport:
    """A mirror compared with one Postgres snapshot, per tenant and in total.

    ``position``: the outbox position the Postgres snapshot covers; ``mirror_position``: where
    the mirror stood when it was read; ``caught_up``: whether the mirror had applied every event
    before ``position`` by then (when not, lag shows up as drift).
    """

    sink: str
    position: str
    mirror_position: str | None
    caught_up: bool
    tenants: tuple[TenantDrift, ...] = field(default=())

    @property
    def total(self) -> Counts:
        return sum((t.total for t in self.tenants), Counts())

    @property
    def by_kind(self) -> dict[Kind, Counts]:
        return {kind: sum((t.by_kind[kind] for t in self.tenants), Counts()) for kind in KINDS}

    @property
    def drift(self) -> bool:
        return self.total.total > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "position": self.position,
            "mirror_position": self.mirror_position,
            "caught_up": self.caught_up,
            "drift": self.drift,
            "total": self.total.as_dict(),
            "by_kind": {kind: counts.as_dict() for kind, counts in self.by_kind.items()},
            "in_flight": sum(t.in_flight for t in self.tenants),
            "tenants": [t.as_dict() for t in self.tenants],
        }
