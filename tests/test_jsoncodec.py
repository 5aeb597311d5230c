"""The orjson-based codec keeps every value the standard library kept, big integers included,
from Python to text and back, and from the API through Postgres and back."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.catalog import hydrate
from headwater.catalog.db import Database
from headwater.catalog.errors import BadRequest
from headwater.ingest import payload
from headwater.jsoncodec import dumps, loads
from tests.conftest import TenantKeys

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_json_values)
def test_round_trips_what_the_standard_library_round_trips(value: Any) -> None:
    text = dumps(value)
    assert json.loads(text) == value
    assert loads(text) == value
    assert loads(text.encode("utf-8")) == value
    assert loads(memoryview(text.encode("utf-8"))) == value


def test_integers_beyond_64_bits_stay_exact() -> None:
    big = [2**64, -(2**63) - 1, 10**30, 12345678901234567890123]
    assert loads(b'{"n": [18446744073709551616, -9223372036854775809]}') == {"n": big[:2]}
    assert loads(dumps(big)) == big
    assert all(isinstance(n, int) for n in loads(dumps(big)))


def test_encodes_dates_uuids_and_non_string_keys_as_before() -> None:
    moment = datetime(2024, 5, 1, 12, 30, 1, 250, tzinfo=UTC)
    value = {"at": moment, "on": date(2024, 5, 2), "id": UUID(int=7), "by_number": {3: "x"}}
    expected = {
        "at": moment.isoformat(),
        "on": "2024-05-02",
        "id": "00000000-0000-0000-0000-000000000007",
        "by_number": {"3": "x"},
    }
    assert json.loads(dumps(value)) == expected


async def test_big_integers_survive_the_database(
    client: httpx.AsyncClient, tenant: TenantKeys, database: Database
) -> None:
    """Written through the API (request body), stored as jsonb, read back through the pool's
    loader: the integer is the same integer."""
    metadata = {"row_count": 123456789012345678901234567890, "small": 5, "ratio": 0.25}
    created = await client.post(
        "/api/v1/assets",
        json={"type": "table", "name": "t", "qualified_name": "db.t", "metadata": metadata},
        headers=tenant.headers("editor"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == metadata
    async with database.transaction(tenant.tenant_id) as conn:
        cur = await conn.execute("SELECT metadata FROM assets WHERE qualified_name = 'db.t'")
        row = await cur.fetchone()
    assert row is not None
    assert row["metadata"] == metadata
    # and as search results and impact reports hydrate it, from the JSON text Postgres returns
    async with database.transaction(tenant.tenant_id) as conn:
        hydrated = await hydrate.assets_by_id(conn, [created.json()["id"]])
    assert hydrated[created.json()["id"]].metadata == metadata


def test_request_bodies_with_big_integers_are_read_as_strictly_as_others() -> None:
    """A body that takes the standard library's path (it holds a 20-digit integer) is still
    refused for NaN or bad syntax with a 400, and read exactly otherwise."""
    big = b"12345678901234567890123"
    assert payload.loads(b'{"n": ' + big + b"}") == {"n": int(big)}
    for bad, reason in ((b'{"n": ' + big + b', "x": NaN}', "NaN is not valid JSON"),
                        (b'{"n": ' + big + b",}", "not valid JSON"),
                        (b'{"x": NaN}', "NaN is not valid JSON")):  # fmt: skip
        with pytest.raises(BadRequest, match=reason):
            payload.loads(bad)


_TRICKY_TEXT = (
    "a",
    "é",
    "\u2028",
    "\x01",
    "\x1f",
    "\\",
    '"',
    "🙂",
    "\ufeff",
    "\uffff",
    "\x7f",
    "\x85",
)
_TRICKY_NUMBERS = (
    0, -1, 2**53 + 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**40),
    0.1, -0.0, 5e-324, 1e-7, 1e16, 1e20, 1.5e300, 1.7976931348623157e308, 2.0**60,
)  # fmt: skip


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_TRICKY_TEXT) for _ in range(rng.randint(0, 6)))


def _document(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind < 2:
        return rng.choice([None, True, False])
    if kind < 4:
        return rng.choice(_TRICKY_NUMBERS)
    if kind < 6:
        return _text(rng)
    if kind < 8:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng): _document(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _as_decimals(text: str | bytes) -> Any:
    """JSON numbers as the decimals they spell: Postgres stores jsonb numbers as numeric, so
    1e20 reads back as 100000000000000000000, the same number in other digits."""

    def normal(value: Any) -> Any:
        if isinstance(value, Decimal):
            return value.normalize()
        if isinstance(value, list):
            return [normal(v) for v in value]
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        return value

    return normal(json.loads(text, parse_float=Decimal, parse_int=Decimal))


async def test_metadata_reads_back_as_the_numbers_and_text_it_was_sent(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    rng = random.Random(5)
    headers = {**tenant.headers("editor"), "Content-Type": "application/json"}
    for i in range(150):
        metadata = {_text(rng): _document(rng) for _ in range(3)}
        body = json.dumps(
            {"type": "table", "name": "t", "qualified_name": f"db.t{i}", "metadata": metadata},
            ensure_ascii=rng.random() < 0.5,
        )
        created = await client.post("/api/v1/assets", content=body, headers=headers)
        assert created.status_code == 201, created.text
        read = await client.get(f"/api/v1/assets/{created.json()['id']}", headers=headers)
        sent = _as_decimals(body)["metadata"]
        assert _as_decimals(created.content)["metadata"] == sent
        assert _as_decimals(read.content)["metadata"] == sent
