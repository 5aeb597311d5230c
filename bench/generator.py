"""A seeded synthetic data platform, laid out like real ones.

Each tenant is a layered platform::

    sources --USES-- ingest jobs --PRODUCES--> staging --DEPENDS_ON-- views
    staging/views/marts --USES-- transform jobs --PRODUCES--> marts (in tiers: a job may read the
    marts of earlier jobs, so chains get deep) --DEPENDS_ON-- semantic models, dashboards, ML
    models, reports; dashboards CONTAIN charts, pipelines CONTAIN jobs, some tables are
    RELATED_TO others.

Fan-in is power-law (a Lomax draw per consumer) and inputs are picked with Zipf popularity
weights, so fan-out is power-law too: a few raw tables feed most of the platform, most feed a
handful of consumers. The flow graph is a DAG with at most one relationship per (source, target)
pair. Tables, views and models have columns (power-law counts, names unique per asset from a
fixed vocabulary); every column of a derived asset (staging, view, mart, model) is computed from
one or more columns of the asset's data inputs (through its producing job for staging tables and
marts), which gives the column-level lineage.

Everything is vectorised numpy, so a million-asset tenant takes seconds; the same seed always
gives the same platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ASSET_TYPES",
    "COLUMN_TYPES",
    "COLUMN_VOCAB",
    "LAYERS",
    "RELATIONSHIP_TYPES",
    "TRANSFORMATIONS",
    "Layer",
    "TenantLineage",
    "generate_tenant",
]

I8 = NDArray[np.int8]
I16 = NDArray[np.int16]
I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Layer:
    name: str
    asset_type: str
    share: float  # of the tenant's assets
    system: str  # second segment of the qualified name
    columns: bool


LAYERS: Final[tuple[Layer, ...]] = (
    Layer("source", "table", 0.14, "raw", True),
    Layer("ingest_job", "job", 0.07, "airflow", False),
    Layer("staging", "table", 0.18, "staging", True),
    Layer("view", "view", 0.10, "analytics", True),
    Layer("transform_job", "job", 0.10, "dbt", False),
    Layer("mart", "table", 0.16, "marts", True),
    Layer("model", "semantic_model", 0.05, "semantic", True),
    Layer("dashboard", "dashboard", 0.08, "looker", False),
    Layer("chart", "chart", 0.06, "looker", False),
    Layer("ml_model", "ml_model", 0.02, "mlflow", False),
    Layer("report", "report", 0.02, "reports", False),
    Layer("pipeline", "pipeline", 0.02, "airflow", False),
)
_LAYER: Final = {layer.name: i for i, layer in enumerate(LAYERS)}

ASSET_TYPES: Final = tuple(dict.fromkeys(layer.asset_type for layer in LAYERS))
RELATIONSHIP_TYPES: Final = ("PRODUCES", "USES", "DEPENDS_ON", "CONTAINS", "RELATED_TO")
PRODUCES, USES, DEPENDS_ON, CONTAINS, RELATED_TO = range(5)
TRANSFORMATIONS: Final = ("IDENTITY", "TRANSFORMATION", "AGGREGATION", "JOIN", "FILTER")
_TRANSFORMATION_WEIGHTS: Final = (0.5, 0.2, 0.15, 0.1, 0.05)

# Calibrated so that a tenant has about 5 relationships and 20 column edges per asset.
FAN_IN_MEAN: Final = 14.0
COLUMNS_MEAN: Final = 16.0
MAX_COLUMNS: Final = 300
EXTRA_COLUMN_INPUTS: Final = 2.2  # Poisson mean of a column's inputs beyond the first
ZIPF: Final = 0.9  # popularity exponent: the input picked r-th most often has weight r^-ZIPF

DOMAINS: Final = (
    "sales", "finance", "marketing", "customer", "product", "inventory", "billing", "support",
    "logistics", "people", "growth", "risk",
)  # fmt: skip
ENTITIES: Final = (
    ("order", "orders"), ("customer", "customers"), ("invoice", "invoices"),
    ("payment", "payments"), ("shipment", "shipments"), ("product", "products"),
    ("user", "users"), ("session", "sessions"), ("event", "events"),
    ("subscription", "subscriptions"), ("account", "accounts"), ("lead", "leads"),
    ("campaign", "campaigns"), ("ticket", "tickets"), ("refund", "refunds"), ("cart", "carts"),
    ("review", "reviews"), ("contract", "contracts"), ("employee", "employees"),
    ("supplier", "suppliers"), ("warehouse", "warehouses"), ("transaction", "transactions"),
    ("click", "clicks"), ("pageview", "pageviews"), ("device", "devices"), ("plan", "plans"),
    ("coupon", "coupons"), ("return", "returns"), ("delivery", "deliveries"),
    ("vendor", "vendors"),
)  # fmt: skip
QUALIFIERS: Final = (
    "daily", "weekly", "monthly", "latest", "history", "snapshot", "active", "enriched",
)  # fmt: skip
METRICS: Final = (
    "revenue", "orders", "sessions", "clicks", "refunds", "signups", "churn", "retention",
    "conversion", "margin", "cost", "volume", "latency", "errors", "visits", "tickets",
    "payments", "shipments", "returns", "discount", "spend", "impressions", "installs",
)  # fmt: skip
_GENERIC_COLUMNS: Final = (
    "id", "created_at", "updated_at", "deleted_at", "email", "phone", "first_name", "last_name",
    "full_name", "address", "city", "state", "country", "postal_code", "status", "type",
    "category", "name", "description", "amount", "currency", "price", "quantity", "discount",
    "tax", "total", "cost", "margin", "revenue", "source", "channel", "campaign", "region",
    "segment", "score", "rank", "is_active", "is_deleted", "start_date", "end_date",
    "event_time", "event_type", "session_id", "ip_address", "user_agent", "device", "platform",
    "language", "timezone", "notes",
)  # fmt: skip
_AGGREGATES: Final = ("sum", "avg", "count", "min", "max", "p50", "p90", "daily", "weekly", "mtd")

# A prime number of distinct column names: an asset's columns are the names at
# (offset + stride * ordinal) mod len, distinct for any stride, so no asset repeats a name.
_VOCAB_SIZE: Final = 307


def _column_vocab() -> tuple[str, ...]:
    names = list(_GENERIC_COLUMNS) + [f"{singular}_id" for singular, _ in ENTITIES]
    names += [f"{metric}_{agg}" for metric in METRICS for agg in _AGGREGATES]
    names = list(dict.fromkeys(names))[:_VOCAB_SIZE]
    if len(names) != _VOCAB_SIZE:
        raise AssertionError(f"the column vocabulary has {len(names)} names, not {_VOCAB_SIZE}")
    return tuple(names)


def _column_type(name: str) -> str:
    if name == "id" or name.endswith("_id"):
        return "bigint"
    if name.endswith(("_at", "_time")):
        return "timestamp"
    if name.endswith("_date"):
        return "date"
    if name.startswith("is_"):
        return "boolean"
    if name.split("_")[-1] in _AGGREGATES or name in ("amount", "price", "tax", "total", "cost"):
        return "numeric(18,2)"
    return "text"


COLUMN_VOCAB: Final = _column_vocab()
COLUMN_TYPES: Final = tuple(_column_type(name) for name in COLUMN_VOCAB)


@dataclass
class TenantLineage:
    """One tenant's platform. Assets, fields and edges are addressed by their position here
    ("generator index"); the loader maps positions to catalog ids."""

    slug: str
    layer: I8  # per asset: index into LAYERS
    domain: I8
    entity: I16
    names: list[str]
    qualified_names: list[str]
    descriptions: list[str]
    rel_source: I32  # relationships in stored orientation
    rel_target: I32
    rel_type: I8  # index into RELATIONSHIP_TYPES
    field_asset: I32  # per field, ordered by (asset, ordinal)
    field_code: I16  # index into COLUMN_VOCAB
    field_ordinal: I32
    lineage_source: I64  # field positions
    lineage_target: I64
    lineage_type: I8  # index into TRANSFORMATIONS
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_assets(self) -> int:
        return len(self.layer)

    @property
    def n_fields(self) -> int:
        return len(self.field_asset)

    def asset_type(self, i: int) -> str:
        return LAYERS[int(self.layer[i])].asset_type

    def layer_range(self, name: str) -> range:
        code = _LAYER[name]
        hits = np.flatnonzero(self.layer == code)
        return range(int(hits[0]), int(hits[-1]) + 1) if len(hits) else range(0)

    def metadata(self, i: int) -> dict[str, Any]:
        domain = DOMAINS[int(self.domain[i])]
        return {
            "domain": domain,
            "team": f"{domain} analytics",
            "layer": LAYERS[self.layer[i]].name,
        }

    def owners(self, i: int) -> list[str]:
        return [f"{DOMAINS[int(self.domain[i])]}-data@{self.slug}.example"]

    def field_name(self, f: int) -> str:
        return COLUMN_VOCAB[int(self.field_code[f])]

    def flow_edges(self) -> tuple[I32, I32]:
        """(upstream, downstream) asset positions of every relationship that carries flow."""
        fwd = self.rel_type == PRODUCES
        bwd = (self.rel_type == USES) | (self.rel_type == DEPENDS_ON)
        up = np.concatenate([self.rel_source[fwd], self.rel_target[bwd]])
        down = np.concatenate([self.rel_target[fwd], self.rel_source[bwd]])
        return up, down

    def field_offsets(self) -> I64:
        """Position of each asset's first field (assets without columns: where one would be)."""
        counts = np.bincount(self.field_asset, minlength=self.n_assets)
        offsets: I64 = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return offsets


