"""The graph sink: outbox events become versioned entity states for a graph engine.

Each event's payload is the entity's state after the change (the catalog's payload contract), so
an event maps to one mutation with the event's ``entity_version``; the engine applies a state only
when its version is newer than the one it holds, which makes redelivery and reordering harmless.
Tag events carry nothing the graph keeps and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from uuid import UUID

from headwater.graph.engine import GraphEngine
from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    Mutation,
    RelationshipState,
)
from headwater.sync.events import Batch, OutboxEvent, PermanentSinkError


def _deleted(event: OutboxEvent) -> bool:
    return event.event_type.endswith(".deleted") or event.payload.get("deleted_at") is not None


def _asset(event: OutboxEvent) -> AssetState:
    p = event.payload
    return AssetState(
        id=event.entity_id,
        type=str(p["type"]),
        version=event.entity_version,
        name=str(p.get("name", "")),
        qualified_name=str(p.get("qualified_name", "")),
        deleted=_deleted(event),
    )


def _relationship(event: OutboxEvent) -> RelationshipState:
    p = event.payload
    return RelationshipState(
        id=event.entity_id,
        source_id=int(p["source_id"]),
        target_id=int(p["target_id"]),
        type=str(p["type"]),
        version=event.entity_version,
        deleted=_deleted(event),
    )


def _field(event: OutboxEvent) -> FieldState:
    p = event.payload
    return FieldState(
        id=event.entity_id,
        asset_id=int(p["asset_id"]),
        version=event.entity_version,
        name=str(p.get("name", "")),
        deleted=_deleted(event),
    )


def _field_lineage(event: OutboxEvent) -> FieldLineageState:
    p = event.payload
    return FieldLineageState(
        id=event.entity_id,
        source_field_id=int(p["source_field_id"]),
        target_field_id=int(p["target_field_id"]),
        transformation=str(p.get("transformation", "UNKNOWN")),
        version=event.entity_version,
        deleted=_deleted(event),
    )


_CONVERTERS: Mapping[str, Callable[[OutboxEvent], Mutation]] = {
    "asset": _asset,
    "relationship": _relationship,
    "schema_field": _field,
    "field_lineage": _field_lineage,
}


def to_mutation(event: OutboxEvent) -> Mutation | None:
    """The graph state an event carries; None for events the graph does not keep (tags).

    Raises PermanentSinkError for a payload that breaks the contract: retrying cannot fix it.
    """
    convert = _CONVERTERS.get(event.entity_type)
    if convert is None:
        return None
    try:
        return convert(event)
    except (KeyError, TypeError, ValueError) as e:
        raise PermanentSinkError(
            f"{event.event_type} event {event.id} does not fit the graph: {type(e).__name__}: {e}",
            event,
        ) from e


class GraphSink:
    """Applies outbox events to a :class:`~headwater.graph.engine.GraphEngine`, per tenant.

    The engine keeps state outside the worker's transaction, so delivery is at least once; its
    version guard makes that exact. Each tenant's graph also remembers the position of the last
    event applied to it (``str(Position)``).
    """

    def __init__(self, engine: GraphEngine, name: str | None = None) -> None:
        self.engine = engine
        self.name = name or f"graph.{engine.name}"

    async def apply(self, batch: Batch) -> None:
        # Convert everything first: a malformed event is rejected before the engine is touched.
        by_tenant: dict[UUID, list[Mutation]] = {}
        last: dict[UUID, OutboxEvent] = {}
        for event in batch.events:
            mutation = to_mutation(event)
            last[event.tenant_id] = event
            if mutation is not None:
                by_tenant.setdefault(event.tenant_id, []).append(mutation)
        # Tenants' graphs are independent; within a tenant the batch's order is kept.
        for tenant_id, final in last.items():
            await self.engine.apply(
                tenant_id, by_tenant.get(tenant_id, []), position=str(final.position)
            )
