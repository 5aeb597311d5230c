"""A dbt ``manifest.json`` (schema v1..v12) and optional ``catalog.json`` mapped to one catalog
unit; pure, no I/O.

What is mapped (``config.enabled: false`` nodes and ``disabled`` are skipped):

- models: ``table`` / ``incremental`` / custom materializations -> ``table``; ``view`` /
  ``materialized_view`` -> ``view``; ``ephemeral`` -> ``dataset`` (it never exists in the
  warehouse, so it is named ``dbt://{unique_id}``); seeds and snapshots -> ``table``;
  sources -> ``table``.
- exposures: type dashboard / notebook / application / analysis / ml -> ``dashboard`` /
  ``notebook`` / ``application`` / ``report`` / ``ml_model``; metrics -> ``metric``; semantic
  models -> ``semantic_model``. These are named ``dbt://{unique_id}``
  (e.g. ``dbt://exposure.jaffle.weekly_metrics``).
- tests, analyses, operations, unit tests, saved queries and functions are not assets.

Names. A relation (model, seed, snapshot, source) is named ``{namespace}/{database}.{schema}.
{identifier}``, the identifier being the alias (a source's ``identifier``) and a missing database
or schema left out. That is the OpenLineage dataset name under the warehouse's namespace, so
pass the namespace the warehouse's OpenLineage producers use (``--namespace postgres://db:5432``,
``snowflake://org-account``; BigQuery's is ``bigquery``) and dbt, OpenLineage and SQL lineage meet
on one asset. The default namespace is the manifest's ``adapter_type`` (``postgres``, ...).

Content. description (an empty one keeps the catalog's); owners (added): ``meta.owner`` (a string or
a list), the owner of the node's group, an exposure's owner (email, else name); tags attached by
name; ``metadata.dbt``: unique_id, resource type, package, path, materialization, meta and a few
type-specific keys. Columns: with a catalog.json entry for the node, the catalog's columns (in its
order, with its types) become the asset's whole schema, descriptions and meta taken from the
manifest, and columns only the manifest declares are appended; without one, the manifest's
declared columns are merged into the schema (updated or appended, other columns kept), typed by
their ``data_type``.

Lineage. Each mapped node DEPENDS_ON each mapped node of its ``depends_on.nodes`` (consumer ->
source, data flowing parent -> node): the relationships out of a node are exactly its
``parent_map`` entry restricted to mapped nodes. Column lineage: a model or snapshot with compiled
SQL (``compiled_code``, or ``compiled_sql`` before v7; present after ``dbt compile`` or ``dbt
run``) is analysed by ``sql_lineage.extract_lineage`` as ``CREATE TABLE <relation> AS <compiled
SQL>`` in the adapter's dialect, knowing the columns every node declares; each (source column,
model column) pair becomes field lineage with its transformation kind (all kinds seen in
``metadata.transformations``). Columns the SQL names that no document declares are added with
``metadata.inferred``. SQL the extractor cannot analyse leaves a warning, not a failure.

Audit. One ``dbt.manifest`` audit row per distinct input (keyed by its SHA-256) records the
manifest's metadata and the namespace used; a replay adds none.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlglot import exp

from headwater.catalog.assets import AssetType
from headwater.catalog.errors import Unprocessable
from headwater.catalog.fields import FieldSpec
from headwater.catalog.relationships import RelationshipType
from headwater.catalog.tags import TagByName
from headwater.ingest.batch import (
    AssetSpec,
    AuditSpec,
    ColumnEdgeSpec,
    EdgeSpec,
    FieldsMode,
    FieldsUpdate,
    IngestUnit,
    Loc,
)
from headwater.ingest.sql_lineage import extract_lineage

__all__ = ["SUPPORTED_VERSIONS", "MappedManifest", "map_manifest", "relation_name"]

SUPPORTED_VERSIONS = range(1, 13)
MAX_QUALIFIED_NAME = 2000
MAX_DESCRIPTION = 100_000

_VERSION = re.compile(r"/manifest/v(\d+)(?:\.json)?$")
_RELATION_TYPES = frozenset({"model", "seed", "snapshot"})
_VIEWS = frozenset({"view", "materialized_view", "materializedview"})
# dbt adapter -> sqlglot dialect, where the names differ.
_DIALECTS = {"sqlserver": "tsql", "synapse": "tsql", "fabric": "tsql", "spark": "spark"}
INFERRED = {"inferred": True, "inferred_from": "dbt.compiled_code"}
_EXPOSURE_TYPES = {
    "dashboard": AssetType.DASHBOARD,
    "notebook": AssetType.NOTEBOOK,
    "application": AssetType.APPLICATION,
    "analysis": AssetType.REPORT,
    "ml": AssetType.ML_MODEL,
}


class _Invalid(Exception):
    def __init__(self, loc: Loc, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


@dataclass
class MappedManifest:
    unit: IngestUnit
    version: int
    warnings: list[tuple[Loc, str]] = field(default_factory=list)


def relation_name(namespace: str, database: str | None, schema: str | None, identifier: str) -> str:
    return f"{namespace}/{'.'.join(p for p in (database, schema, identifier) if p)}"


def map_manifest(
    manifest: Any,
    catalog: Any | None = None,
    *,
    namespace: str | None = None,
    digest: str | None = None,
) -> MappedManifest:
    """The manifest as one unit, or 422 naming what cannot be read (nothing is written)."""
    try:
        return _Mapper(manifest, catalog, namespace, digest).run()
    except _Invalid as e:
        where = ".".join(str(p) for p in e.loc)
        raise Unprocessable(
            f"not a usable dbt artifact at {where}: {e.msg}; nothing was written",
            errors=[{"loc": list(e.loc), "msg": e.msg}],
        ) from None


def _object(value: Any, loc: Loc, what: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        got = "nothing" if value is None else type(value).__name__
        raise _Invalid(loc, f"{what or 'this'} must be an object, got {got}")
    return value


def _mapping(parent: dict[str, Any], key: str, loc: Loc) -> dict[str, Any]:
    """An optional object-valued key (``{}`` when absent or null)."""
    value = parent.get(key)
    if value is None:
        return {}
    return _object(value, (*loc, key), key)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _digest(manifest: Any, catalog: Any | None) -> str:
    hasher = hashlib.sha256()
    for document in (manifest, catalog):
        hasher.update(json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return hasher.hexdigest()


class _Mapper:
    def __init__(
        self, manifest: Any, catalog: Any | None, namespace: str | None, digest: str | None
    ) -> None:
        self.manifest = _object(manifest, ("manifest",), "a manifest")
        self.catalog = catalog
        self.requested_namespace = namespace
        self.digest = digest
        self.warnings: list[tuple[Loc, str]] = []
        self.unit = IngestUnit(loc=("manifest",))
        # unique_id -> qualified name, for the nodes that became assets.
        self.names: dict[str, str] = {}
        self.parents: dict[str, list[str]] = {}
        # unique_id -> (database, schema, identifier) of every relation, and compiled SQL.
        self.relations: dict[str, tuple[str | None, str | None, str]] = {}
        self.compiled: list[tuple[str, str, Loc]] = []

    def warn(self, loc: Loc, msg: str) -> None:
        self.warnings.append((loc, msg))

    def run(self) -> MappedManifest:
        metadata = _mapping(self.manifest, "metadata", ("manifest",))
        version = self._version(metadata)
        adapter = _text(metadata.get("adapter_type")) or "dbt"
        namespace = (self.requested_namespace or adapter).strip()
        if not namespace:
            raise _Invalid(("namespace",), "the namespace must not be empty")
        self.namespace = namespace
        self.groups = self._groups()
        self.catalog_nodes = self._catalog()

        nodes = self.manifest.get("nodes")
        if not isinstance(nodes, dict):
            raise _Invalid(("manifest", "nodes"), "a manifest has a nodes object")
        for unique_id, raw in nodes.items():
            loc = ("manifest", "nodes", unique_id)
            node = _object(raw, loc, "a node")
            if node.get("resource_type") in _RELATION_TYPES and self._enabled(node):
                self._relation(unique_id, node, loc)
        for unique_id, raw in _mapping(self.manifest, "sources", ("manifest",)).items():
            loc = ("manifest", "sources", unique_id)
            node = _object(raw, loc, "a source")
            if self._enabled(node):
                self._relation(unique_id, node, loc)
        for unique_id, raw in _mapping(self.manifest, "exposures", ("manifest",)).items():
            loc = ("manifest", "exposures", unique_id)
            node = _object(raw, loc, "an exposure")
            if self._enabled(node):
                self._exposure(unique_id, node, loc)
        for key, kind in (
            ("metrics", AssetType.METRIC),
            ("semantic_models", AssetType.SEMANTIC_MODEL),
        ):
            for unique_id, raw in _mapping(self.manifest, key, ("manifest",)).items():
                loc = ("manifest", key, unique_id)
                node = _object(raw, loc, f"a {kind.value}")
                if self._enabled(node):
                    self._semantic(unique_id, node, kind, loc)

        self._column_lineage(_DIALECTS.get(adapter, adapter))
        for unique_id, parents in self.parents.items():
            for parent in parents:
                if parent in self.names:
                    self.unit.add_edge(
                        EdgeSpec(
                            self.names[unique_id], self.names[parent], RelationshipType.DEPENDS_ON
                        )
                    )

        digest = self.digest or _digest(self.manifest, self.catalog)
        summary = {
            key: metadata.get(key)
            for key in (
                "dbt_schema_version", "dbt_version", "project_name", "project_id",
                "invocation_id", "generated_at", "adapter_type",
            )
            if metadata.get(key) is not None
        }  # fmt: skip
        summary["namespace"] = namespace
        summary["catalog"] = self.catalog is not None
        summary["sha256"] = digest
        self.unit.audit = AuditSpec("dbt.manifest", "dbt_manifest", f"sha256:{digest}", summary)
        return MappedManifest(self.unit, version, self.warnings)

    # Reading the documents ---------------------------------------------------------------------

    def _version(self, metadata: dict[str, Any]) -> int:
        loc = ("manifest", "metadata", "dbt_schema_version")
        declared = metadata.get("dbt_schema_version")
        match = _VERSION.search(declared) if isinstance(declared, str) else None
        if match is None:
            raise _Invalid(
                loc,
                "metadata.dbt_schema_version must name a manifest schema such as "
                f"https://schemas.getdbt.com/dbt/manifest/v12.json, got {declared!r}",
            )
        version = int(match.group(1))
        if version < SUPPORTED_VERSIONS.start:
            raise _Invalid(loc, f"manifest schema v{version} is not a dbt manifest version")
        if version >= SUPPORTED_VERSIONS.stop:
            self.warn(
                loc,
                f"manifest schema v{version} is newer than v{SUPPORTED_VERSIONS.stop - 1}: "
                "mapped as far as it matches",
            )
        return version

    def _groups(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        for unique_id, raw in _mapping(self.manifest, "groups", ("manifest",)).items():
            group = _object(raw, ("manifest", "groups", unique_id), "a group")
            owner = self._owner_of(group.get("owner"))
            if owner and isinstance(group.get("name"), str):
                owners[group["name"]] = owner
        return owners

    def _catalog(self) -> dict[str, dict[str, Any]]:
        if self.catalog is None:
            return {}
        catalog = _object(self.catalog, ("catalog",), "catalog.json")
        entries: dict[str, dict[str, Any]] = {}
        for key in ("nodes", "sources"):
            for unique_id, raw in _mapping(catalog, key, ("catalog",)).items():
                entries[unique_id] = _object(raw, ("catalog", key, unique_id), "a catalog entry")
        if not entries and "nodes" not in catalog:
            raise _Invalid(("catalog",), "catalog.json has a nodes object")
        return entries

    @staticmethod
    def _enabled(node: dict[str, Any]) -> bool:
        config = node.get("config")
        return not (isinstance(config, dict) and config.get("enabled") is False)

    @staticmethod
    def _owner_of(owner: Any) -> str:
        if isinstance(owner, dict):
            return _text(owner.get("email")) or _text(owner.get("name"))
        return _text(owner)

    def _meta(self, node: dict[str, Any], loc: Loc) -> dict[str, Any]:
        meta = dict(_mapping(_mapping(node, "config", loc), "meta", (*loc, "config")))
        meta.update(_mapping(node, "meta", loc))
        return meta

    def _owners(self, node: dict[str, Any], meta: dict[str, Any], loc: Loc) -> list[str]:
        found: list[str] = []
        declared = meta.get("owner")
        candidates = declared if isinstance(declared, list) else [declared]
        candidates = [self._owner_of(c) for c in candidates]
        group = node.get("group") or _mapping(node, "config", loc).get("group")
        if isinstance(group, str) and group in self.groups:
            candidates.append(self.groups[group])
        if "owner" in node and node.get("resource_type") == "exposure":
            candidates.append(self._owner_of(node.get("owner")))
        for owner in candidates:
            if not owner:
                continue
            if len(owner) > 320:
                self.warn(loc, "owner skipped: an owner name has at most 320 characters")
            elif owner not in found:
                found.append(owner)
        return found

    def _tags(self, node: dict[str, Any], loc: Loc) -> list[TagByName]:
        names: list[str] = []
        for source in (node.get("tags"), _mapping(node, "config", loc).get("tags")):
            if isinstance(source, str):
                source = [source]
            for tag in source if isinstance(source, list) else []:
                if (
                    isinstance(tag, str)
                    and tag.strip()
                    and tag.strip().lower() not in {n.lower() for n in names}
                ):
                    names.append(tag.strip())
        tags = []
        for name in names:
            try:
                tags.append(TagByName(name=name))
            except PydanticValidationError:
                self.warn(loc, f"tag {name[:100]!r} skipped: a tag name has 1 to 200 characters")
        return tags

    def _description(self, node: dict[str, Any], loc: Loc) -> str | None:
        description = node.get("description")
        if not isinstance(description, str) or not description.strip():
            return None
        if len(description) > MAX_DESCRIPTION:
            self.warn(loc, f"description cut to {MAX_DESCRIPTION} characters")
            return description[:MAX_DESCRIPTION]
        return description

    def _depends_on(self, unique_id: str, node: dict[str, Any], loc: Loc) -> None:
        depends = _mapping(node, "depends_on", loc)
        parents = depends.get("nodes") or []
        if not isinstance(parents, list):
            raise _Invalid((*loc, "depends_on", "nodes"), "depends_on.nodes must be an array")
        self.parents[unique_id] = [p for p in parents if isinstance(p, str) and p != unique_id]

    def _name(self, qn: str, loc: Loc) -> str:
        if len(qn) > MAX_QUALIFIED_NAME:
            raise _Invalid(
                loc, f"its name is {len(qn)} characters, over the limit of {MAX_QUALIFIED_NAME}"
            )
        return qn

    def _add(self, unique_id: str, spec: AssetSpec, loc: Loc) -> None:
        try:
            self.unit.add_asset(spec)
        except ValueError as e:
            raise _Invalid(loc, str(e)) from None
        self.names[unique_id] = spec.qualified_name

    # Nodes -------------------------------------------------------------------------------------

    def _relation(self, unique_id: str, node: dict[str, Any], loc: Loc) -> None:
        resource = _text(node.get("resource_type")) or "source"
        config = _mapping(node, "config", loc)
        materialized = _text(config.get("materialized")).lower()
        name = _text(node.get("name")) or unique_id.rsplit(".", 1)[-1]
        if resource == "model" and materialized == "ephemeral":
            qn = self._name(f"dbt://{unique_id}", loc)
            kind = AssetType.DATASET
        else:
            if resource == "source":
                identifier = _text(node.get("identifier")) or name
            else:
                identifier = _text(node.get("alias")) or name
            database = _text(node.get("database")) or None
            schema = _text(node.get("schema")) or None
            qn = self._name(relation_name(self.namespace, database, schema, identifier), loc)
            kind = (
                AssetType.VIEW
                if resource == "model" and materialized in _VIEWS
                else AssetType.TABLE
            )
            self.relations[unique_id] = (database, schema, identifier)
            # v7+ compiled_code, earlier compiled_sql; present after dbt compile / run.
            compiled = node.get("compiled_code") or node.get("compiled_sql")
            if resource in ("model", "snapshot") and isinstance(compiled, str) and compiled.strip():
                self.compiled.append((unique_id, compiled, loc))
        meta = self._meta(node, loc)
        dbt_meta: dict[str, Any] = {
            "unique_id": unique_id,
            "resource_type": resource,
            "package_name": node.get("package_name"),
            "original_file_path": node.get("original_file_path"),
        }
        if materialized:
            dbt_meta["materialized"] = materialized
        if resource == "source":
            dbt_meta["source_name"] = node.get("source_name")
            if node.get("loader"):
                dbt_meta["loader"] = node.get("loader")
        for key in ("access", "group", "version", "language"):
            if node.get(key) not in (None, ""):
                dbt_meta[key] = node.get(key)
        if meta:
            dbt_meta["meta"] = meta
        spec = AssetSpec(
            qn,
            kind,
            name[:1000],
            description=self._description(node, loc),
            owners=self._owners(node, meta, loc),
            metadata={"dbt": {k: v for k, v in dbt_meta.items() if v is not None}},
            tags=self._tags(node, loc),
            loc=loc,
        )
        spec.fields = self._columns(unique_id, node, loc)
        self._add(unique_id, spec, loc)
        if resource != "source":
            self._depends_on(unique_id, node, loc)

    def _columns(self, unique_id: str, node: dict[str, Any], loc: Loc) -> FieldsUpdate | None:
        declared: list[FieldSpec] = []
        for key, raw in _mapping(node, "columns", loc).items():
            where = (*loc, "columns", key)
            column = _object(raw, where, "a column")
            metadata: dict[str, Any] = {}
            if column_meta := _mapping(column, "meta", where):
                metadata["meta"] = column_meta
            if tags := [t for t in column.get("tags") or [] if isinstance(t, str)]:
                metadata["tags"] = tags
            declared.append(
                self._field(
                    _text(column.get("name")) or key,
                    where,
                    data_type=_text(column.get("data_type")),
                    description=_text(column.get("description"))[:MAX_DESCRIPTION],
                    metadata=metadata,
                )
            )
        entry = self.catalog_nodes.get(unique_id)
        if entry is None:
            return FieldsUpdate(FieldsMode.MERGE, declared) if declared else None

        by_name = {f.name.lower(): f for f in declared}
        where = ("catalog", unique_id, "columns")
        columns = sorted(
            (
                _object(c, (*where, k), "a catalog column")
                for k, c in _mapping(entry, "columns", where[:-1]).items()
            ),
            key=lambda c: int(c["index"]) if isinstance(c.get("index"), int) else 1 << 30,
        )
        fields: list[FieldSpec] = []
        for column in columns:
            name = _text(column.get("name"))
            if not name:
                continue
            documented = by_name.pop(name.lower(), None)
            description = documented.description if documented else ""
            fields.append(
                self._field(
                    name,
                    where,
                    data_type=_text(column.get("type"))
                    or (documented.data_type if documented else ""),
                    description=description or _text(column.get("comment"))[:MAX_DESCRIPTION],
                    metadata=documented.metadata if documented else {},
                )
            )
        for missing in by_name.values():
            self.warn(
                (*loc, "columns", missing.name),
                f"column {missing.name!r} is declared in the manifest but not in catalog.json",
            )
            fields.append(missing)
        return FieldsUpdate(FieldsMode.REPLACE, fields)

    def _field(self, name: str, loc: Loc, **values: Any) -> FieldSpec:
        try:
            return FieldSpec(name=name, **values)
        except PydanticValidationError as e:
            detail = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            raise _Invalid(loc, f"column {name[:100]!r} cannot be stored: {detail}") from None

    def _exposure(self, unique_id: str, node: dict[str, Any], loc: Loc) -> None:
        declared = _text(node.get("type")).lower()
        kind = _EXPOSURE_TYPES.get(declared)
        if kind is None:
            self.warn(loc, f"exposure type {declared!r} is unknown: mapped as an application")
            kind = AssetType.APPLICATION
        meta = self._meta(node, loc)
        dbt_meta = {
            "unique_id": unique_id,
            "resource_type": "exposure",
            "exposure_type": declared,
            "package_name": node.get("package_name"),
            "url": node.get("url"),
            "maturity": node.get("maturity"),
        }
        self._add_labelled(unique_id, node, kind, meta, dbt_meta, loc)

    def _semantic(self, unique_id: str, node: dict[str, Any], kind: AssetType, loc: Loc) -> None:
        meta = self._meta(node, loc)
        dbt_meta: dict[str, Any] = {
            "unique_id": unique_id,
            "resource_type": node.get("resource_type"),
            "package_name": node.get("package_name"),
            "label": node.get("label"),
        }
        if kind == AssetType.METRIC:
            # v4-v9: calculation_method/expression; v10+: type/type_params.
            for key in ("type", "calculation_method", "expression", "sql", "timestamp"):
                if isinstance(node.get(key), str | int | float):
                    dbt_meta[key] = node[key]
        else:
            dbt_meta["model"] = node.get("model")
            for key in ("entities", "dimensions", "measures"):
                items = node.get(key)
                if isinstance(items, list):
                    dbt_meta[key] = [
                        i["name"] for i in items if isinstance(i, dict) and "name" in i
                    ]
        self._add_labelled(unique_id, node, kind, meta, dbt_meta, loc)

    def _add_labelled(
        self,
        unique_id: str,
        node: dict[str, Any],
        kind: AssetType,
        meta: dict[str, Any],
        dbt_meta: dict[str, Any],
        loc: Loc,
    ) -> None:
        """An exposure, metric or semantic model: named by its label, and depending on what its
        ``depends_on`` lists."""
        if meta:
            dbt_meta["meta"] = meta
        self._add(
            unique_id,
            AssetSpec(
                self._name(f"dbt://{unique_id}", loc),
                kind,
                (_text(node.get("label")) or _text(node.get("name")) or unique_id)[:1000],
                description=self._description(node, loc),
                owners=self._owners(node, meta, loc),
                metadata={"dbt": {k: v for k, v in dbt_meta.items() if v is not None}},
                tags=self._tags(node, loc),
                loc=loc,
            ),
            loc,
        )
        self._depends_on(unique_id, node, loc)

    # Column lineage from compiled SQL ----------------------------------------------------------

    def _column_lineage(self, dialect: str) -> None:
        """Field lineage of every model with compiled SQL, by the SQL extractor, qualified
        against the columns the manifest (and catalog.json) declare. A model whose SQL cannot be
        analysed keeps its table lineage and gets a warning: one bad model never fails the run."""
        if not self.compiled:
            return
        by_key: dict[str, str] = {}
        known: dict[str, list[str]] = {}
        for unique_id, (database, schema, identifier) in self.relations.items():
            key = ".".join(p for p in (database, schema, identifier) if p)
            by_key[key.lower()] = unique_id
            spec = self.unit.assets.get(self.names.get(unique_id, ""))
            if spec is not None and spec.fields is not None and spec.fields.fields:
                known[key] = [f.name for f in spec.fields.fields]
        for unique_id, sql, loc in self.compiled:
            database, schema, identifier = self.relations[unique_id]
            target = exp.table_(identifier, db=schema, catalog=database, quoted=True)
            try:
                script = f"CREATE TABLE {target.sql(dialect=dialect)} AS {sql.strip().rstrip(';')}"
                lineage = extract_lineage(script, dialect, schema=known)
            except Exception as e:  # sqlglot meets every SQL dialect's corners; report, go on
                message = getattr(e, "message", None) or str(e)
                self.warn(loc, f"compiled SQL not analysed for column lineage: {message[:500]}")
                continue
            for edge in lineage.field_lineage():
                source_id = by_key.get(edge.source.table.lower())
                target_id = by_key.get(edge.target.table.lower())
                if target_id != unique_id:
                    continue
                if source_id is None or source_id not in self.names:
                    self.warn(loc, f"column lineage from {edge.source.table!r}, not a dbt node")
                    continue
                source_column = self._column(source_id, edge.source.column)
                target_column = self._column(unique_id, edge.target.column)
                self.unit.column_edges.append(
                    ColumnEdgeSpec(
                        self.names[source_id],
                        source_column,
                        self.names[unique_id],
                        target_column,
                        edge.transformation,
                        metadata={
                            "transformations": [
                                {"type": k.type.value, "subtype": k.value} for k in edge.subtypes
                            ]
                        },
                    )
                )

    def _column(self, unique_id: str, reported: str) -> str:
        """The node's own spelling of a column the extractor reports (it folds case), made sure
        to exist: a column no document declares is added as inferred."""
        spec = self.unit.assets[self.names[unique_id]]
        declared = spec.fields.fields if spec.fields is not None else []
        for field_spec in [*declared, *spec.ensure_fields]:
            if field_spec.name.lower() == reported.lower():
                return field_spec.name
        spec.add_ensured([FieldSpec(name=reported, metadata=dict(INFERRED))])
        return reported