def _fan_in(rng: np.random.Generator, n: int, mean: float, cap: int) -> I64:
    """Power-law input counts, at least 1, averaging about ``mean``."""
    if n == 0:
        return np.zeros(0, np.int64)
    extra = np.floor(rng.pareto(2.0, n) * max(mean - 0.5, 0.0)).astype(np.int64)
    result: I64 = np.minimum(1 + extra, cap)
    return result


class _Platform:
    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        shares = np.array([layer.share for layer in LAYERS])
        counts = np.maximum(np.floor(shares / shares.sum() * n).astype(np.int64), 1)
        counts[-1] += n - int(counts.sum())
        if counts[-1] < 1:
            raise ValueError(f"a tenant needs at least {len(LAYERS) * 2} assets, got {n}")
        self.n = n
        self.layer = np.repeat(np.arange(len(LAYERS), dtype=np.int8), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.ranges = {
            layer.name: np.arange(s, s + c, dtype=np.int64)
            for layer, s, c in zip(LAYERS, starts.tolist(), counts.tolist(), strict=True)
        }
        # Zipf popularity within each layer, over a random ranking.
        self.popularity = np.empty(n, np.float64)
        for members in self.ranges.values():
            ranks = rng.permutation(len(members)) + 1
            self.popularity[members] = ranks.astype(np.float64) ** -ZIPF
        self.edges: list[tuple[I64, I64, int]] = []

    def pick(
        self, consumers: I64, k: I64, pool: I64, eligible: I64 | None = None
    ) -> tuple[I64, I64]:
        """For each consumer, ``k`` inputs drawn by popularity from ``pool`` (or from its first
        ``eligible`` members); returns (consumer, input) pairs, repeats possible."""
        if eligible is not None:
            k = np.where(eligible > 0, k, 0)
        if len(pool) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        cumulative = np.cumsum(self.popularity[pool])
        repeated = np.repeat(consumers, k)
        if eligible is None:
            totals: F64 | float = float(cumulative[-1])
        else:
            totals = np.repeat(cumulative[np.maximum(eligible, 1) - 1], k)
        draws = self.rng.random(len(repeated)) * totals
        index = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(pool) - 1)
        return repeated, pool[index]

    def uniform(self, pool: I64, n: int) -> I64:
        """``n`` members of ``pool`` drawn uniformly (who produces a table is not popularity)."""
        drawn: I64 = pool[self.rng.integers(0, len(pool), n)]
        return drawn

    def add(self, source: I64, target: I64, kind: int) -> None:
        self.edges.append((source, target, kind))

    def relationships(self) -> tuple[I32, I32, I8]:
        source = np.concatenate([e[0] for e in self.edges])
        target = np.concatenate([e[1] for e in self.edges])
        kind = np.concatenate([np.full(len(e[0]), e[2], np.int64) for e in self.edges])
        keep = source != target
        source, target, kind = source[keep], target[keep], kind[keep]
        key = (kind * self.n + source) * self.n + target
        _, first = np.unique(key, return_index=True)
        first.sort()
        return (
            source[first].astype(np.int32),
            target[first].astype(np.int32),
            kind[first].astype(np.int8),
        )


