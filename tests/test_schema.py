"""The migrated schema is the one the code expects, and its safety properties hold."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from headwater.catalog import db as db_module
from headwater.catalog.db import latest_migration, migrate
from headwater.catalog.embedded import SUPERUSER, EmbeddedPostgres
from headwater.catalog.queries import Q
from tests.conftest import TestDatabase

TENANT_TABLES = {
    "users", "api_keys", "assets", "relationships", "tags", "asset_tags", "schema_fields",
    "field_lineage", "audits", "background_tasks", "outbox",
}  # fmt: skip


def test_every_named_statement_plans_against_the_migrated_schema(test_db: TestDatabase) -> None:
    # EXPLAIN plans without executing: an unknown table, column or function fails here.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        for name, statement in Q.items():
            params = {key: None for key in _param_names(statement)}
            # EXPLAIN cannot take COPY: plan the query it exports instead.
            copied = re.fullmatch(r"COPY \((.*)\)\s+TO STDOUT.*", statement, re.DOTALL)
            query = copied.group(1) if copied else statement
            try:
                conn.execute(f"EXPLAIN {query}", params)
            except psycopg.Error as e:
                pytest.fail(f"statement {name!r} does not match the schema: {e}")


def _param_names(statement: str) -> set[str]:
    # Every psycopg placeholder format: %(x)s (auto), %(x)b (binary), %(x)t (text).
    return set(re.findall(r"%\((\w+)\)[sbt]", statement))


def test_migrations_are_recorded_and_idempotent(test_db: TestDatabase) -> None:
    assert migrate(test_db.admin_dsn) == []
    with psycopg.connect(test_db.admin_dsn) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == list(range(1, latest_migration() + 1))


def test_edited_migration_is_refused(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    with pytest.raises(RuntimeError, match="edited after it was applied"):
        migrate(test_db.admin_dsn)


def test_rls_enabled_and_forced_on_every_tenant_table(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                            AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_owned,
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
              FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
            """
        ).fetchall()
    tenant_owned = {r[0] for r in rows if r[3]}
    assert tenant_owned >= TENANT_TABLES
    for name, enabled, forced, owned, policies in rows:
        if owned or name == "tenants":
            assert enabled, f"{name}: RLS not enabled"
            assert forced, f"{name}: RLS not forced"
            assert policies > 0, f"{name} has no policy"


def test_app_role_owns_nothing_and_cannot_bypass_rls(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = 'headwater_app'"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = 'headwater_app'::regrole"
        ).fetchone()
    assert role == (False, False, False, False)
    assert owned == (0,)


@pytest.mark.edits_rows_directly
def test_without_a_tenant_reads_see_nothing_and_writes_fail(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        tenant = conn.execute(
            "INSERT INTO tenants (slug, name) VALUES ('t', 't') RETURNING id"
        ).fetchone()
        assert tenant is not None
        conn.execute(
            "INSERT INTO assets (tenant_id, type, name, qualified_name)"
            " VALUES (%s, 'table', 'a', 'a')",
            (tenant[0],),
        )
    with psycopg.connect(test_db.app_dsn, autocommit=True) as conn:
        for table in [*TENANT_TABLES, "tenants"]:
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert count == (0,), table
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO assets (tenant_id, type, name, qualified_name)"
                " VALUES (%s, 'table', 'b', 'b')",
                (tenant[0],),
            )
        # A tenant set for one transaction does not outlive it.
        with conn.transaction():
            conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(tenant[0]),))
            assert conn.execute("SELECT count(*) FROM assets").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM assets").fetchone() == (0,)


