"""OpenLineage events (RunEvent, DatasetEvent, JobEvent) mapped to catalog units; pure, no I/O.

Validation. Each event is checked against the OpenLineage JSON Schema (``schemas/OpenLineage.json``,
a copy of ``spec/OpenLineage.json`` from OpenLineage/OpenLineage, Apache-2.0) for its kind: an event
with ``run`` is a RunEvent, one with ``dataset`` a DatasetEvent, one with only ``job`` a JobEvent.
Tolerated with a warning: a missing ``producer`` / ``schemaURL`` on the event or ``_producer`` /
``_schemaURL`` on a facet, and an ``eventTime`` without a time zone (read as UTC; fractions past
microseconds are cut). Rejected, with the path of the problem: anything else the schema
refuses (wrong types, missing job name), an empty namespace or name, an ``eventTime`` that is not
an ISO 8601 date-time, a ``runId`` that is not a UUID, and a facet this module maps whose content
has the wrong shape. Facets this module does not map are kept only in the raw event.

Names. A dataset or job is the asset whose qualified name is ``{namespace}/{name}`` (the
OpenLineage dataset URI form, e.g. ``postgres://db:5432/shop.public.orders`` or
``food_delivery/etl_orders``), namespace and name stripped of surrounding blanks. ``metadata.
openlineage`` keeps ``namespace`` and ``name``. The symlinks facet adds its identifiers, in the
same form, to ``metadata.aliases``: a later event naming an alias resolves to this asset.

Types. Jobs (and parent jobs) are ``job`` assets. A dataset's type comes from its datasetType facet
(TABLE, VIEW, FILE, TOPIC/STREAM) or else is guessed from the namespace scheme (kafka-like:
``topic``; s3/gs/file/hdfs/abfss-like: ``file``; anything else: ``table``). An existing data asset
keeps its type (a dbt ``view`` stays a view).

Lineage. A job USES each input (job -> dataset, data flowing dataset -> job) and PRODUCES each
output. The parent run facet makes the parent job CONTAIN the child job (and records the parent in
``metadata.openlineage.parent``). Relationships are only added, never removed by a later event
that lists fewer datasets (the COMPLETE event of a run usually lists none).

Runs. ``metadata.openlineage.last_run`` of the job holds run id, state, ``started_at``,
``ended_at``, the nominal times and the error message; events of one run merge (START then
COMPLETE), and an older run's event never overwrites a newer run (see ``batch.merge_run``).

Facets. schema -> the dataset's fields, replacing the declared list (nested fields flattened as
``parent.child``; columns inferred from column lineage that it does not list are kept, so the
lineage through them survives and a replay changes nothing). columnLineage -> field lineage from
each ``inputFields`` entry to the output field, with the transformation from the
``transformations`` array (subtype IDENTITY, AGGREGATION, JOIN... ; the full list kept in the
edge's metadata) or the older ``transformationType``; an end field the catalog lacks is created
with ``metadata.inferred = true`` unless the event's own schema facet for that dataset omits it
(then the edge is skipped with a warning); the facet's ``dataset`` list (dependencies of the
whole dataset) goes to ``metadata.openlineage.column_lineage_dataset``. documentation ->
description; ownership -> owners (added); dataSource -> ``metadata.openlineage.data_source`` (a
password in the URI is masked); sql, sourceCode, sourceCodeLocation, jobType ->
``metadata.openlineage``; tags (job and dataset) -> tags attached by name (``key``, or
``key:value`` in category ``key`` when the value says more than true); a dataset tag naming a
``field`` goes to ``metadata.openlineage.field_tags``; run tags stay with the raw event, being
per run. lifecycleStateChange DROP soft-deletes the live dataset (and maps nothing else of it,
nor of a dataset the event names by one of its aliases: that one is ignored with a warning);
RENAME renames the asset named by ``previousIdentifier`` when the new name is free. A facet with
``_deleted: true`` is ignored.

Audit and replays. The raw event is kept in an ``openlineage.event`` audit row whose entity id
is the SHA-256 of its canonical JSON (sorted keys), written once. An event identical to one
already kept is counted in ``duplicates`` and not applied again: re-applying an old event after a
newer DROP or RENAME would bring the dropped or renamed dataset back. An event that differs but
says nothing new (the same facets from another run) is applied and reports every item unchanged.
A late event that is older than a DROP or RENAME but not identical to one already seen is applied
as it comes (there is no per-dataset event clock).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError
from pydantic import ValidationError as PydanticValidationError

from headwater.catalog.assets import AssetType
from headwater.catalog.errors import Unprocessable
from headwater.catalog.field_lineage import Transformation
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
    RenameSpec,
    RunUpdate,
)

__all__ = ["MappedEvents", "map_events", "openapi_schemas", "qualified_name"]

MAX_QUALIFIED_NAME = 2000
MAX_NAME = 1000
MAX_DESCRIPTION = 100_000
MAX_ERRORS = 50

INFERRED = {"inferred": True, "inferred_from": "openlineage.columnLineage"}

_TOLERATED_MISSING = frozenset({"_producer", "_schemaURL", "producer", "schemaURL"})
_FILE_SCHEMES = frozenset(
    {"s3", "s3a", "s3n", "gs", "gcs", "file", "hdfs", "abfs", "abfss", "wasb", "wasbs", "dbfs",
     "adl", "azure", "oss", "cos", "swift", "ftp", "sftp", "http", "https"}
)  # fmt: skip
_TOPIC_SCHEMES = frozenset(
    {"kafka", "pulsar", "kinesis", "pubsub", "eventhubs", "rabbitmq", "sqs", "nats", "redpanda"}
)
_DATASET_TYPES = {
    "TABLE": AssetType.TABLE,
    "VIEW": AssetType.VIEW,
    "FILE": AssetType.FILE,
    "TOPIC": AssetType.TOPIC,
    "STREAM": AssetType.TOPIC,
}
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2})?)?"
)


class _Invalid(Exception):
    def __init__(self, loc: Loc, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def qualified_name(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


@functools.cache
def _schema() -> dict[str, Any]:
    text = (resources.files("headwater.ingest") / "schemas" / "OpenLineage.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def openapi_schemas() -> dict[str, Any]:
    """The spec's definitions as OpenAPI components (``OpenLineageRunEvent``, ...), plus
    ``OpenLineageEvent``: any of the three events. In the API's own document, so that offline
    readers (Swagger UI, code generators, schema testers) need not fetch the spec's URL."""
    prefix = "OpenLineage"
    schema = _schema()
    text = json.dumps({**schema["$defs"], "Event": {"oneOf": schema["oneOf"]}})
    text = text.replace('"#/$defs/', f'"#/components/schemas/{prefix}')
    renamed: dict[str, Any] = json.loads(text)
    return {f"{prefix}{name}": definition for name, definition in renamed.items()}


