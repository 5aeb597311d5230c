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
from headwater.logging_setup import configure_logging
from headwater.runtime import build_app, databases, shared_sinks
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


class _GracefulServer(uvicorn.Server):
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
        if not sinks:
            print(
                "no mirror outside this process is configured (NEO4J_URI): the embedded mirrors "
                "are kept current inside `headwater serve`",
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
                await run_worker(dsn, sinks, config)
            except asyncio.CancelledError:
                log.info("sync worker stopped")

        asyncio.run(work())
    return EXIT_OK


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest into the configured (or embedded) store directly, in one transaction."""
    import hashlib

    from headwater.ingest.apply import ingest_dbt, ingest_openlineage
    from headwater.ingest.payload import load_documents, loads

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
