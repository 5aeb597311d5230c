"""The ``headwater`` command line. Exit codes: 0 success, 1 a gate failed, 2 an error."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from headwater.catalog import admin
from headwater.catalog.admin import ApiKeyCreate, TenantStatus, TenantUpdate, UserCreate
from headwater.catalog.context import Actor, Role
from headwater.catalog.db import Conn, Database, migrate, set_tenant
from headwater.catalog.errors import HeadwaterError, NotFound
from headwater.impact_cli import add_impact_parser
from headwater.logging_setup import configure_logging
from headwater.runtime import AppServer, build_app, databases, run_task_runner, shared_sinks
from headwater.search import reconcile as search_reconcile
from headwater.settings import Settings

log = logging.getLogger("headwater.cli")

EXIT_OK, EXIT_GATE, EXIT_ERROR = 0, 1, 2


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    if settings.database_url is not None and settings.admin_database_url is None:
        print(
            "migrate needs HEADWATER_ADMIN_DATABASE_URL (the schema owner's DSN)", file=sys.stderr
        )
        return EXIT_ERROR
    with databases(settings, apply_migrations=False) as dbs:
        assert dbs.admin_dsn is not None
        applied = migrate(dbs.admin_dsn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return EXIT_OK


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    with databases(settings) as dbs:
        if dbs.embedded:
            created = _run_db(dbs.app_dsn, admin.bootstrap_default_tenant)
            if created is not None:
                _, user, key = created
                print(
                    "\n  Created tenant 'default' and its admin user "
                    f"{user.email}.\n  Admin API key (shown once, store it now):\n\n    "
                    f"{key.key}\n",
                    flush=True,
                )
        app = build_app(settings, dbs.app_dsn, dbs.worker_dsn)
        config = uvicorn.Config(
            app, host=args.host or settings.host, port=args.port or settings.port, log_config=None
        )
        _GracefulServer(config).run()
    return EXIT_OK


class _GracefulServer(AppServer):
    """Shuts down on SIGINT/SIGTERM and then returns, instead of re-raising the signal as
    uvicorn does, so the embedded Postgres this process started is stopped on the way out."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle_exit)
        yield