@pytest.mark.edits_rows_directly
def test_app_role_cannot_rewrite_audits(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        tenant = conn.execute(
            "INSERT INTO tenants (slug, name) VALUES ('t', 't') RETURNING id"
        ).fetchone()
        assert tenant is not None
        conn.execute(
            "INSERT INTO audits (tenant_id, action, entity_type, entity_id)"
            " VALUES (%s, 'x', 'asset', '1')",
            (tenant[0],),
        )
    with psycopg.connect(test_db.app_dsn) as conn:
        conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(tenant[0]),))
        for statement in ("UPDATE audits SET action = 'y'", "DELETE FROM audits"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(statement)
    # Even the owner cannot: the trigger makes audit rows immutable.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="immutable"):
            conn.execute("UPDATE audits SET action = 'y'")


@pytest.mark.edits_rows_directly
def test_alias_lookup_stays_in_the_tenant_and_reaches_its_index(test_db: TestDatabase) -> None:
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        tenants = []
        for slug in ("t1", "t2"):
            row = conn.execute(
                "INSERT INTO tenants (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)
            ).fetchone()
            assert row is not None
            tenants.append(row[0])
            # The same alias in both tenants, a deleted holder, and an asset without aliases.
            conn.execute(
                "INSERT INTO assets (tenant_id, type, name, qualified_name, metadata, deleted_at)"
                " VALUES (%(t)s, 'table', 'a', 'a', '{\"aliases\": [\"hive://x\"]}', NULL),"
                "        (%(t)s, 'table', 'b', 'b', '{\"aliases\": [\"hive://x\"]}', now()),"
                "        (%(t)s, 'table', 'c', 'c', '{}', NULL)",
                {"t": row[0]},
            )
        # Enough assets without aliases that scanning them costs more than the index.
        conn.execute(
            "INSERT INTO assets (tenant_id, type, name, qualified_name)"
            " SELECT %s, 'table', 'n' || g, 'n' || g FROM generate_series(1, 5000) g",
            (tenants[0],),
        )
        conn.execute("ANALYZE assets")
        expected = conn.execute(
            "SELECT id FROM assets WHERE tenant_id = %s AND name = 'a'", (tenants[0],)
        ).fetchall()
    lookup = "SELECT asset_id FROM headwater_assets_by_alias(%s::text[])"
    with psycopg.connect(test_db.app_dsn) as conn:
        assert conn.execute(lookup, (["hive://x"],)).fetchall() == []  # no tenant, no rows
        conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(tenants[0]),))
        assert conn.execute(lookup, (["hive://x", "other"],)).fetchall() == expected
        assert conn.execute(lookup, (["a"],)).fetchall() == []
    # The function's own query, planned as its owner, reaches the aliases' index: under the
    # tenant policy alone jsonb's ?| could not use it (the reason the function exists).
    with psycopg.connect(test_db.admin_dsn) as conn:
        body = conn.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'headwater_assets_by_alias'"
        ).fetchone()
        assert body is not None
        conn.execute("SET LOCAL ROLE headwater_system")
        conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(tenants[0]),))
        plan = conn.execute(
            "EXPLAIN " + body[0].replace("names", "%(names)s::text[]"), {"names": ["hive://x"]}
        ).fetchall()
    assert any("assets_aliases_idx" in row[0] for row in plan), plan


def test_the_api_key_lookup_keeps_its_security_properties(test_db: TestDatabase) -> None:
    """Migration 0009 rewrote the lookup every request makes in PL/pgSQL (its plan is kept for
    the session); it must still run as its owner with a pinned search path, callable by the
    application role and nobody else."""
    with psycopg.connect(test_db.admin_dsn) as conn:
        row = conn.execute(
            "SELECT l.lanname, p.prosecdef, p.provolatile, p.proconfig, r.rolname,"
            "       has_function_privilege('headwater_app', p.oid, 'EXECUTE'),"
            "       has_function_privilege('headwater_worker', p.oid, 'EXECUTE'),"
            "       has_function_privilege('public', p.oid, 'EXECUTE')"
            "  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
            "  JOIN pg_roles r ON r.oid = p.proowner"
            " WHERE p.proname = 'headwater_lookup_api_key'"
        ).fetchone()
    assert row == (
        "plpgsql", True, "s", ["search_path=public, pg_temp"], "headwater_system",
        True, False, False,
    )  # fmt: skip


@pytest.mark.edits_rows_directly
def test_log_tables_hold_only_the_transactions_tenant(test_db: TestDatabase) -> None:
    # Audits and outbox carry no foreign key to tenants (0005): row-level security alone keeps
    # every row in the tenant the transaction was given.
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO tenants (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)
            ).fetchone()
            for slug in ("t1", "t2")
        ]
    own, other = (str(row[0]) for row in ids if row is not None)
    inserts = {
        "audits": "INSERT INTO audits (tenant_id, action, entity_type, entity_id)"
        " VALUES (%s, 'x', 'asset', '1')",
        "outbox": "INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version,"
        " event_type, payload) VALUES (%s, 'asset', 1, 1, 'asset.upserted', '{}')",
    }
    with psycopg.connect(test_db.app_dsn) as conn:
        for table, statement in inserts.items():
            with conn.transaction():
                conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (own,))
                conn.execute(statement, (own,))
                for tenant in (other, "00000000-0000-0000-0000-000000000000"):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                        conn.execute(statement, (tenant,))
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


