"""The impact of a new dbt manifest: each model's schema compared with the catalog's, then the
impact of what changed (``POST /api/v1/impact/dbt``, ``headwater impact --dbt-manifest``).

The manifest is mapped exactly as ``headwater ingest dbt`` maps it (:mod:`headwater.ingest.dbt`:
the same qualified names, so pass the same ``namespace``), without its SQL: column lineage comes
from the catalog, not from the proposal. Only models, seeds and snapshots are compared (sources
are the warehouse's, not the project's to change):

* a node whose qualified name the catalog holds is diffed column by column: with a
  ``catalog.json`` entry or an enforced contract, the manifest's columns are the whole schema
  (drops are detected); otherwise only the declared columns are compared, since dbt does not
  require documenting every column (no drops are inferred);
* a node the catalog holds (by ``metadata.dbt.unique_id``) under another qualified name is a
  renamed asset (a new alias, schema or database): its consumers still use the old name;
* a model, seed or snapshot of the same packages that the catalog holds and the manifest no
  longer has (removed or disabled) is a dropped asset;
* a node the catalog does not hold yet is new: nothing can depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from headwater.catalog import db, hydrate
from headwater.catalog.base import StrictModel
from headwater.catalog.db import Conn
from headwater.catalog.impact_report import (
    SEVERITY_ORDER,
    DropAsset,
    ImpactCaps,
    ImpactReport,
    ProposedChange,
    RenameAsset,
    SchemaDiff,
    catalog_columns,
    diff_columns,
    plan_changes,
    run_impact,
)
from headwater.catalog.queries import Q
from headwater.graph.engine import GraphEngine
from headwater.graph.impact import Severity, worst
from headwater.ingest.batch import AssetSpec, FieldsMode
from headwater.ingest.dbt import map_manifest

__all__ = ["DbtImpactReport", "DbtImpactRequest", "ModelImpact", "dbt_impact", "prune_manifest"]

_MANIFEST_KEYS = (
    "metadata",
    "nodes",
    "sources",
    "exposures",
    "metrics",
    "semantic_models",
    "groups",
)
_CODE_KEYS = frozenset({"raw_code", "raw_sql", "compiled_code", "compiled_sql", "injected_sql"})
_RELATIONS = ("model", "seed", "snapshot")


class DbtImpactRequest(StrictModel):
    manifest: dict[str, Any]
    catalog: dict[str, Any] | None = None
    namespace: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    detect_renames: bool = Field(default=False, strict=True)
    max_depth: int | None = Field(default=None, ge=0, strict=True)
    limit: int | None = Field(default=None, ge=1, strict=True)


class ModelImpact(BaseModel):
    unique_id: str
    qualified_name: str  # the name in the manifest (for a removed node: the catalog's)
    asset_id: int
    status: Literal["changed", "renamed", "removed"]
    severity: Severity
    diff: SchemaDiff | None
    impact: ImpactReport


class DbtImpactReport(BaseModel):
    severity: Severity
    namespace: str
    models: list[ModelImpact]  # what changed, most severe first
    new: list[str]  # qualified names the catalog does not hold yet
    unchanged: int
    models_capped: bool  # more changed models than the server analyses per request
    warnings: list[str]


def prune_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the diff reads of a manifest: no SQL, macros, docs or dependency maps. A real
    manifest shrinks many times over, so the CLI sends this rather than the file."""
    pruned = {k: manifest[k] for k in _MANIFEST_KEYS if k in manifest}
    nodes = pruned.get("nodes")
    if isinstance(nodes, dict):
        pruned["nodes"] = {
            uid: {k: v for k, v in node.items() if k not in _CODE_KEYS}
            if isinstance(node, dict)
            else node
            for uid, node in nodes.items()
        }
    return pruned