def _run_db(dsn: str, work: Callable[[Conn], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        database = Database(dsn, max_size=1)
        await database.open()
        try:
            async with database.transaction() as conn:
                return await work(conn)
        finally:
            await database.close()

    return asyncio.run(run())


async def _enter_tenant(conn: Conn, slug: str) -> Actor:
    for tenant in await admin.list_tenants(conn):
        if tenant.slug == slug:
            await set_tenant(conn, tenant.id)
            return Actor(tenant_id=tenant.id, user_id=None)
    raise NotFound(f"no tenant with slug {slug!r}: see `headwater admin tenant list`")


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    statuses: dict[str, TenantStatus] = {
        "suspend": "SUSPENDED",
        "activate": "ACTIVE",
        "delete": "DELETED",
    }

    async def work(conn: Conn) -> Any:
        match (args.entity, args.action):
            case ("tenant", "create"):
                tenant = await admin.create_tenant(conn, args.slug, args.name or args.slug, {})
                actor = Actor(tenant_id=tenant.id, user_id=None)
                user = await admin.create_user(
                    conn, actor, UserCreate(email=args.admin_email, roles=[Role.ADMIN])
                )
                key = await admin.create_api_key(conn, actor, ApiKeyCreate(user_id=user.id))
                return {
                    "tenant": tenant.model_dump(),
                    "admin_user": user.model_dump(),
                    "api_key": key.key,
                }
            case ("tenant", "list"):
                return [t.model_dump() for t in await admin.list_tenants(conn)]
            case ("tenant", "suspend" | "activate" | "delete"):
                actor = await _enter_tenant(conn, args.slug)
                current = await admin.get_tenant(conn)
                updated = await admin.update_tenant(
                    conn, actor, TenantUpdate(version=current.version), statuses[args.action]
                )
                return updated.model_dump()
            case ("user", "create"):
                actor = await _enter_tenant(conn, args.tenant)
                roles = [Role(r) for r in args.role]
                user = await admin.create_user(
                    conn, actor, UserCreate(email=args.email, name=args.name, roles=roles)
                )
                return user.model_dump()
            case ("key", "create"):
                actor = await _enter_tenant(conn, args.tenant)
                key = await admin.create_api_key(
                    conn, actor, ApiKeyCreate(user_id=args.user_id, name=args.name)
                )
                return {"id": key.id, "prefix": key.prefix, "api_key": key.key}
            case ("key", "revoke"):
                actor = await _enter_tenant(conn, args.tenant)
                return (await admin.revoke_api_key(conn, actor, args.key_id)).model_dump()
        raise AssertionError(f"unhandled admin command {args.entity} {args.action}")

    with databases(settings) as dbs:
        _print(_run_db(dbs.app_dsn, work))
    return EXIT_OK


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from headwater.sync import dead_letters
    from headwater.sync.worker import WorkerConfig, run_worker

    with databases(settings) as dbs:
        if dbs.worker_dsn is None:
            print(
                "the worker needs HEADWATER_WORKER_DATABASE_URL (a role that is a member of "
                "headwater_worker)",
                file=sys.stderr,
            )
            return EXIT_ERROR
        if args.worker_action is not None:

            async def manage(conn: Conn) -> Any:
                match args.worker_action:
                    case "list":
                        found = await dead_letters.list_dead_letters(
                            conn, sink=args.sink, status=args.status
                        )
                        return [d.model_dump(mode="json") for d in found]
                    case "retry":
                        return {
                            "marked_for_retry": await dead_letters.request_retry(
                                conn, sink=args.sink, ids=args.ids or None
                            )
                        }
                    case "discard":
                        return {"discarded": await dead_letters.discard(conn, args.ids)}
                raise AssertionError(f"unhandled worker command {args.worker_action}")

            _print(_run_db(dbs.worker_dsn, manage))
            return EXIT_OK
        sinks = shared_sinks(settings)
        # Background tasks (bulk ingestion) run here unless HEADWATER_TASK_RUNNER=false.
        run_tasks = settings.task_runner is not False
        if not sinks and not run_tasks:
            print(
                "no mirror outside this process is configured (NEO4J_URI): the embedded mirrors "
                "are kept current inside `headwater serve`, and the task runner is off "
                "(HEADWATER_TASK_RUNNER=false): nothing to run",
                file=sys.stderr,
            )
            return EXIT_ERROR
        if settings.worker_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(settings.worker_metrics_port, addr=settings.host)
        config = WorkerConfig(
            batch_size=settings.worker_batch_size,
            poll_interval=settings.worker_poll_interval,
            backoff_initial=settings.worker_backoff_initial,
            backoff_max=settings.worker_backoff_max,
        )
        dsn = dbs.worker_dsn

        async def work() -> None:
            task = asyncio.current_task()
            assert task is not None
            loop = asyncio.get_running_loop()
            # Stop between awaits: an interrupted batch rolls back and is applied again later.
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            try:
                async with asyncio.TaskGroup() as group:
                    if sinks:
                        group.create_task(run_worker(dsn, sinks, config))
                    if run_tasks:
                        group.create_task(run_task_runner(settings, dbs.app_dsn, dsn))
            except asyncio.CancelledError:
                log.info("sync worker stopped")

        asyncio.run(work())
    return EXIT_OK


def _reconcile_over_http(settings: Settings, args: argparse.Namespace, sink: str) -> int:
    """Reconcile a mirror that lives inside a running server, through its admin endpoints (the
    caller's tenant, the one the key belongs to)."""
    import httpx

    if settings.url is None or settings.api_key is None:
        print("error: set HEADWATER_URL and HEADWATER_API_KEY (an admin key)", file=sys.stderr)
        return EXIT_ERROR
    headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}
    try:
        with httpx.Client(base_url=settings.url.rstrip("/"), timeout=args.wait + 120) as http:
            if args.check:
                params: dict[str, Any] = {"sink": sink, "wait": args.wait}
                params["examples"] = args.examples
                response = http.get("/api/v1/admin/sync/drift", params=params, headers=headers)
            else:
                response = http.post(
                    "/api/v1/admin/sync/rebuild", params={"sink": sink}, headers=headers
                )
    except httpx.HTTPError as e:
        print(f"error: cannot reach {settings.url}: {e}", file=sys.stderr)
        return EXIT_ERROR
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        print(f"error: {response.status_code}: {detail}", file=sys.stderr)
        return EXIT_ERROR
    body = response.json()
    _print(body)
    return EXIT_GATE if args.check and body["drift"] else EXIT_OK


def _reconcile_graph(settings: Settings, args: argparse.Namespace) -> int:
    """The graph mirror: Neo4j (NEO4J_URI) directly, with the worker's role; the memory graph
    through the server that holds it (HEADWATER_URL)."""
    from headwater.catalog.db import Database
    from headwater.runtime import graph_backend, neo4j_graph_sink
    from headwater.sync.graph_mirror import check_shared, load_shared
    from headwater.sync.worker import check_worker_role

    if graph_backend(settings) == "memory":
        if settings.url is None:
            print(
                "error: the memory graph lives inside `headwater serve`: set HEADWATER_URL and "
                "HEADWATER_API_KEY (an admin key) to reconcile it there (or NEO4J_URI for the "
                "shared Neo4j mirror)",
                file=sys.stderr,
            )
            return EXIT_ERROR
        return _reconcile_over_http(settings, args, "graph")

    with databases(settings) as dbs:
        if dbs.worker_dsn is None:
            print("error: reconcile needs HEADWATER_WORKER_DATABASE_URL", file=sys.stderr)
            return EXIT_ERROR
        dsn = dbs.worker_dsn

        async def work() -> tuple[dict[str, Any], bool]:
            sink = neo4j_graph_sink(settings)
            database = Database(dsn, min_size=1, max_size=3)
            await database.open()
            try:
                await check_worker_role(database)
                await sink.setup()
                if args.check:
                    report = await check_shared(
                        database, sink.name, sink.engine, wait=args.wait, examples=args.examples
                    )
                    return report.as_dict(), report.drift
                loaded = await load_shared(database, sink.name, sink.engine, force=True)
                assert loaded is not None  # forced
                return loaded.as_dict(), False
            finally:
                await sink.engine.close()
                await database.close()

        body, drift = asyncio.run(work())
    _print(body)
    return EXIT_GATE if drift else EXIT_OK


# Each mirror's reconcile, by --sink name.
RECONCILERS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "graph": _reconcile_graph,
    **{name: search_reconcile.cli_command(name) for name in search_reconcile.SINKS},
}


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild mirrors from Postgres, or with --check only report drift (exit 1 when found)."""
    names = list(RECONCILERS) if args.sink is None else [args.sink]
    unknown = [n for n in names if n not in RECONCILERS]
    if unknown:
        print(
            f"error: unknown sink {unknown[0]!r}: choose from {', '.join(RECONCILERS)}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return max(RECONCILERS[name](settings, args) for name in names)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest into the configured (or embedded) store directly, in one transaction; with a
    server (--server, HEADWATER_URL), as a background task there, following its progress."""
    import hashlib

    from headwater.ingest.apply import ingest_dbt, ingest_openlineage
    from headwater.ingest.payload import load_documents, loads

    if args.source == "sql":
        return _ingest_sql(settings, args)
    if server := args.server or settings.url:
        return _ingest_task(settings, args, server)
    try:
        if args.source == "openlineage":
            events = load_documents(_read_input(args.file), what=args.file)
        else:
            manifest_bytes = _read_input(args.manifest)
            catalog_bytes = _read_input(args.catalog) if args.catalog else b""
            manifest = loads(manifest_bytes, what=args.manifest)
            catalog = loads(catalog_bytes, what=args.catalog) if args.catalog else None
            digest = hashlib.sha256(manifest_bytes + b"\0" + catalog_bytes).hexdigest()
    except OSError as e:
        print(f"error: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_ERROR

    async def work(conn: Conn) -> Any:
        actor = await _enter_tenant(conn, args.tenant)
        if args.source == "openlineage":
            summary = await ingest_openlineage(conn, actor, events, loc=(args.file,))
        else:
            summary = await ingest_dbt(
                conn, actor, manifest, catalog, namespace=args.namespace, digest=digest
            )
        return summary.model_dump(mode="json")

    with databases(settings) as dbs:
        _print(_run_db(dbs.app_dsn, work))
    return EXIT_OK


def _ingest_task(settings: Settings, args: argparse.Namespace, server: str) -> int:
    from headwater import cli_ingest

    params: dict[str, str] = {}
    try:
        if args.source == "openlineage":
            task_type, label, data = "openlineage.ndjson", args.file, _read_input(args.file)
        else:
            task_type, label = "dbt.manifest", args.manifest
            catalog = _read_input(args.catalog) if args.catalog else None
            data = cli_ingest.dbt_upload(_read_input(args.manifest), catalog)
            if args.namespace:
                params["namespace"] = args.namespace
    except OSError as e:
        print(f"error: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_ERROR
    return cli_ingest.upload_task(
        settings,
        server,
        task_type,
        data,
        filename=cli_ingest.file_label(label),
        params=params,
        wait=not args.no_wait,
        timeout=args.timeout,
    )


def _ingest_sql(settings: Settings, args: argparse.Namespace) -> int:
    from headwater import cli_ingest
    from headwater.ingest.sql_record import SqlLineageRequest, analyse_sql

    try:
        text = _read_input(args.file).decode("utf-8")
        schema = json.loads(_read_input(args.schema)) if args.schema else {}
    except OSError as e:
        print(f"error: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_ERROR
    except (UnicodeDecodeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    request = {
        "dialect": args.dialect,
        "sql": text,
        "default_catalog": args.default_catalog,
        "default_schema": args.default_schema,
        "namespace": args.namespace,
        "schema": schema,
        "record": args.record,
    }
    result: dict[str, Any]
    if server := args.server or settings.url:
        answer = cli_ingest.sql_over_http(settings, server, request)
        if isinstance(answer, int):
            return answer
        result = answer
    elif args.record:
        parsed = SqlLineageRequest.model_validate(request)

        async def work(conn: Conn) -> Any:
            actor = await _enter_tenant(conn, args.tenant)
            return (await analyse_sql(conn, parsed, actor)).model_dump(mode="json")

        with databases(settings) as dbs:
            result = _run_db(dbs.app_dsn, work)
    else:
        result = cli_ingest.sql_offline(request)
    print(json.dumps(result, indent=2) if args.format == "json" else cli_ingest.sql_table(result))
    return EXIT_OK


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a running Headwater (default: $HEADWATER_URL), with HEADWATER_API_KEY; "
        "without one, the store is written directly",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headwater", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(
        run=cmd_migrate
    )
    serve = sub.add_parser("serve", help="run the API (embedded defaults when unconfigured)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=cmd_serve)

    worker = sub.add_parser(
        "worker", help="tail the outbox into the mirrors outside the API process (several may run)"
    )
    worker.set_defaults(run=cmd_worker)
    dead = worker.add_subparsers(dest="worker_action").add_parser(
        "dead-letters", help="events a sink rejected permanently"
    )
    dead_actions = dead.add_subparsers(dest="worker_action", required=True)
    dlist = dead_actions.add_parser("list")
    dlist.add_argument("--sink")
    dlist.add_argument("--status", choices=["DEAD", "RETRY", "RESOLVED", "DISCARDED"])
    dretry = dead_actions.add_parser("retry", help="apply again (all of a sink's when no ids)")
    dretry.add_argument("--sink")
    dretry.add_argument("ids", type=int, nargs="*")
    dead_actions.add_parser("discard").add_argument("ids", type=int, nargs="+")

    reconcile = sub.add_parser(
        "reconcile",
        help="rebuild mirrors from Postgres; with --check only report drift (exit 1 if any)",
        description="Rebuild mirrors from Postgres, or with --check report their drift as "
        "JSON. Exit status: 0 rebuilt or no drift, 1 --check found drift, 2 an error.",
    )
    reconcile.add_argument("--sink", help="the mirror (default: all): " + ", ".join(RECONCILERS))
    reconcile.add_argument(
        "--check", action="store_true", help="only compare: missing, extra, stale per kind"
    )
    reconcile.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="seconds to let the mirror catch up with the compared snapshot (default 30)",
    )
    reconcile.add_argument(
        "--examples", type=int, default=10, help="differences listed per tenant (default 10)"
    )
    reconcile.set_defaults(run=cmd_reconcile)

    ingest_parser = sub.add_parser(
        "ingest", help="load lineage into the store (all or nothing; prints what changed)"
    )
    ingest_parser.set_defaults(run=cmd_ingest)
    sources = ingest_parser.add_subparsers(dest="source", required=True)
    ol = sources.add_parser("openlineage", help="OpenLineage events: a JSON event or array, NDJSON")
    ol.add_argument("file", help="the file to read, or - for standard input")
    ol.add_argument("--tenant", default="default", help="tenant slug (default: default)")
    dbt = sources.add_parser("dbt", help="a dbt manifest.json (schema v1..v12)")
    dbt.add_argument("manifest", help="target/manifest.json, or - for standard input")
    dbt.add_argument("--catalog", help="target/catalog.json: column types from the warehouse")
    dbt.add_argument("--tenant", default="default", help="tenant slug (default: default)")
    dbt.add_argument(
        "--namespace",
        help="the warehouse's OpenLineage namespace, e.g. postgres://host:5432 "
        "(default: the manifest's adapter type)",
    )
    for tasked in (ol, dbt):
        _server_options(tasked)
        tasked.add_argument(
            "--no-wait",
            action="store_true",
            help="with a server: print the queued task and return instead of following it",
        )
        tasked.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="with a server: stop following the task after this long (exit 2; it goes on)",
        )
    sql = sources.add_parser(
        "sql", help="table and column lineage of a SQL script; recorded with --record"
    )
    sql.add_argument("file", help="the script, or - for standard input")
    sql.add_argument("--dialect", required=True, help="postgres, snowflake, bigquery, tsql, ...")
    sql.add_argument("--default-catalog", help="catalog (database) of tables named without one")
    sql.add_argument("--default-schema", help="schema of tables named without one")
    sql.add_argument(
        "--namespace", help="assets are named '{namespace}/{table}' (default: the dialect)"
    )
    sql.add_argument(
        "--schema", metavar="FILE", help='known columns, JSON: {"db.schema.table": ["col", ...]}'
    )
    sql.add_argument("--record", action="store_true", help="write the lineage to the catalog")
    sql.add_argument("--format", choices=["json", "table"], default="json")
    sql.add_argument("--tenant", default="default", help="tenant slug (default: default)")
    _server_options(sql)

    add_impact_parser(sub)

    adm_parser = sub.add_parser("admin", help="tenants, users and API keys")
    adm_parser.set_defaults(run=cmd_admin)
    adm = adm_parser.add_subparsers(dest="entity", required=True)
    tenant = adm.add_parser("tenant").add_subparsers(dest="action", required=True)
    create = tenant.add_parser("create", help="create a tenant with an admin user and key")
    create.add_argument("slug")
    create.add_argument("--name")
    create.add_argument("--admin-email", required=True)
    tenant.add_parser("list")
    for action in ("suspend", "activate", "delete"):
        tenant.add_parser(action).add_argument("slug")

    user = adm.add_parser("user").add_subparsers(dest="action", required=True)
    ucreate = user.add_parser("create")
    ucreate.add_argument("--tenant", required=True)
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--name", default="")
    ucreate.add_argument(
        "--role",
        action="append",
        choices=[r.value for r in Role],
        default=None,
        help="repeatable; default viewer",
    )

    key = adm.add_parser("key").add_subparsers(dest="action", required=True)
    kcreate = key.add_parser("create")
    kcreate.add_argument("--tenant", required=True)
    kcreate.add_argument("--user-id", type=int, required=True)
    kcreate.add_argument("--name", default="")
    krevoke = key.add_parser("revoke")
    krevoke.add_argument("--tenant", required=True)
    krevoke.add_argument("key_id", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "role", "unset") is None:
        args.role = [Role.VIEWER.value]
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        code: int = args.run(settings, args)
    except HeadwaterError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # the CLI's contract: any failure is exit 2 with a message
        log.exception("command failed")
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
