"""Hypothesis strategies: random lineage histories (versioned entity states) and their delivery.

A history gives every entity one to three versions; later versions may delete or restore it,
retype an asset, move a field to another asset or (rarely) change an edge's endpoints. Edges may
form cycles, diamonds, parallel edges and self-loops, reference assets whose state never arrives,
and use every relationship type (plus one without a declared flow). Asset ids and field ids
overlap on purpose: they are different kinds of node.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from headwater.graph.model import (
    AssetState,
    FieldLineageState,
    FieldState,
    GraphData,
    Mutation,
    RelationshipState,
)

ASSET_TYPES = ("table", "job", "dashboard")
RELATIONSHIP_TYPES = ("PRODUCES", "USES", "DEPENDS_ON", "CONTAINS", "RELATED_TO", "FEEDS")
TRANSFORMATIONS = ("IDENTITY", "AGGREGATE")

_deleted = st.sampled_from([False] * 7 + [True])
# flow types drawn more often than structure, so random graphs have long lineage chains
_relationship_types = st.sampled_from(
    ["PRODUCES", "USES", "DEPENDS_ON"] * 3 + ["CONTAINS", "RELATED_TO", "FEEDS"]
)


@dataclass(frozen=True)
class History:
    """Entity versions in commit order, and how they are delivered to an engine."""

    mutations: tuple[Mutation, ...]  # commit order
    delivery: tuple[Mutation, ...]  # shuffled and with replays, or commit order
    batches: tuple[int, ...]  # delivery split into apply() calls of these sizes
    bulk: int  # how many leading commits are bulk-loaded (GraphData) before the deliveries
    asset_ids: tuple[int, ...]  # including referenced-only ids
    field_ids: tuple[int, ...]

    def bulk_data(self) -> GraphData:
        return GraphData.from_states(self.mutations[: self.bulk])

    def batched(self) -> list[list[Mutation]]:
        out: list[list[Mutation]] = []
        at = 0
        for size in self.batches:
            out.append(list(self.delivery[at : at + size]))
            at += size
        if at < len(self.delivery):
            out.append(list(self.delivery[at:]))
        return out


@st.composite
def histories(
    draw: st.DrawFn,
    max_assets: int = 8,
    max_fields: int = 10,
    max_relationships: int = 20,
    max_lineage: int = 18,
    shuffle: bool = True,
) -> History:
    n_assets = draw(st.sampled_from(range(1, max_assets + 1)))
    asset_ids = list(range(1, n_assets + 1))
    # one more id that edges may reference but whose state never arrives
    referenced = [*asset_ids, n_assets + 1]
    # edge ends: mostly real assets, now and then the id whose state never arrives
    asset_ends = st.sampled_from([*asset_ids * 4, n_assets + 1])
    n_fields = draw(st.sampled_from(range(max_fields + 1)))
    # about 1.5-2.5 edges per node: sparse enough for long chains, dense enough for diamonds
    n_relationships = min(max_relationships, draw(st.integers(2 * n_assets, 3 * n_assets + 2)))
    n_lineage = min(max_lineage, draw(st.integers(2 * n_fields, 3 * n_fields + 2)))
    n_lineage = n_lineage if n_fields else 0
    field_ids = list(range(1, n_fields + 1))
    field_refs = [*field_ids, n_fields + 1] if n_fields else []
    field_ends = st.sampled_from([*field_ids * 4, n_fields + 1] if n_fields else [0])

    versions: list[list[Mutation]] = []
    for asset in asset_ids:
        states: list[Mutation] = []
        for v in range(1, draw(st.integers(1, 3)) + 1):
            states.append(
                AssetState(
                    asset,
                    draw(st.sampled_from(ASSET_TYPES)),
                    v,
                    name=f"a{asset}",
                    qualified_name=f"db.a{asset}",
                    deleted=draw(_deleted),
                )
            )
        versions.append(states)
    for f in field_ids:
        owner = draw(st.sampled_from(asset_ids))
        states = []
        for v in range(1, draw(st.integers(1, 3)) + 1):
            if v > 1 and draw(st.integers(0, 9)) == 0:
                owner = draw(st.sampled_from(asset_ids))
            states.append(FieldState(f, owner, v, name=f"c{f}", deleted=draw(_deleted)))
        versions.append(states)
    for r in range(1, n_relationships + 1):
        src, dst = draw(asset_ends), draw(asset_ends)
        kind = draw(_relationship_types)
        states = []
        for v in range(1, draw(st.integers(1, 3)) + 1):
            if v > 1 and draw(st.integers(0, 9)) == 0:
                src, kind = (
                    draw(asset_ends),
                    draw(_relationship_types),
                )
            states.append(RelationshipState(r, src, dst, kind, v, deleted=draw(_deleted)))
        versions.append(states)
    if field_refs:
        for e in range(1, n_lineage + 1):
            src, dst = draw(field_ends), draw(field_ends)
            states = []
            for v in range(1, draw(st.integers(1, 3)) + 1):
                if v > 1 and draw(st.integers(0, 9)) == 0:
                    dst = draw(field_ends)
                transformation = draw(st.sampled_from(TRANSFORMATIONS))
                states.append(
                    FieldLineageState(e, src, dst, transformation, v, deleted=draw(_deleted))
                )
            versions.append(states)

    # Commit order: interleave the entities' version lists, each entity's versions in order.
    commits: list[Mutation] = []
    queues = [list(vs) for vs in versions]
    while any(queues):
        live = [q for q in queues if q]
        commits.append(draw(st.sampled_from(live)).pop(0))

    bulk = draw(st.integers(0, len(commits))) if draw(st.booleans()) else 0
    rest = commits[bulk:]
    if shuffle and draw(st.booleans()):
        replays = draw(st.lists(st.sampled_from(commits), max_size=10)) if commits else []
        delivery = draw(st.permutations([*rest, *replays]))
    else:
        delivery = rest
    batches = draw(st.lists(st.integers(1, 12), max_size=8))
    return History(
        tuple(commits),
        tuple(delivery),
        tuple(batches),
        bulk,
        tuple(referenced),
        tuple(field_refs),
    )
