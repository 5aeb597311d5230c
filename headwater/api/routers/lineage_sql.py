"""``POST /api/v1/lineage/sql``: table- and column-level lineage of a SQL script, recorded on
request.

Extracting needs the viewer role; ``record: true`` needs the editor role and writes in the
request's one transaction (see ``headwater.ingest.sql_record`` for the names, the flow and what
is written). SQL that cannot be parsed answers 422 with ``statement`` (its index, from 0),
``line`` and ``column`` (from 1) and the ``snippet`` of the line; nothing is written.
"""

from __future__ import annotations

from fastapi import APIRouter

from headwater.api.deps import ReadSession
from headwater.api.json_route import StrictJSONRoute
from headwater.catalog.context import Role
from headwater.catalog.errors import Forbidden
from headwater.ingest.sql_record import SqlLineageRequest, SqlLineageResult, analyse_sql

router = APIRouter(prefix="/lineage", tags=["lineage ingestion"], route_class=StrictJSONRoute)


@router.post("/sql")
async def post_sql_lineage(request: SqlLineageRequest, session: ReadSession) -> SqlLineageResult:
    """The lineage of a SQL script (INSERT ... SELECT, CREATE TABLE AS, CREATE VIEW, MERGE,
    UPDATE, CTEs, joins, unions, window functions; ``SELECT *`` expanded where the columns are
    known), recorded in the catalog when ``record`` is true."""
    if request.record and not session.actor.has_role(Role.EDITOR):
        raise Forbidden("recording SQL lineage needs the editor role (a viewer may only extract)")
    return await analyse_sql(session.conn, request, session.actor if request.record else None)