def generate_tenant(slug: str, n_assets: int, seed: int) -> TenantLineage:
    """The platform of one tenant with ``n_assets`` assets."""
    rng = np.random.default_rng(seed)
    p = _Platform(rng, n_assets)
    r = p.ranges
    fan = FAN_IN_MEAN

    # Ingestion: jobs read raw sources and produce staging tables.
    # Every source is read by one ingest job, and jobs read a few more (joins, lookups).
    sources_read = r["source"]
    loader = p.uniform(r["ingest_job"], len(sources_read))
    more_jobs, more_sources = p.pick(
        r["ingest_job"], _fan_in(rng, len(r["ingest_job"]), 2.0, 50) - 1, r["source"]
    )
    jobs_in = np.concatenate([loader, more_jobs])
    sources = np.concatenate([sources_read, more_sources])
    p.add(jobs_in, sources, USES)
    staging = r["staging"]
    producer = p.uniform(r["ingest_job"], len(staging))
    twice = staging[rng.random(len(staging)) < 0.05]
    second = p.uniform(r["ingest_job"], len(twice))
    stg_produced = (np.concatenate([staging, twice]), np.concatenate([producer, second]))
    p.add(stg_produced[1], stg_produced[0], PRODUCES)

    # Views over staging and earlier views.
    views = r["view"]
    pool = np.concatenate([staging, views])
    view_of, view_input = p.pick(
        views, _fan_in(rng, len(views), fan, 500), pool, len(staging) + np.arange(len(views))
    )
    p.add(view_of, view_input, DEPENDS_ON)

    # Transform jobs in tiers: job j reads staging, views and the marts of jobs before it.
    tjobs, marts = r["transform_job"], r["mart"]
    mart_producer = np.sort(p.uniform(tjobs, len(marts)))
    p.add(mart_producer, marts, PRODUCES)
    pool = np.concatenate([staging, views, marts])
    eligible = len(staging) + len(views) + np.searchsorted(mart_producer, tjobs, side="left")
    job_of, job_input = p.pick(tjobs, _fan_in(rng, len(tjobs), fan, 500), pool, eligible)
    p.add(job_of, job_input, USES)

    # Consumers of the marts.
    models = r["model"]
    model_of, model_input = p.pick(models, _fan_in(rng, len(models), fan / 2, 200), marts)
    p.add(model_of, model_input, DEPENDS_ON)
    dashboards = r["dashboard"]
    dash_pool = np.concatenate([views, marts, models])
    p.add(*p.pick(dashboards, _fan_in(rng, len(dashboards), fan, 500), dash_pool), DEPENDS_ON)
    charts = r["chart"]
    parents = dashboards[rng.integers(0, len(dashboards), len(charts))]
    p.add(parents, charts, CONTAINS)
    chart_pool = np.concatenate([marts, models])
    p.add(*p.pick(charts, np.ones(len(charts), np.int64), chart_pool), DEPENDS_ON)
    ml = r["ml_model"]
    p.add(*p.pick(ml, _fan_in(rng, len(ml), fan, 500), marts), DEPENDS_ON)
    reports = r["report"]
    p.add(*p.pick(reports, _fan_in(rng, len(reports), fan / 2, 200), chart_pool), DEPENDS_ON)

    # Structure: pipelines contain jobs; some tables are related.
    all_jobs = np.concatenate([r["ingest_job"], tjobs])
    _, pipeline = p.pick(all_jobs, np.ones(len(all_jobs), np.int64), r["pipeline"])
    p.add(pipeline, all_jobs, CONTAINS)
    tables = np.concatenate([r["source"], staging, marts])
    n_related = max(n_assets // 100, 1)
    p.add(
        tables[rng.integers(0, len(tables), n_related)],
        tables[rng.integers(0, len(tables), n_related)],
        RELATED_TO,
    )
    rel_source, rel_target, rel_type = p.relationships()

    # Columns.
    has_columns = np.array([layer.columns for layer in LAYERS])[p.layer]
    n_columns = np.zeros(n_assets, np.int64)
    extra = np.floor(rng.pareto(2.0, n_assets) * (COLUMNS_MEAN - 3.5)).astype(np.int64)
    n_columns[has_columns] = np.minimum(3 + extra, MAX_COLUMNS)[has_columns]
    field_asset = np.repeat(np.arange(n_assets, dtype=np.int64), n_columns)
    field_offsets = np.concatenate([[0], np.cumsum(n_columns)[:-1]])
    ordinal = np.arange(len(field_asset), dtype=np.int64) - field_offsets[field_asset]
    offset = rng.integers(0, _VOCAB_SIZE, n_assets)
    stride = rng.integers(1, _VOCAB_SIZE, n_assets)
    field_code = (offset[field_asset] + stride[field_asset] * ordinal) % _VOCAB_SIZE

    # The data inputs of each derived asset (through its producing job for staging and marts).
    stg_inputs = _expand_through(stg_produced, (jobs_in, sources), n_assets)
    mart_inputs = _expand_through((marts, mart_producer), (job_of, job_input), n_assets)
    inputs_of = np.concatenate([stg_inputs[0], view_of, mart_inputs[0], model_of])
    input_asset = np.concatenate([stg_inputs[1], view_input, mart_inputs[1], model_input])
    key = inputs_of * n_assets + input_asset
    _, first = np.unique(key, return_index=True)
    inputs_of, input_asset = inputs_of[first], input_asset[first]
    order = np.argsort(inputs_of, kind="stable")
    inputs_of, input_asset = inputs_of[order], input_asset[order]
    in_ptr = np.concatenate([[0], np.cumsum(np.bincount(inputs_of, minlength=n_assets))])
    in_degree = np.diff(in_ptr)

    # Column lineage: each column of a derived asset reads 1 + Poisson columns of its inputs.
    derived_field = np.flatnonzero(in_degree[field_asset] > 0)
    reads = 1 + np.minimum(rng.poisson(EXTRA_COLUMN_INPUTS, len(derived_field)), 7)
    target = np.repeat(derived_field, reads)
    owner = field_asset[target]
    pick = np.floor(rng.random(len(target)) * in_degree[owner]).astype(np.int64)
    source_asset = input_asset[in_ptr[owner] + pick]
    source_column = np.floor(rng.random(len(target)) * n_columns[source_asset]).astype(np.int64)
    source = field_offsets[source_asset] + source_column
    n_fields = len(field_asset)
    _, first = np.unique(source * n_fields + target, return_index=True)
    first.sort()
    lineage_source, lineage_target = source[first], target[first]
    lineage_type = rng.choice(
        len(TRANSFORMATIONS), size=len(first), p=np.array(_TRANSFORMATION_WEIGHTS)
    ).astype(np.int8)

    domain = rng.integers(0, len(DOMAINS), n_assets).astype(np.int8)
    entity = rng.integers(0, len(ENTITIES), n_assets).astype(np.int16)
    qualifier = rng.integers(0, len(QUALIFIERS), n_assets)
    metric = rng.integers(0, len(METRICS), n_assets)
    names, qualified, descriptions = _texts(
        slug, p.layer, domain, entity, qualifier, metric, n_columns
    )
    lineage = TenantLineage(
        slug=slug,
        layer=p.layer,
        domain=domain,
        entity=entity,
        names=names,
        qualified_names=qualified,
        descriptions=descriptions,
        rel_source=rel_source,
        rel_target=rel_target,
        rel_type=rel_type,
        field_asset=field_asset.astype(np.int32),
        field_code=field_code.astype(np.int16),
        field_ordinal=ordinal.astype(np.int32),
        lineage_source=lineage_source,
        lineage_target=lineage_target,
        lineage_type=lineage_type,
    )
    lineage.counts = {
        "assets": n_assets,
        "relationships": len(rel_source),
        "flow_relationships": len(lineage.flow_edges()[0]),
        "fields": n_fields,
        "field_lineage": len(lineage_source),
    }
    return lineage


def _expand_through(produced: tuple[I64, I64], reads: tuple[I64, I64], n: int) -> tuple[I64, I64]:
    """(output, input) pairs: for each (output, job) in ``produced``, every input the job reads
    in ``reads`` = (job, input) pairs."""
    outputs, jobs = produced
    reading_job, read_input = reads
    order = np.argsort(reading_job, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(reading_job[order], minlength=n))])
    starts = ptr[jobs]
    lengths = ptr[jobs + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    positions = np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)
    return np.repeat(outputs, lengths), read_input[order][positions]


