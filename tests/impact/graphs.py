"""Hand-built lineage graphs for impact tests, named rather than numbered."""

from __future__ import annotations

from collections.abc import Iterable

from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    Mutation,
    RelationshipState,
)


class Lineage:
    """Assets with columns, flow relationships and column lineage; ``ids`` by name
    (``"orders"`` for an asset, ``"orders.email"`` for a column)."""

    def __init__(self) -> None:
        self.states: list[Mutation] = []
        self.assets: dict[str, int] = {}
        self.fields: dict[str, int] = {}
        self._rel = 0
        self._lineage = 0

    def asset(self, name: str, type: str = "table", columns: Iterable[str] = ()) -> Lineage:
        asset_id = len(self.assets) + 1
        self.assets[name] = asset_id
        self.states.append(AssetState(asset_id, type, 1, name=name, qualified_name=f"db.{name}"))
        for column in columns:
            field_id = len(self.fields) + 1
            self.fields[f"{name}.{column}"] = field_id
            self.states.append(FieldState(field_id, asset_id, 1, name=column))
        return self

    def rel(self, source: str, target: str, type: str) -> Lineage:
        self._rel += 1
        self.states.append(
            RelationshipState(self._rel, self.assets[source], self.assets[target], type, 1)
        )
        return self

    def reads(self, consumer: str, source: str) -> Lineage:
        """``consumer DEPENDS_ON source``: data flows source -> consumer."""
        return self.rel(consumer, source, "DEPENDS_ON")

    def job(self, job: str, inputs: Iterable[str], outputs: Iterable[str]) -> Lineage:
        for name in inputs:
            self.rel(job, name, "USES")
        for name in outputs:
            self.rel(job, name, "PRODUCES")
        return self

    def col(self, source: str, target: str, transformation: str = "IDENTITY") -> Lineage:
        self._lineage += 1
        self.states.append(
            FieldLineageState(
                self._lineage, self.fields[source], self.fields[target], transformation, 1
            )
        )
        return self

    def data(self) -> GraphData:
        return GraphData.from_states(self.states)

    def name(self, asset_id: int) -> str:
        return next(n for n, i in self.assets.items() if i == asset_id)

    def column(self, field_id: int) -> str:
        return next(n for n, i in self.fields.items() if i == field_id)
