"""The request session: an API key's use is recorded (``last_used_at``) once per window, and only
by a request whose transaction committed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from headwater.api.deps import KeyUse
from tests.conftest import TenantKeys


async def viewer_key(client: httpx.AsyncClient, tenant: TenantKeys) -> dict[str, Any]:
    prefix = tenant.viewer.split("_")[1]
    keys = await client.get("/api/v1/api-keys", headers=tenant.headers("admin"))
    assert keys.status_code == 200, keys.text
    found: dict[str, Any] = next(k for k in keys.json() if k["prefix"] == prefix)
    return found


async def test_a_keys_use_is_recorded_by_a_request_that_committed(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    assert (await viewer_key(client, tenant))["last_used_at"] is None
    refused = await client.post(
        "/api/v1/assets",
        json={"type": "table", "name": "t", "qualified_name": "pg://t"},
        headers=tenant.headers("viewer"),
    )
    assert refused.status_code == 403
    # The refused request rolled its record back; the next one must record it, not skip it.
    assert (await viewer_key(client, tenant))["last_used_at"] is None
    listed = await client.get("/api/v1/assets", headers=tenant.headers("viewer"))
    assert listed.status_code == 200
    assert (await viewer_key(client, tenant))["last_used_at"] is not None


def test_key_use_is_due_once_a_window() -> None:
    now = [1000.0]
    use = KeyUse(lambda: now[0])
    assert use.due(1)
    use.recorded(1)
    assert not use.due(1)
    assert use.due(2)
    now[0] += KeyUse.WINDOW_S - 1
    assert not use.due(1)
    now[0] += 1
    assert use.due(1)


def test_key_use_forgets_keys_recorded_before_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(KeyUse, "_MAX_KEYS", 3)
    use = KeyUse(lambda: now[0])
    for key_id in (1, 2, 3):
        use.recorded(key_id)
    now[0] += KeyUse.WINDOW_S
    use.recorded(4)  # full: the three expired records go
    assert not use.due(4)
    assert list(use._recorded) == [4]