def _contract_enforced(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    for holder in (node.get("config"), node):
        contract = holder.get("contract") if isinstance(holder, dict) else None
        if isinstance(contract, dict) and contract.get("enforced") is True:
            return True
    return False


Status = Literal["changed", "renamed", "removed"]


async def dbt_impact(
    conn: Conn, graph: GraphEngine, tenant_id: UUID, request: DbtImpactRequest, caps: ImpactCaps
) -> DbtImpactReport:
    """Every model of the manifest whose schema differs from the catalog's, every renamed and
    every removed one, each with its impact (one closure per changed model)."""
    manifest = prune_manifest(request.manifest)
    mapped = map_manifest(manifest, request.catalog, namespace=request.namespace, digest="impact")
    warnings = [f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in mapped.warnings]
    nodes = manifest.get("nodes")
    raw_nodes: dict[str, Any] = nodes if isinstance(nodes, dict) else {}
    relations: dict[str, AssetSpec] = {}
    packages: set[str] = set()
    for spec in mapped.unit.assets.values():
        meta = spec.metadata.get("dbt", {})
        if meta.get("resource_type") in _RELATIONS:
            relations[str(meta["unique_id"])] = spec
            if isinstance(meta.get("package_name"), str):
                packages.add(meta["package_name"])
    names = [s.qualified_name for s in relations.values()]
    by_name = {
        r["qualified_name"]: r
        for r in await db.fetch_all(conn, Q["impact_assets_by_qualified_name"], {"names": names})
    }
    known = await db.fetch_all(conn, Q["impact_dbt_relations"], {"packages": sorted(packages)})
    by_uid = {str(r["unique_id"]): r for r in known}

    work: list[tuple[str, str, Status, int, AssetSpec | None]] = []
    new: list[str] = []
    unchanged = 0
    for uid, spec in sorted(relations.items()):
        row = by_name.get(spec.qualified_name)
        if row is not None:
            if spec.fields is None:
                unchanged += 1
            else:
                work.append((uid, spec.qualified_name, "changed", int(row["id"]), spec))
        elif uid in by_uid:
            work.append((uid, spec.qualified_name, "renamed", int(by_uid[uid]["id"]), spec))
        else:
            new.append(spec.qualified_name)
    claimed = {w[3] for w in work}
    for uid, row in sorted(by_uid.items()):
        if uid not in relations and int(row["id"]) not in claimed:
            work.append((uid, row["qualified_name"], "removed", int(row["id"]), None))

    ids = [w[3] for w in work]
    columns = await catalog_columns(conn, ids)
    assets = await hydrate.assets_by_id(conn, ids)
    models: list[ModelImpact] = []
    capped = False
    for uid, qualified_name, status, asset_id, proposed in work:
        asset = assets.get(asset_id)
        if asset is None:
            continue
        current = columns.get(asset_id, [])
        diff: SchemaDiff | None = None
        changes: list[ProposedChange]
        if status == "removed":
            changes = [DropAsset(kind="drop_asset")]
        elif status == "renamed":
            changes = [RenameAsset(kind="rename_asset", new_qualified_name=qualified_name)]
        else:
            assert proposed is not None
            assert proposed.fields is not None
            full = proposed.fields.mode == FieldsMode.REPLACE
            full = full or _contract_enforced(raw_nodes.get(uid))
            diff, changes = diff_columns(
                current,
                proposed.fields.fields,
                renames={},
                detect_renames=request.detect_renames,
                full=full,
            )
            if not changes:
                unchanged += 1
                continue
        if len(models) >= caps.max_models:
            capped = True
            break
        planned, notes = plan_changes(asset, current, changes)
        impact = await run_impact(
            conn, graph, tenant_id, asset, current, planned, notes, caps,
            request.max_depth, request.limit,
        )  # fmt: skip
        models.append(
            ModelImpact(
                unique_id=uid,
                qualified_name=qualified_name,
                asset_id=asset_id,
                status=status,
                severity=impact.severity,
                diff=diff,
                impact=impact,
            )
        )
    models.sort(key=lambda m: (SEVERITY_ORDER[m.severity], m.qualified_name))
    metadata = manifest.get("metadata")
    adapter = metadata.get("adapter_type") if isinstance(metadata, dict) else None
    return DbtImpactReport(
        severity=worst(*(m.severity for m in models)),
        namespace=request.namespace or (adapter if isinstance(adapter, str) and adapter else "dbt"),
        models=models,
        new=sorted(new),
        unchanged=unchanged,
        models_capped=capped,
        warnings=warnings,
    )
