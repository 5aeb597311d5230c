"""One settings object for the whole process, read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("headwater"))


class Settings(BaseSettings):
    """Headwater configuration.

    The server URLs take their conventional unprefixed names (``DATABASE_URL``, ``NEO4J_URI``...)
    so the same deployment manifests work for every component; everything else is ``HEADWATER_*``.
    """

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # The runtime DSN: a role that owns no table and cannot bypass row-level security.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HEADWATER_DATABASE_URL")
    )
    # The schema owner's DSN, used only to apply migrations.
    admin_database_url: str | None = None
    # The sync worker's DSN (HEADWATER_WORKER_DATABASE_URL): a member of headwater_worker, which
    # reads the outbox and the tables mirrors hydrate from across tenants. Embedded: derived.
    worker_database_url: str | None = None
    neo4j_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_URI", "HEADWATER_NEO4J_URI")
    )
    # With NEO4J_URI set, `serve` reads lineage from Neo4j and `headwater worker` feeds it.
    neo4j_user: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "HEADWATER_NEO4J_USER")
    )
    neo4j_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NEO4J_PASSWORD", "HEADWATER_NEO4J_PASSWORD"),
    )
    # None: the user's home database.
    neo4j_database: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NEO4J_DATABASE", "HEADWATER_NEO4J_DATABASE"),
    )
    elasticsearch_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ELASTICSEARCH_URL", "HEADWATER_ELASTICSEARCH_URL"),
    )
    milvus_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MILVUS_URI", "HEADWATER_MILVUS_URI")
    )
    # The embedding model's arithmetic: auto is bfloat16 where the CPU has it in hardware.
    embedding_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    # Once caught up, the search mirrors let new events gather this long before their next batch
    # (as Elasticsearch's refresh interval does): a batch's refresh and embedding call cost about
    # as much for one event as for many.
    search_refresh_interval: float = Field(default=0.5, ge=0, le=60)

    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Caps on unbounded work; responses say when one was applied.
    max_body_bytes: int = 16 * 1024 * 1024
    max_bulk_items: int = 10_000
    max_page_size: int = 500
    default_page_size: int = 50
    log_level: str = "INFO"
    # Background tasks (bulk ingestion uploads). The runner runs in `headwater worker`, and in
    # `serve` when task_runner is true (default, None: only on the embedded defaults).
    task_runner: bool | None = None
    task_concurrency: int = Field(default=1, ge=1, le=64)
    task_poll_interval: float = Field(default=2.0, gt=0)
    # Progress is written at most this often, and at least every heartbeat; a running task not
    # heard of for task_stale_after seconds has lost its runner and is retried.
    task_progress_interval: float = Field(default=0.5, gt=0)
    task_heartbeat_interval: float = Field(default=10.0, gt=0)
    task_stale_after: float = Field(default=300.0, gt=0)
    # Retry n of a failed task waits task_retry_base * 2**(n-1) seconds (at most an hour).
    task_retry_base: float = Field(default=10.0, gt=0)
    # An upload counts against max_body_bytes as sent; gzip-compressed (as the CLI sends it) it
    # may inflate up to this.
    max_task_input_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    # OpenLineage events a task writes per transaction (a larger file commits in chunks).
    task_events_per_transaction: int = Field(default=10_000, ge=1)
    # Lineage query caps: a request above one is lowered to it and the response says so.
    max_lineage_depth: int = Field(default=100, ge=1)
    max_lineage_nodes: int = Field(default=10_000, ge=1)
    default_lineage_limit: int = Field(default=1_000, ge=1)
    max_view_nodes: int = Field(default=2_000, ge=1)
    max_path_depth: int = Field(default=10, ge=1)
    max_paths: int = Field(default=1_000, ge=1)
    # Impact analysis caps (hops, nodes one traversal may reach, dbt models per request, items a
    # report may list with their paths: 100 unless asked, and the summary counts all of them).
    max_impact_depth: int = Field(default=100, ge=1)
    max_impact_nodes: int = Field(default=50_000, ge=1)
    max_impact_models: int = Field(default=500, ge=1)
    max_impact_items: int = Field(default=1_000, ge=1)
    # Sync worker: events per batch, polling fallback when no NOTIFY arrives, retry backoff for a
    # failing sink, and the port `headwater worker` serves /metrics on (0: none).
    worker_batch_size: int = Field(default=500, ge=1, le=100_000)
    worker_poll_interval: float = Field(default=5.0, gt=0)
    worker_backoff_initial: float = Field(default=0.5, gt=0)
    worker_backoff_max: float = Field(default=60.0, gt=0)
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # A running server for CLI commands that act on its in-process mirrors (`reconcile` of the
    # memory graph): HEADWATER_URL and an admin key, HEADWATER_API_KEY.
    url: str | None = None
    api_key: SecretStr | None = None

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"