@pytest.mark.edits_rows_directly
def test_a_tenant_the_statistics_never_saw_gets_probes_not_tenant_scans(
    test_db: TestDatabase,
) -> None:
    """A tenant created after the last ANALYZE: finding the few assets a batch names, with
    their fields, probes the name and field indexes. With tenant_id statistics the tenant was
    estimated at one row, and the plan scanned the whole tenant instead (migration 0007)."""
    with psycopg.connect(test_db.admin_dsn, autocommit=True) as conn:
        old, new = (
            conn.execute(
                "INSERT INTO tenants (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)
            ).fetchone()[0]  # type: ignore[index]
            for slug in ("old", "new")
        )
        for tenant, count in ((old, 40_000), (new, 3_000)):
            conn.execute(
                "INSERT INTO assets (tenant_id, type, name, qualified_name)"
                " SELECT %s, 'table', 'n' || g, 'n' || g FROM generate_series(1, %s) g",
                (tenant, count),
            )
            conn.execute(
                "INSERT INTO schema_fields (tenant_id, asset_id, name, ordinal)"
                " SELECT a.tenant_id, a.id, 'c' || g, g FROM assets a, generate_series(1, 5) g"
                " WHERE a.tenant_id = %s",
                (tenant,),
            )
            if tenant == old:
                conn.execute("ANALYZE assets, schema_fields")
        assert conn.execute(
            "SELECT count(*) FROM pg_stats WHERE attname = 'tenant_id'"
        ).fetchone() == (0,)
    with psycopg.connect(test_db.app_dsn) as conn:
        conn.execute("SELECT set_config('headwater.tenant_id', %s, true)", (str(new),))
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN " + Q["ingest_lock_named_assets"],
                {"names": [f"n{k}" for k in range(1, 3_000, 150)]},
            )
        )
    assert "assets_tenant_qualified_name_key" in plan, plan
    assert "AND (asset_id = a.id))" in plan, plan  # the fields: by their asset
    for tenant_scan in ("assets_tenant_updated_idx", "assets_tenant_type_idx",
                        "assets_tenant_name_idx", "schema_fields_name_idx"):  # fmt: skip
        assert tenant_scan not in plan, plan


def test_log_states_move_to_json_with_every_value_kept(
    pg_cluster: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0008 on a database that already holds jsonb audit states and event payloads:
    each comes back as the same document, now stored as written (json), still compressed."""
    name = f"hw_upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = pg_cluster.dsn(SUPERUSER, name)
    every = db_module._migrations()
    monkeypatch.setattr(db_module, "_migrations", lambda: every[:7])
    migrate(dsn)
    state = {"name": "Zoë", "n": 12345678901234567890123, "nested": {"b": [1.5, None, True]}}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tenant = conn.execute(
            "INSERT INTO tenants (slug, name) VALUES ('up', 'up') RETURNING id"
        ).fetchone()
        assert tenant is not None
        conn.execute(
            "INSERT INTO audits (tenant_id, action, entity_type, entity_id, before, after)"
            " VALUES (%s, 'asset.update', 'asset', '1', '{}', %s)",
            (tenant[0], Jsonb(state)),
        )
        conn.execute(
            "INSERT INTO outbox (tenant_id, entity_type, entity_id, entity_version, event_type,"
            " payload) VALUES (%s, 'asset', 1, 2, 'asset.upserted', %s)",
            (tenant[0], Jsonb(state)),
        )
    monkeypatch.setattr(db_module, "_migrations", lambda: every)
    try:
        assert migrate(dsn) == [n for _, n, _ in every[7:]]
        with psycopg.connect(dsn, autocommit=True) as conn:
            types = conn.execute(
                "SELECT attrelid::regclass::text || '.' || attname, format_type(atttypid, NULL),"
                " attcompression FROM pg_attribute WHERE attname IN ('before', 'after', 'payload')"
                " AND attrelid IN ('audits'::regclass, 'outbox'::regclass) ORDER BY 1"
            ).fetchall()
            lz4 = conn.execute(
                "SELECT count(*) > 0 FROM pg_settings WHERE name = 'default_toast_compression'"
                " AND 'lz4' = ANY(enumvals)"
            ).fetchone() == (True,)
            assert types == [
                (column, "json", "l" if lz4 else "")
                for column in ("audits.after", "audits.before", "outbox.payload")
            ]
            assert conn.execute("SELECT before, after FROM audits").fetchone() == ({}, state)
            assert conn.execute("SELECT payload FROM outbox").fetchone() == (state,)
    finally:
        with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