def _kind_schema(kind: str) -> dict[str, Any]:
    schema = _schema()
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"}


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    """The reference validator: its errors (and their ``anyOf`` contexts) say what is wrong."""
    return Draft202012Validator(_kind_schema(kind))


@functools.cache
def _fast_validator(kind: str) -> jsonschema_rs.Validator:
    """A compiled validator that only answers valid or not, about a hundred times faster than
    the reference one: most events are valid, and only the others need the reference's
    detailed errors. Formats are not asserted, as the reference does not assert them either."""
    return jsonschema_rs.validator_for(_kind_schema(kind), validate_formats=False)


class MappedEvents:
    """The units of a batch of events and the warnings the mapping raised, in input order."""

    def __init__(self) -> None:
        self.units: list[IngestUnit] = []
        self.warnings: list[tuple[Loc, str]] = []


def map_events(
    events: Sequence[Any], *, loc: Loc = ("body",), indexed: bool = True
) -> MappedEvents:
    """Map every event or reject the whole batch: 422 listing each bad event's first problem.

    ``indexed``: events are addressed as ``loc + (index,)`` (a batch) rather than ``loc``.
    """
    mapped = MappedEvents()
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        where = (*loc, index) if indexed else loc
        warnings: list[tuple[Loc, str]] = []
        try:
            unit = _map_event(event, where, warnings)
        except _Invalid as e:
            errors.append({"loc": list(e.loc), "msg": e.msg})
            if len(errors) >= MAX_ERRORS:
                break
            continue
        mapped.units.append(unit)
        mapped.warnings += warnings
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        path = ".".join(str(p) for p in first["loc"])
        raise Unprocessable(
            f"not a mappable OpenLineage event at {path}: {first['msg']}{more}; "
            "nothing was written",
            errors=errors,
        )
    return mapped