def _texts(
    slug: str,
    layer: I8,
    domain: I8,
    entity: I16,
    qualifier: I64,
    metric: I64,
    n_columns: I64,
) -> tuple[list[str], list[str], list[str]]:
    names: list[str] = []
    qualified: list[str] = []
    descriptions: list[str] = []
    for i, (lay, dom, ent, qual, met, cols) in enumerate(
        zip(
            layer.tolist(),
            domain.tolist(),
            entity.tolist(),
            qualifier.tolist(),
            metric.tolist(),
            n_columns.tolist(),
            strict=True,
        )
    ):
        d = DOMAINS[dom]
        one, many = ENTITIES[ent]
        q = QUALIFIERS[qual]
        m = METRICS[met]
        kind = LAYERS[lay].name
        if kind == "source":
            name = f"{many}_{i}"
            text = f"Raw {many} exported from the {d} system, loaded as is."
        elif kind == "ingest_job":
            name = f"load_{many}_{i}"
            text = f"Loads {d} {many} from the source system into staging every hour."
        elif kind == "staging":
            name = f"stg_{many}_{i}"
            text = f"Cleaned {one} records for {d}: deduplicated, typed and renamed."
        elif kind == "view":
            name = f"v_{many}_{q}_{i}"
            text = f"{q.capitalize()} view of {many} for {d} analysts."
        elif kind == "transform_job":
            name = f"build_{many}_{m}_{i}"
            text = f"Builds the {d} {m} tables from {many}."
        elif kind == "mart":
            prefix = "dim" if i % 3 == 0 else "fct"
            name = f"{prefix}_{many}_{q}_{i}"
            text = f"{q.capitalize()} {one} {m} for the {d} team, one row per {one}."
        elif kind == "model":
            name = f"{one}_{m}_model_{i}"
            text = f"Semantic model of {one} {m} with {cols} governed measures for {d}."
        elif kind == "dashboard":
            name = f"{d}_{m}_overview_{i}"
            text = f"{d.capitalize()} {m} overview: {q} trends by {one}."
        elif kind == "chart":
            name = f"{m}_by_{one}_{i}"
            text = f"Chart of {q} {m} by {one}."
        elif kind == "ml_model":
            name = f"{one}_{m}_predictor_{i}"
            text = f"Predicts {one} {m} for {d}; retrained {q}."
        elif kind == "report":
            name = f"{d}_{q}_report_{i}"
            text = f"{q.capitalize()} {d} report on {m} by {one}, sent to leadership."
        else:
            name = f"{d}_pipeline_{i}"
            text = f"Orchestrates the {d} jobs."
        names.append(name)
        qualified.append(f"{slug}.{LAYERS[lay].system}.{d}.{name}")
        descriptions.append(text)
    return names, qualified, descriptions
