"""Crash recovery: the process that mirrors the graph is killed with SIGKILL at least ten times
during an ingest of more than 20,000 catalog mutations across four tenants; afterwards the mirror
equals Postgres exactly (nothing missing, extra, stale or duplicated), as the reconcile drift
check judges it.

Two mirrors, two kinds of process, as they run in production:

* the in-process memory graph of ``headwater serve`` (a subprocess, the app built and served as
  ``serve`` does, search mirrors off: tests/sync/run_serve.py): every restart loads a snapshot
  while the writers keep writing and tails from that snapshot's position, so what is stressed is
  the hand-off from load to tail; checked through the admin drift endpoint and the
  ``headwater reconcile`` CLI, which calls it;
* a shared, persistent mirror fed by two ``headwater worker`` loops (subprocesses running
  ``run_worker``) under the sink's lease. Neo4j cannot run here, so the mirror is a set of
  Postgres tables written like Neo4j is: outside the worker's transaction, before the checkpoint
  commits, version-guarded (tests/sync/table_mirror.py). Kills land between a batch's writes and
  its checkpoint, the batch is delivered again, and only the version guard keeps the mirror exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from headwater.catalog.db import Database
from headwater.cli import EXIT_GATE, EXIT_OK, main
from headwater.sync.graph_mirror import check_shared
from headwater.sync.reconcile import Counts
from tests.conftest import ROOT, TenantKeys, TestDatabase, make_tenant
from tests.sync.churn import Churn
from tests.sync.table_mirror import SINK, TableGraphMirror, create_tables

MUTATIONS = 20_000
KILLS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Process:
    """A subprocess that can be killed with SIGKILL and started again."""

    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = field(default=0)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        assert self.alive(), f"{self.command} died on its own:\n{self.log.read_text()[-3000:]}"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def tenants_for(database: Database, prefix: str) -> list[TenantKeys]:
    return [await make_tenant(database, f"{prefix}{i}") for i in range(4)]


def churn_for(database: Database, test_db: TestDatabase, tenants: list[TenantKeys]) -> Churn:
    pairs = [(t.tenant_id, t.admin_user_id) for t in tenants]
    return Churn(database, pairs, seed=20_000, admin_dsn=test_db.admin_dsn)


async def ingest_while(churn: Churn, killed: Process | list[Process]) -> None:
    """Write at least MUTATIONS events, and on until the process(es) were killed KILLS times."""
    processes = killed if isinstance(killed, list) else [killed]
    while churn.events < MUTATIONS or sum(p.kills for p in processes) < KILLS:
        await churn.write(1000)


# --- the memory graph inside `headwater serve` ----------------------------------------------------


async def ready(port: int, server: Process, timeout: float = 60) -> None:
    async with httpx.AsyncClient() as http:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert server.alive(), server.log.read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"http://127.0.0.1:{port}/readyz", timeout=1)).is_success:
                    return
            assert asyncio.get_running_loop().time() < deadline, "serve did not get ready"
            await asyncio.sleep(0.05)


@pytest.mark.edits_rows_directly
async def test_the_memory_graph_of_serve_is_exact_after_kill_9_during_an_ingest(
    database: Database,
    test_db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenants = await tenants_for(database, "mem")
    churn = churn_for(database, test_db, tenants)
    await churn.write(1000)  # something to load at the first start
    port = _free_port()
    env = test_db.process_env(tmp_path / "data")
    server = Process(
        [sys.executable, "-m", "tests.sync.run_serve", str(port)],
        env,
        tmp_path / "serve.log",
    )
    after_ready = 0

    async def kill_repeatedly() -> None:
        nonlocal after_ready
        rng = random.Random(9)
        while True:
            server.start()
            if rng.random() < 0.3:
                # Anywhere in the start: while importing, loading the snapshot, or tailing.
                await asyncio.sleep(rng.uniform(0.2, 2.0))
            else:
                await ready(port, server)  # loaded and tailing under the writers' load
                await asyncio.sleep(rng.uniform(0.0, 0.6))
                after_ready += 1
            server.kill()

    try:
        async with background(kill_repeatedly()):
            await ingest_while(churn, server)
        assert server.kills >= KILLS
        assert after_ready >= KILLS // 2  # most kills hit a running mirror
        assert churn.events >= MUTATIONS
        if not server.alive():
            server.start()
        await ready(port, server)

        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            for keys in tenants:
                response = await http.get(
                    "/api/v1/admin/sync/drift",
                    params={"sink": "graph", "wait": 60},
                    headers=keys.headers("admin"),
                )
                assert response.status_code == 200, response.text
                report = response.json()
                assert report["caught_up"], report
                assert report["drift"] is False, report
                assert report["total"]["total"] == 0
                [mine] = report["tenants"]
                assert mine["postgres"]["relationship"] > 100
                assert mine["postgres"]["field_lineage"] > 100

        # The same check through the CLI, then drift made behind the outbox's back, found
        # (exit 1), rebuilt away and checked again.
        keys = tenants[0]
        monkeypatch.setenv("HEADWATER_URL", url)
        monkeypatch.setenv("HEADWATER_API_KEY", keys.admin)
        for name in ("DATABASE_URL", "NEO4J_URI"):
            monkeypatch.delenv(name, raising=False)
        check = ["reconcile", "--sink", "graph", "--check"]
        capsys.readouterr()
        assert await asyncio.to_thread(main, check) == EXIT_OK
        with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE relationships SET deleted_at = now() WHERE id = (SELECT min(id) FROM"
                " relationships WHERE tenant_id = %s AND deleted_at IS NULL)",
                (keys.tenant_id,),
            )
        capsys.readouterr()
        assert await asyncio.to_thread(main, check) == EXIT_GATE
        found = json.loads(capsys.readouterr().out)
        assert found["by_kind"]["relationship"]["stale"] == 1
        assert found["tenants"][0]["examples"][0]["detail"] == "differs in deleted"
        assert await asyncio.to_thread(main, ["reconcile", "--sink", "graph"]) == EXIT_OK
        capsys.readouterr()
        assert await asyncio.to_thread(main, check) == EXIT_OK
    finally:
        server.stop()


# --- a shared mirror under `headwater worker` processes -------------------------------------------


async def test_a_shared_mirror_is_exact_after_its_workers_are_killed_during_an_ingest(
    database: Database, test_db: TestDatabase, worker_db: Database, tmp_path: Path
) -> None:
    create_tables(test_db.admin_dsn)
    tenants = await tenants_for(database, "shared")
    churn = churn_for(database, test_db, tenants)
    await churn.write(2000)  # a catalog older than the mirror: the first worker loads it
    with psycopg.connect(test_db.admin_dsn) as conn:
        [before_workers] = conn.execute("SELECT max(id) FROM outbox").fetchone() or (0,)
    env = test_db.process_env(tmp_path / "data")
    workers = [
        Process(
            [sys.executable, "-m", "tests.sync.run_table_worker", test_db.worker_dsn],
            env,
            tmp_path / f"worker{i}.log",
        )
        for i in range(2)
    ]

    async def applying() -> Process:
        """The worker that delivered last: the one holding the lease, mid-batch."""
        async with await psycopg.AsyncConnection.connect(test_db.admin_dsn) as conn:
            cur = await conn.execute("SELECT pid FROM mirror_deliveries ORDER BY seq DESC LIMIT 1")
            row = await cur.fetchone()
        busy = [w for w in workers if row and w.proc is not None and w.proc.pid == row[0]]
        return busy[0] if busy else rng.choice(workers)

    rng = random.Random(7)

    async def kill_repeatedly() -> None:
        for worker in workers:
            worker.start()
        await asyncio.sleep(0.8)  # the first kill lands around the first worker's cold start
        while True:
            worker = await applying()
            worker.kill()
            worker.start()
            # Each restart costs a Python start-up: often enough for ten kills in the ingest,
            # rarely enough not to starve it.
            await asyncio.sleep(rng.uniform(0.8, 2.2))

    store = TableGraphMirror(test_db.worker_dsn)
    try:
        async with background(kill_repeatedly()):
            await ingest_while(churn, workers)
        assert sum(w.kills for w in workers) >= KILLS
        assert churn.events >= MUTATIONS
        for worker in workers:
            if not worker.alive():
                worker.start()
        report = await check_shared(worker_db, SINK, store, wait=60)
    finally:
        for worker in workers:
            worker.stop()
    assert report.caught_up, report.as_dict()
    assert report.total == Counts(), report.as_dict()
    assert not report.drift
    assert {t.tenant_id for t in report.tenants} >= {t.tenant_id for t in tenants}
    ours = [t for t in report.tenants if t.tenant_id in {k.tenant_id for k in tenants}]
    assert all(t.postgres["relationship"] > 100 and t.postgres["field_lineage"] > 100 for t in ours)
    with psycopg.connect(test_db.admin_dsn) as conn:
        delivered, distinct, tailed_old = conn.execute(
            "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (WHERE event_id <= %s)"
            " FROM mirror_deliveries",
            (before_workers,),
        ).fetchone() or (0, 0, 0)
    # Kills did land between a batch's writes and its checkpoint: those events came again.
    assert delivered > distinct
    # The catalog older than the mirror came from the snapshot load, not by tailing the outbox.
    assert tailed_old == 0
    await store.close()
