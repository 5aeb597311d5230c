"""One settings object for the whole process, read from the environment."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
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
    elasticsearch_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ELASTICSEARCH_URL", "HEADWATER_ELASTICSEARCH_URL"),
    )
    milvus_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MILVUS_URI", "HEADWATER_MILVUS_URI")
    )

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
    # Lineage query caps: a request above one is lowered to it and the response says so.
    max_lineage_depth: int = Field(default=100, ge=1)
    max_lineage_nodes: int = Field(default=10_000, ge=1)
    default_lineage_limit: int = Field(default=1_000, ge=1)
    max_view_nodes: int = Field(default=2_000, ge=1)
    max_path_depth: int = Field(default=10, ge=1)
    max_paths: int = Field(default=1_000, ge=1)
    # Sync worker: events per batch, polling fallback when no NOTIFY arrives, retry backoff for a
    # failing sink, and the port `headwater worker` serves /metrics on (0: none).
    worker_batch_size: int = Field(default=500, ge=1, le=100_000)
    worker_poll_interval: float = Field(default=5.0, gt=0)
    worker_backoff_initial: float = Field(default=0.5, gt=0)
    worker_backoff_max: float = Field(default=60.0, gt=0)
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"
