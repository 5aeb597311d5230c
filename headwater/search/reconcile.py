"""Reconcile a search mirror with Postgres: report drift, or rebuild it from a snapshot.

Both run under the sink's lease (the transaction-scoped advisory lock its sync runner takes for
every batch), so the index does not move while it is compared or rebuilt.

**Check** compares, per tenant, the live assets in Postgres with the live documents in the index:

* ``missing``: live in Postgres, absent (or a tombstone) in the index;
* ``extra``: live in the index, deleted in Postgres or never there;
* ``stale``: in both, but the index holds a version older than the last outbox event that changed
  the document (:func:`~headwater.search.source.change_version` of its txid).

A sink that is merely behind shows up as drift too: that is what drift is at that moment.

**Rebuild** reads every document from one consistent snapshot, drops the tenant's documents
(tombstones included) and writes them at the snapshot's version
(:func:`~headwater.search.source.snapshot_version`), which outranks every earlier delivery and is
outranked by every later one. Rebuilding every tenant also moves the sink's checkpoint to the
snapshot's position, so the events the snapshot already covers are not applied again. A new
sink (checkpoint at the start of the outbox) is cold-started this way instead of replaying the
whole outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

from headwater.catalog.db import Conn, Database
from headwater.search import source
from headwater.search.fulltext import WriteResult
from headwater.search.sink import SearchSink
from headwater.settings import Settings
from headwater.sync import tailer
from headwater.sync.events import START, Position

__all__ = [
    "DriftReport",
    "RebuildReport",
    "ReconcileError",
    "TenantDrift",
    "check",
    "cli_command",
    "rebuild",
]

# How long to wait for the sink's lease (its runner holds it for one batch at a time).
LEASE_WAIT: Final = 60.0
# Ids listed per kind of drift and tenant in a report: enough to start looking.
DEFAULT_EXAMPLES: Final = 10


class ReconcileError(Exception):
    """Reconcile could not run (the lease stayed taken, an engine refused...)."""


@asynccontextmanager
async def _leased(database: Database, sink: str, wait: float) -> AsyncIterator[Conn]:
    """A transaction holding ``sink``'s lease; waits up to ``wait`` seconds for it."""
    deadline = time.monotonic() + wait
    while True:
        async with database.transaction() as conn:
            if await tailer.try_lease(conn, sink):
                yield conn
                return
        if time.monotonic() > deadline:
            raise ReconcileError(f"sink {sink!r} stayed busy for {wait:.0f}s: try again later")
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class TenantDrift:
    tenant_id: UUID
    slug: str
    expected: int  # live assets in Postgres
    indexed: int  # live documents in the index
    missing: list[int]
    extra: list[int]
    stale: list[int]

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.stale)

    def as_dict(self, examples: int = DEFAULT_EXAMPLES) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "slug": self.slug,
            "expected": self.expected,
            "indexed": self.indexed,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "stale": len(self.stale),
            "examples": {
                "missing": self.missing[:examples],
                "extra": self.extra[:examples],
                "stale": self.stale[:examples],
            },
        }


@dataclass(frozen=True)
class DriftReport:
    """``caught_up`` is false when the sink had not applied every event committed before the
    check began within the time allowed: its lag then shows as drift."""

    sink: str
    position: str
    caught_up: bool
    tenants: list[TenantDrift]

    @property
    def drift(self) -> bool:
        return any(t.drift for t in self.tenants)

    def totals(self) -> dict[str, int]:
        return {
            "expected": sum(t.expected for t in self.tenants),
            "indexed": sum(t.indexed for t in self.tenants),
            "missing": sum(len(t.missing) for t in self.tenants),
            "extra": sum(len(t.extra) for t in self.tenants),
            "stale": sum(len(t.stale) for t in self.tenants),
        }

    def tenant(self, slug: str) -> TenantDrift:
        return next(t for t in self.tenants if t.slug == slug)

    def as_dict(self, examples: int = DEFAULT_EXAMPLES) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "position": self.position,
            "caught_up": self.caught_up,
            "drift": self.drift,
            "total": self.totals(),
            "tenants": [t.as_dict(examples) for t in self.tenants],
        }


async def _catch_up(database: Database, sink: str, wait: float) -> tuple[Position, bool]:
    """The outbox position when the check begins, and whether the sink applied every event
    before it within ``wait`` seconds."""
    async with tailer.consistent_snapshot(database) as (_, target):
        pass
    deadline = time.monotonic() + wait
    while True:
        async with database.transaction() as conn:
            applied = await tailer.get_checkpoint(conn, sink)
            pending = await tailer.read_batch(conn, applied, 1)
        if not pending or pending[0].position >= target:
            return target, True
        if time.monotonic() >= deadline:
            return target, False
        await asyncio.sleep(0.05)


async def check(
    database: Database,
    sink: SearchSink,
    *,
    tenants: Collection[str] | None = None,
    wait: float = 0.0,
    lease_wait: float = LEASE_WAIT,
) -> DriftReport:
    """Compare the index with Postgres for every tenant (or those slugs), under the lease, after
    waiting up to ``wait`` seconds for the sink to apply what was committed before the call."""
    async with database.transaction() as conn:
        await tailer.ensure_checkpoint(conn, sink.name)
    position, caught_up = await _catch_up(database, sink.name, wait)
    found: list[TenantDrift] = []
    async with _leased(database, sink.name, lease_wait) as conn:
        for tenant in await source.tenants(conn, tenants):
            expected = await source.expected_change_txids(conn, tenant.id)
            held = await sink.live_versions(tenant.id)
            found.append(
                TenantDrift(
                    tenant_id=tenant.id,
                    slug=tenant.slug,
                    expected=len(expected),
                    indexed=len(held),
                    missing=sorted(expected.keys() - held.keys()),
                    extra=sorted(held.keys() - expected.keys()),
                    stale=sorted(
                        asset_id
                        for asset_id, txid in expected.items()
                        if txid is not None
                        and asset_id in held
                        and held[asset_id] < source.change_version(txid)
                    ),
                )
            )
    return DriftReport(sink.name, str(position), caught_up, found)