# Schema validation -----------------------------------------------------------------------------


def _kind(event: dict[str, Any]) -> str:
    if "run" in event:
        return "RunEvent"
    if "dataset" in event:
        return "DatasetEvent"
    if "job" in event:
        return "JobEvent"
    raise _Invalid(
        (),
        "not an OpenLineage event: a RunEvent has run and job, a DatasetEvent has dataset, "
        "a JobEvent has job",
    )


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The specific failures under a combinator (the facets' ``anyOf`` wraps the real ones)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _missing(error: ValidationError) -> list[str]:
    """The keys a failed ``required`` names that the object lacks."""
    required, instance = error.validator_value, error.instance
    if error.validator != "required" or not isinstance(instance, dict):
        return []
    if not isinstance(required, list):
        return []
    return [k for k in required if k not in instance]


def _tolerated(error: ValidationError) -> bool:
    missing = _missing(error)
    return bool(missing) and all(k in _TOLERATED_MISSING for k in missing)


def _validate(event: dict[str, Any], kind: str, loc: Loc, warnings: list[tuple[Loc, str]]) -> None:
    if _fast_validator(kind).is_valid(event):
        return
    tolerated: list[str] = []
    for error in _validator(kind).iter_errors(event):
        for leaf in _leaves(error):
            path = tuple(leaf.absolute_path)
            if _tolerated(leaf):
                tolerated.append(".".join(str(p) for p in (*path, "/".join(_missing(leaf)))))
                continue
            raise _Invalid((*loc, *path), f"{kind}: {leaf.message}")
    if tolerated:
        shown = ", ".join(sorted(set(tolerated))[:5])
        extra = f" and {len(set(tolerated)) - 5} more" if len(set(tolerated)) > 5 else ""
        warnings.append((loc, f"missing producer/schemaURL fields tolerated: {shown}{extra}"))


# Small typed readers ---------------------------------------------------------------------------


def _text(obj: dict[str, Any], key: str, loc: Loc, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _Invalid((*loc, key), f"{key} is required")
        return None
    if not isinstance(value, str):
        raise _Invalid((*loc, key), f"{key} must be a string, not {type(value).__name__}")
    return value


def _list(obj: dict[str, Any], key: str, loc: Loc) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid((*loc, key), f"{key} must be an array, not {type(value).__name__}")
    return value


def _object(value: Any, loc: Loc) -> dict[str, Any]:
    if value is None:
        raise _Invalid(loc, "is required")
    if not isinstance(value, dict):
        raise _Invalid(loc, f"must be an object, not {type(value).__name__}")
    return value


def _identifier(obj: dict[str, Any], loc: Loc, what: str) -> tuple[str, str, str]:
    """(namespace, name, qualified name), each checked against the catalog's limits."""
    namespace = (_text(obj, "namespace", loc, required=True) or "").strip()
    name = (_text(obj, "name", loc, required=True) or "").strip()
    if not namespace:
        raise _Invalid((*loc, "namespace"), f"{what} namespace must not be empty")
    if not name:
        raise _Invalid((*loc, "name"), f"{what} name must not be empty")
    qn = qualified_name(namespace, name)
    if len(qn) > MAX_QUALIFIED_NAME:
        raise _Invalid(
            (*loc, "name"),
            f"{what} namespace/name is {len(qn)} characters, over the limit of "
            f"{MAX_QUALIFIED_NAME}",
        )
    return namespace, name, qn


def _facets(
    obj: dict[str, Any], loc: Loc, key: str = "facets"
) -> dict[str, tuple[dict[str, Any], Loc]]:
    raw = obj.get(key)
    if raw is None:
        return {}
    raw = _object(raw, (*loc, key))
    facets = {}
    for name, facet in raw.items():
        where = (*loc, key, name)
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            continue
        facets[name] = (_object(facet, where), where)
    return facets


def _event_time(value: str, loc: Loc, warnings: list[tuple[Loc, str]]) -> datetime:
    match = _TIME.fullmatch(value.strip())
    if match is None:
        raise _Invalid(
            loc,
            f"eventTime must be an ISO 8601 date-time such as 2024-05-01T12:00:00Z, got {value!r}",
        )
    year, month, day, hour, minute, second, fraction, z, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if z:
        zone: timezone = UTC
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            raise _Invalid(loc, f"eventTime has an impossible UTC offset: {value!r}")
        zone = timezone(offset if sign == "+" else -offset)
    else:
        zone = UTC
        warnings.append((loc, f"eventTime {value!r} has no time zone: read as UTC"))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
            tzinfo=zone,
        )  # fmt: skip
    except ValueError as e:
        raise _Invalid(loc, f"eventTime {value!r} is not a real date-time: {e}") from None
    return moment.astimezone(UTC)


def _clip(text: str, limit: int, loc: Loc, warnings: list[tuple[Loc, str]]) -> str:
    if len(text) <= limit:
        return text
    warnings.append((loc, f"cut to {limit} characters (was {len(text)})"))
    return text[:limit]


def _field_spec(name: str, loc: Loc, **values: Any) -> FieldSpec:
    try:
        return FieldSpec(name=name, **values)
    except PydanticValidationError as e:
        detail = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise _Invalid(loc, f"field {name[:100]!r} cannot be stored: {detail}") from None


def _tag(
    name: str, category: str | None, loc: Loc, warnings: list[tuple[Loc, str]]
) -> TagByName | None:
    try:
        return TagByName(name=name, category=category)
    except PydanticValidationError:
        warnings.append((loc, f"tag {name[:100]!r} skipped: a tag name has 1 to 200 characters"))
        return None


def _redact_uri(uri: str) -> str:
    """A data source URI without its password (Marquez's own seed embeds one)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _scheme(namespace: str) -> str:
    return namespace.split("://", 1)[0].lower() if "://" in namespace else namespace.lower()


# Mapping ---------------------------------------------------------------------------------------


def _map_event(raw: Any, loc: Loc, warnings: list[tuple[Loc, str]]) -> IngestUnit:
    if not isinstance(raw, dict):
        raise _Invalid(loc, f"an event must be a JSON object, not {type(raw).__name__}")
    try:
        kind = _kind(raw)
    except _Invalid as e:
        raise _Invalid(loc, e.msg) from None
    _validate(raw, kind, loc, warnings)
    event_time = _event_time(
        _text(raw, "eventTime", loc, required=True) or "", (*loc, "eventTime"), warnings
    )
    unit = IngestUnit(loc=loc)
    mapper = _EventMapper(unit, warnings)
    column_lineage: list[tuple[AssetSpec, dict[str, Any], Loc]] = []

    if kind == "DatasetEvent":
        where = (*loc, "dataset")
        found = mapper.dataset(_object(raw["dataset"], where), where)
        if found is not None:
            column_lineage += found[1]
    else:
        job_loc = (*loc, "job")
        job = mapper.job(_object(raw["job"], job_loc), job_loc)
        if kind == "RunEvent":
            mapper.run(_object(raw["run"], (*loc, "run")), (*loc, "run"), raw, job, event_time)
        for key, relation in (
            ("inputs", RelationshipType.USES),
            ("outputs", RelationshipType.PRODUCES),
        ):
            for index, dataset in enumerate(_list(raw, key, loc)):
                where = (*loc, key, index)
                found = mapper.dataset(_object(dataset, where), where)
                if found is None:
                    continue
                spec, lineage = found
                unit.add_edge(EdgeSpec(job.qualified_name, spec.qualified_name, relation))
                column_lineage += lineage
    for target, facet, where in column_lineage:
        mapper.column_lineage(target, facet, where)

    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    unit.audit = AuditSpec(
        "openlineage.event",
        "openlineage_event",
        f"sha256:{digest}",
        raw,
        once=True,
        after_text=canonical,
    )
    return unit


class _EventMapper:
    def __init__(self, unit: IngestUnit, warnings: list[tuple[Loc, str]]) -> None:
        self.unit = unit
        self.warnings = warnings
        self.dropped: set[str] = set()

    def warn(self, loc: Loc, msg: str) -> None:
        self.warnings.append((loc, msg))

    # Jobs and runs ---------------------------------------------------------------------------

    def job(self, job: dict[str, Any], loc: Loc) -> AssetSpec:
        namespace, name, qn = _identifier(job, loc, "job")
        spec = AssetSpec(
            qn,
            AssetType.JOB,
            _clip(name, MAX_NAME, (*loc, "name"), self.warnings),
            identity={"openlineage": {"namespace": namespace, "name": name}},
            loc=loc,
        )
        meta: dict[str, Any] = {}
        for facet_name, (facet, where) in _facets(job, loc).items():
            match facet_name:
                case "documentation":
                    self._documentation(spec, facet, where)
                case "sql":
                    query = _text(facet, "query", where, required=True)
                    sql = {"query": query}
                    if (dialect := _text(facet, "dialect", where)) is not None:
                        sql["dialect"] = dialect
                    meta["sql"] = sql
                case "sourceCode":
                    meta["source_code"] = {
                        "language": _text(facet, "language", where),
                        "source_code": _text(facet, "sourceCode", where),
                    }
                case "sourceCodeLocation":
                    meta["source_code_location"] = _public(facet)
                case "jobType":
                    meta["job_type"] = _public(facet)
                case "ownership":
                    spec.owners = self._owners(facet, where)
                case "tags":
                    spec.tags = self._tags(facet, where, spec)
        if meta:
            spec.metadata["openlineage"] = meta
        return self.unit.add_asset(spec)

    def run(
        self,
        run: dict[str, Any],
        loc: Loc,
        event: dict[str, Any],
        job: AssetSpec,
        event_time: datetime,
    ) -> None:
        run_id = _text(run, "runId", loc, required=True) or ""
        try:
            run_id = str(uuid.UUID(run_id))
        except ValueError:
            raise _Invalid((*loc, "runId"), f"runId must be a UUID, got {run_id[:100]!r}") from None
        # The schema has checked the enum; an event without one adds facts, not a transition.
        event_type = str(event.get("eventType") or "OTHER")
        nominal_start = nominal_end = error_message = parent_run_id = None
        for facet_name, (facet, where) in _facets(run, loc).items():
            match facet_name:
                case "nominalTime":
                    nominal_start = _text(facet, "nominalStartTime", where)
                    nominal_end = _text(facet, "nominalEndTime", where)
                case "errorMessage":
                    message = _text(facet, "message", where) or ""
                    error_message = message[:2000]
                case "parent":
                    parent_run_id = self._parent(facet, where, job)
        job.run = RunUpdate(
            run_id=run_id,
            event_type=event_type,
            event_time=event_time,
            nominal_start_time=nominal_start,
            nominal_end_time=nominal_end,
            error_message=error_message,
            parent_run_id=parent_run_id,
        )

    def _parent(self, facet: dict[str, Any], loc: Loc, child: AssetSpec) -> str | None:
        parent_job = _object(facet.get("job"), (*loc, "job"))
        namespace, name, qn = _identifier(parent_job, (*loc, "job"), "parent job")
        parent_run = facet.get("run")
        run_id = None
        if isinstance(parent_run, dict):
            run_id = _text(parent_run, "runId", (*loc, "run"))
        child.metadata.setdefault("openlineage", {})["parent"] = {
            "namespace": namespace,
            "name": name,
        }
        if qn == child.qualified_name:
            self.warn(loc, "the parent job is the job itself: no CONTAINS relationship")
            return run_id
        self.unit.add_asset(
            AssetSpec(
                qn,
                AssetType.JOB,
                _clip(name, MAX_NAME, (*loc, "job", "name"), self.warnings),
                identity={"openlineage": {"namespace": namespace, "name": name}},
                loc=loc,
            )
        )
        self.unit.add_edge(EdgeSpec(qn, child.qualified_name, RelationshipType.CONTAINS))
        return run_id

    # Datasets ----------------------------------------------------------------------------------

    def dataset(
        self, dataset: dict[str, Any], loc: Loc
    ) -> tuple[AssetSpec, list[tuple[AssetSpec, dict[str, Any], Loc]]] | None:
        """The dataset's spec and its columnLineage facet (mapped once every dataset is known);
        None when the event drops it."""
        namespace, name, qn = _identifier(dataset, loc, "dataset")
        facets = _facets(dataset, loc)
        if (lifecycle := facets.get("lifecycleStateChange")) is not None:
            facet, where = lifecycle
            change = _text(facet, "lifecycleStateChange", where)
            if change == "DROP":
                if qn not in self.unit.drops:
                    self.unit.drops.append(qn)
                self.dropped.add(qn)
                self.unit.assets.pop(qn, None)
                self.unit.edges = [e for e in self.unit.edges if qn not in (e.source, e.target)]
                return None
            if change == "RENAME":
                previous = _object(facet.get("previousIdentifier"), (*where, "previousIdentifier"))
                _, _, previous_qn = _identifier(
                    previous, (*where, "previousIdentifier"), "previous dataset"
                )
                if previous_qn != qn:
                    self.unit.renames.append(RenameSpec(previous_qn, qn, name[:MAX_NAME]))
        if qn in self.dropped:
            self.warn(loc, f"dataset {qn!r} is dropped by this event: ignored")
            return None

        dataset_type, guessed = self._dataset_type(namespace, facets)
        spec = AssetSpec(
            qn,
            dataset_type,
            _clip(name, MAX_NAME, (*loc, "name"), self.warnings),
            type_guessed=guessed,
            identity={"openlineage": {"namespace": namespace, "name": name}},
            loc=loc,
        )
        meta: dict[str, Any] = {}
        lineage: list[tuple[AssetSpec, dict[str, Any], Loc]] = []
        for facet_name, (facet, where) in facets.items():
            match facet_name:
                case "documentation":
                    self._documentation(spec, facet, where)
                case "ownership":
                    spec.owners = self._owners(facet, where)
                case "dataSource":
                    source = {
                        "name": _text(facet, "name", where),
                        "uri": _redact_uri(uri) if (uri := _text(facet, "uri", where)) else None,
                    }
                    meta["data_source"] = {k: v for k, v in source.items() if v is not None}
                case "symlinks":
                    spec.aliases = self._aliases(facet, where, qn)
                case "tags":
                    spec.tags = self._tags(facet, where, spec, meta)
                case "datasetType":
                    meta["dataset_type"] = _public(facet)
                case "schema":
                    spec.fields = FieldsUpdate(FieldsMode.REPLACE, self._schema(facet, where))
                case "columnLineage":
                    lineage.append((spec, facet, where))
        if meta:
            spec.metadata["openlineage"] = meta
        merged = self._add(spec, loc)
        return merged, [(merged, facet, where) for _, facet, where in lineage]

    def _add(self, spec: AssetSpec, loc: Loc) -> AssetSpec:
        try:
            return self.unit.add_asset(spec)
        except ValueError as e:
            raise _Invalid(loc, str(e)) from None

    def _dataset_type(
        self, namespace: str, facets: dict[str, tuple[dict[str, Any], Loc]]
    ) -> tuple[AssetType, bool]:
        if (declared := facets.get("datasetType")) is not None:
            facet, where = declared
            value = (_text(facet, "datasetType", where) or "").upper()
            if value in _DATASET_TYPES:
                return _DATASET_TYPES[value], False
            return AssetType.DATASET, False
        scheme = _scheme(namespace)
        if scheme in _TOPIC_SCHEMES:
            return AssetType.TOPIC, True
        if scheme in _FILE_SCHEMES:
            return AssetType.FILE, True
        return AssetType.TABLE, True

    def _documentation(self, spec: AssetSpec, facet: dict[str, Any], loc: Loc) -> None:
        description = _text(facet, "description", loc)
        if description is not None:
            spec.description = _clip(
                description, MAX_DESCRIPTION, (*loc, "description"), self.warnings
            )

    def _owners(self, facet: dict[str, Any], loc: Loc) -> list[str]:
        owners: list[str] = []
        for index, owner in enumerate(_list(facet, "owners", loc)):
            where = (*loc, "owners", index)
            name = (_text(_object(owner, where), "name", where, required=True) or "").strip()
            if not name or len(name) > 320:
                self.warn(where, "owner skipped: an owner name has 1 to 320 characters")
            elif name not in owners:
                owners.append(name)
        return owners

    def _aliases(self, facet: dict[str, Any], loc: Loc, own: str) -> list[str]:
        aliases: list[str] = []
        for index, identifier in enumerate(_list(facet, "identifiers", loc)):
            where = (*loc, "identifiers", index)
            _, _, alias = _identifier(_object(identifier, where), where, "symlink")
            if alias != own and alias not in aliases:
                aliases.append(alias)
        return aliases

    def _tags(
        self,
        facet: dict[str, Any],
        loc: Loc,
        spec: AssetSpec,
        meta: dict[str, Any] | None = None,
    ) -> list[TagByName]:
        tags: list[TagByName] = []
        field_tags: dict[str, list[str]] = {}
        for index, raw in enumerate(_list(facet, "tags", loc)):
            where = (*loc, "tags", index)
            item = _object(raw, where)
            key = (_text(item, "key", where, required=True) or "").strip()
            value = item.get("value")
            value_text = "" if value is None else str(value).strip()
            if value_text.lower() in ("", "true"):
                name, category = key, None
            else:
                name, category = f"{key}:{value_text}", key[:100] or None
            column = _text(item, "field", where)
            if column is not None and meta is not None:
                names = field_tags.setdefault(column, [])
                if name not in names:
                    names.append(name)
                continue
            tag = _tag(name, category, where, self.warnings)
            if tag is not None and tag.name.lower() not in {t.name.lower() for t in tags}:
                tags.append(tag)
        if field_tags and meta is not None:
            meta["field_tags"] = field_tags
        return tags

    def _schema(self, facet: dict[str, Any], loc: Loc) -> list[FieldSpec]:
        specs: list[FieldSpec] = []
        seen: set[str] = set()

        def walk(items: list[Any], where: Loc, prefix: str) -> None:
            for index, raw in enumerate(items):
                at = (*where, index)
                item = _object(raw, at)
                name = _text(item, "name", at, required=True) or ""
                full = f"{prefix}{name}"
                field_type = _text(item, "type", at) or ""
                description = _text(item, "description", at) or ""
                if full.strip() in seen:
                    self.warn(at, f"duplicate field {full!r} skipped")
                else:
                    spec = _field_spec(
                        full,
                        at,
                        data_type=field_type[:1000],
                        description=_clip(description, MAX_DESCRIPTION, at, self.warnings),
                    )
                    seen.add(spec.name)
                    specs.append(spec)
                walk(_list(item, "fields", at), (*at, "fields"), f"{full}.")

        walk(_list(facet, "fields", loc), (*loc, "fields"), "")
        return specs

    # Column lineage ----------------------------------------------------------------------------

    def column_lineage(self, target: AssetSpec, facet: dict[str, Any], loc: Loc) -> None:
        fields = facet.get("fields", {})
        fields = _object(fields, (*loc, "fields"))
        seen = {
            (e.source, e.source_field, e.target, e.target_field) for e in self.unit.column_edges
        }
        for output_field, raw in fields.items():
            where = (*loc, "fields", output_field)
            entry = _object(raw, where)
            if not self._field_available(target, output_field, where):
                continue
            for index, raw_input in enumerate(_list(entry, "inputFields", where)):
                at = (*where, "inputFields", index)
                item = _object(raw_input, at)
                namespace, name, source_qn = _identifier(item, at, "input dataset")
                column = _text(item, "field", at, required=True) or ""
                if source_qn in self.dropped:
                    self.warn(at, f"input dataset {source_qn!r} is dropped by this event: skipped")
                    continue
                source = self.unit.assets.get(source_qn)
                if source is None:
                    source = self._add(self._referenced_dataset(namespace, name, source_qn, at), at)
                if not self._field_available(source, column, at):
                    continue
                if (source_qn, column, target.qualified_name, output_field) in seen:
                    continue
                if source_qn == target.qualified_name and column == output_field:
                    self.warn(at, f"field {column!r} cannot be its own lineage source: skipped")
                    continue
                seen.add((source_qn, column, target.qualified_name, output_field))
                transformation, description, metadata = _transformation(entry, item, at)
                self.unit.column_edges.append(
                    ColumnEdgeSpec(
                        source_qn,
                        column.strip(),
                        target.qualified_name,
                        output_field.strip(),
                        transformation,
                        description,
                        metadata,
                    )
                )
        dependencies = []
        for index, raw_input in enumerate(_list(facet, "dataset", loc)):
            at = (*loc, "dataset", index)
            item = _object(raw_input, at)
            namespace, name, _ = _identifier(item, at, "input dataset")
            dependency: dict[str, Any] = {
                "namespace": namespace,
                "name": name,
                "field": _text(item, "field", at, required=True),
            }
            if transformations := _list(item, "transformations", at):
                dependency["transformations"] = [_public(_object(t, at)) for t in transformations]
            dependencies.append(dependency)
        if dependencies:
            target.metadata.setdefault("openlineage", {})["column_lineage_dataset"] = dependencies

    def _referenced_dataset(self, namespace: str, name: str, qn: str, loc: Loc) -> AssetSpec:
        dataset_type, guessed = self._dataset_type(namespace, {})
        return AssetSpec(
            qn,
            dataset_type,
            name[:MAX_NAME],
            type_guessed=guessed,
            identity={"openlineage": {"namespace": namespace, "name": name}},
            loc=loc,
        )

    def _field_available(self, spec: AssetSpec, column: str, loc: Loc) -> bool:
        """True when the field will exist: in the event's own schema, or created as inferred."""
        if spec.fields is not None and spec.fields.mode == FieldsMode.REPLACE:
            if column.strip() in {f.name for f in spec.fields.fields}:
                return True
            self.warn(
                loc,
                f"{spec.qualified_name!r} has no field {column!r} in this event's schema facet: "
                "column lineage skipped",
            )
            return False
        spec.add_ensured([_field_spec(column, loc, metadata=dict(INFERRED))])
        return True


def _public(facet: dict[str, Any]) -> dict[str, Any]:
    """A facet's own fields, without the ``_producer`` / ``_schemaURL`` bookkeeping."""
    return {k: v for k, v in facet.items() if not k.startswith("_")}


_SUBTYPES = {t.value for t in Transformation}


def _transformation(
    entry: dict[str, Any], item: dict[str, Any], loc: Loc
) -> tuple[Transformation, str, dict[str, Any]]:
    """The edge's transformation kind, description and metadata from either facet version.

    The ``transformations`` array (facet 1-1+) wins: the first DIRECT one, else the first one;
    its subtype is the kind (a DIRECT one without subtype is a TRANSFORMATION). The older
    ``transformationType`` IDENTITY stays IDENTITY, MASKED becomes a masked TRANSFORMATION.
    """
    metadata: dict[str, Any] = {}
    transformations = [
        _object(t, (*loc, "transformations")) for t in _list(item, "transformations", loc)
    ]
    if transformations:
        metadata["transformations"] = [
            {k: v for k, v in _public(t).items() if v is not None} for t in transformations
        ]
        direct = [t for t in transformations if t.get("type") == "DIRECT"]
        chosen = (direct or transformations)[0]
        subtype = str(chosen.get("subtype") or "").upper()
        if subtype in _SUBTYPES:
            kind = Transformation(subtype)
        elif chosen.get("type") == "DIRECT":
            kind = Transformation.TRANSFORMATION
        else:
            kind = Transformation.UNKNOWN
        if any(t.get("masking") is True for t in transformations):
            metadata["masking"] = True
        description = str(chosen.get("description") or "")
        return kind, description[:MAX_DESCRIPTION], metadata
    legacy = str(entry.get("transformationType") or "").upper()
    description = str(entry.get("transformationDescription") or "")[:MAX_DESCRIPTION]
    if legacy == "IDENTITY":
        return Transformation.IDENTITY, description, metadata
    if legacy == "MASKED":
        return Transformation.TRANSFORMATION, description, {"masking": True}
    if legacy in _SUBTYPES:
        return Transformation(legacy), description, metadata
    return Transformation.UNKNOWN, description, metadata