@dataclass
class RebuildReport:
    sink: str
    position: str
    version: int
    checkpoint_moved: bool
    documents: dict[str, int] = field(default_factory=dict)  # per tenant slug
    written: WriteResult = field(default_factory=WriteResult)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "position": self.position,
            "version": self.version,
            "checkpoint_moved": self.checkpoint_moved,
            "documents": self.documents,
            "total": sum(self.documents.values()),
            "seconds": round(self.seconds, 3),
        }


async def rebuild(
    database: Database,
    sink: SearchSink,
    *,
    tenants: Collection[str] | None = None,
    only_if_new: bool = False,
    lease_wait: float = LEASE_WAIT,
) -> RebuildReport | None:
    """Rebuild the index of every tenant (or those slugs) from one snapshot, under the lease.

    ``only_if_new``: do it only when the sink's checkpoint is still at the start of the outbox
    (a cold start); returns None when it is not.
    """
    started = time.perf_counter()
    # Its own short transaction: a row written under the lease would give the lease's long
    # transaction an id, and hold every tailer's snapshot xmin back until the rebuild ends.
    async with database.transaction() as conn:
        await tailer.ensure_checkpoint(conn, sink.name)
    async with _leased(database, sink.name, lease_wait) as lease:
        if only_if_new and await tailer.get_checkpoint(lease, sink.name) != START:
            return None
        await sink.start()
        async with tailer.consistent_snapshot(database) as (snapshot, position):
            version = source.snapshot_version(position.txid)
            report = RebuildReport(sink.name, str(position), version, tenants is None)
            for tenant in await source.tenants(snapshot, tenants):
                await sink.drop_tenant(tenant.id)
                count = 0
                after = 0
                while ids := await source.live_asset_ids(snapshot, tenant.id, after=after):
                    docs = await source.documents(snapshot, dict.fromkeys(ids, version))
                    report.written += await sink.write(list(docs.values()))
                    count += len(docs)
                    after = ids[-1]
                report.documents[tenant.slug] = count
            await sink.finish()
        if tenants is None:
            await _advance(lease, sink.name, position)
    report.seconds = time.perf_counter() - started
    return report


async def _advance(conn: Conn, sink: str, position: Position) -> None:
    # The runner's checkpoint is below the snapshot (it only ever reads below an older xmin),
    # so this moves it forward; never backwards, whatever happens.
    if await tailer.get_checkpoint(conn, sink) < position:
        await tailer.advance_checkpoint(conn, sink, position)


SINKS: Final = ("search.fulltext", "search.semantic")


def cli_command(sink: str) -> Callable[[Settings, argparse.Namespace], int]:
    """``headwater reconcile --sink search.fulltext|search.semantic [--check] [--wait S]
    [--examples N]``: prints a JSON report; exit 0 when rebuilt or no drift, 1 when --check
    found drift, 2 on an error (the CLI's contract).

    The CLI opens the engines itself: a server engine any time, an embedded one (tantivy,
    milvus-lite) only while no `headwater serve` holds the data directory (a tantivy index
    takes one writer, a milvus-lite file one process)."""
    if sink not in SINKS:
        raise ValueError(f"not a search sink: {sink!r}")

    def command(settings: Settings, args: argparse.Namespace) -> int:
        from headwater.runtime import databases

        with databases(settings) as dbs:
            if dbs.worker_dsn is None:
                print("error: reconcile needs HEADWATER_WORKER_DATABASE_URL", file=sys.stderr)
                return 2
            try:
                body, drift = asyncio.run(
                    _run(
                        settings,
                        dbs.worker_dsn,
                        sink,
                        check_only=args.check,
                        wait=args.wait,
                        examples=args.examples,
                    )
                )
            except ReconcileError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        print(json.dumps(body, indent=2, default=str))
        return 1 if drift else 0

    return command


async def _run(
    settings: Settings,
    worker_dsn: str,
    sink_name: str,
    *,
    check_only: bool,
    wait: float,
    examples: int,
) -> tuple[dict[str, Any], bool]:
    from headwater.search import mirrors
    from headwater.sync.worker import check_worker_role

    database = Database(worker_dsn, min_size=1, max_size=3)
    await database.open()
    embedder = None
    sink: SearchSink | None = None
    try:
        await check_worker_role(database)
        if sink_name == "search.fulltext":
            sink = mirrors.open_fulltext(settings)
        else:
            # Only a rebuild embeds: a check compares versions and needs no model.
            embedder = None if check_only else mirrors.open_embedder(settings)
            sink = mirrors.open_semantic(settings, embedder)
        if check_only:
            report = await check(database, sink, wait=wait)
            return report.as_dict(examples), report.drift
        rebuilt = await rebuild(database, sink)
        assert rebuilt is not None  # not only_if_new
        return rebuilt.as_dict(), False
    finally:
        if sink is not None:
            await sink.close()
        if embedder is not None:
            embedder.close()
        await database.close()
