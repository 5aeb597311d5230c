"""Conformance of the full-text engines: every test runs against tantivy and Elasticsearch."""

from __future__ import annotations

from uuid import UUID

import pytest

from headwater.search.documents import SearchDocument, build_document
from headwater.search.fulltext import FullTextEngine, InvalidSearch, SearchFilters, WriteResult
from tests.search import samples
from tests.search.samples import (
    CONTACTS,
    CUSTOMER_ORDERS,
    CUSTOMERS,
    KUNDEN,
    ORDERS,
    REVENUE,
    SEGMENTS,
    WEB_EVENTS,
)


async def _index(engine: FullTextEngine, docs: list[SearchDocument]) -> WriteResult:
    result = await engine.upsert(docs)
    await engine.refresh()
    return result


async def _ids(engine: FullTextEngine, tenant: UUID, query: str, **kwargs: object) -> list[int]:
    result = await engine.search(tenant, query, **kwargs)  # type: ignore[arg-type]
    return [h.asset_id for h in result.hits]


async def test_indexes_and_counts(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    result = await _index(fulltext, samples.catalog(tenant_a))
    assert result == WriteResult(applied=8, stale=0)
    assert await fulltext.count(tenant_a) == 8
    everything = await fulltext.search(tenant_a, "", limit=50)
    assert everything.total == 8
    assert {h.asset_id for h in everything.hits} == set(range(1, 9))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("customers", CUSTOMERS),
        ("Customers", CUSTOMERS),
        ("orders", ORDERS),
        ("sales.customer_orders", CUSTOMER_ORDERS),
        ("crm.contacts", CONTACTS),
        ("contacts", CONTACTS),
        ("revenue_by_region", REVENUE),
    ],
)
async def test_exact_name_ranks_first(
    fulltext: FullTextEngine, tenant_a: UUID, query: str, expected: int
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    assert (await _ids(fulltext, tenant_a, query))[0] == expected


async def test_word_matches_rank_name_above_description(
    fulltext: FullTextEngine, tenant_a: UUID
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    ids = await _ids(fulltext, tenant_a, "region")
    assert ids == [REVENUE]
    # "segments" is in one name and one description: the name wins.
    ids = await _ids(fulltext, tenant_a, "segments")
    assert ids[0] == SEGMENTS


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cust", {CUSTOMERS, CUSTOMER_ORDERS, SEGMENTS}),
        ("segm", {SEGMENTS}),
        ("revenu", {REVENUE}),
        ("web_ev", {WEB_EVENTS}),
    ],
)
async def test_prefix_matches(
    fulltext: FullTextEngine, tenant_a: UUID, query: str, expected: set[int]
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    ids = await _ids(fulltext, tenant_a, query)
    assert set(ids[: len(expected)]) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("custmer", {CUSTOMERS, CUSTOMER_ORDERS}),
        ("contcts", {CONTACTS}),
        ("revnue", {REVENUE}),
        ("segmnets", {SEGMENTS}),
    ],
)
async def test_typos_match(
    fulltext: FullTextEngine, tenant_a: UUID, query: str, expected: set[int]
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    ids = await _ids(fulltext, tenant_a, query)
    assert expected <= set(ids[: len(expected) + 1])


async def test_unrelated_words_match_nothing(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    assert await _ids(fulltext, tenant_a, "zebra giraffe") == []


async def test_column_names_and_tags_match(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    assert set(await _ids(fulltext, tenant_a, "phone")) == {CONTACTS}
    assert set(await _ids(fulltext, tenant_a, "pii")) == {CUSTOMERS, CONTACTS}
    assert set(await _ids(fulltext, tenant_a, "privacy")) == {CUSTOMERS, CONTACTS}


async def test_highlights_description_and_columns(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    result = await fulltext.search(tenant_a, "billing address")
    top = result.hits[0]
    assert top.asset_id == CUSTOMERS
    by_field = {h.field: h for h in top.highlights}
    assert "description" in by_field
    description = by_field["description"]
    assert "billing" in [m.lower() for m in description.matched]
    assert description.fragment in "Every customer we sell to, with their billing address."
    assert "columns" in by_field
    assert any(m.lower().startswith("address") for m in by_field["columns"].matched)

    phone = (await fulltext.search(tenant_a, "phone")).hits[0]
    assert [h.field for h in phone.highlights] == ["columns"]
    assert "phone" in [m.lower() for m in phone.highlights[0].matched]


async def test_highlight_ranges_are_character_offsets(
    fulltext: FullTextEngine, tenant_a: UUID
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    result = await fulltext.search(tenant_a, "email export")
    kunden = next(h for h in result.hits if h.asset_id == KUNDEN)
    (description,) = [h for h in kunden.highlights if h.field == "description"]
    assert description.fragment == "Café für Kunden: the nightly email export"
    assert {m.lower() for m in description.matched} == {"email", "export"}


async def test_highlights_can_be_skipped(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    result = await fulltext.search(tenant_a, "billing", highlight=False)
    assert result.hits[0].highlights == ()


async def test_facets_count_the_matches(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    result = await fulltext.search(tenant_a, "customer", limit=1)
    assert result.total == 3
    assert len(result.hits) == 1
    counts = {facet: {c.value: c.count for c in values} for facet, values in result.facets.items()}
    assert counts["type"] == {"table": 2, "view": 1}
    assert counts["tag"] == {"gold": 3, "pii": 1}
    assert counts["tag_category"] == {"Quality": 3, "Privacy": 1}
    assert counts["owner"] == {"ana@example.com": 1, "bob@example.com": 1}
    assert (await fulltext.search(tenant_a, "customer", facet_size=0)).facets == {}
    top_only = await fulltext.search(tenant_a, "", facet_size=1)
    assert top_only.facets["type"][0].value == "table"
    assert len(top_only.facets["type"]) == 1


async def test_filters_or_within_and_across_facets(
    fulltext: FullTextEngine, tenant_a: UUID
) -> None:
    await _index(fulltext, samples.catalog(tenant_a))

    async def matching(**filters: frozenset[str]) -> set[int]:
        result = await fulltext.search(tenant_a, "", filters=SearchFilters(**filters), limit=50)
        assert result.total == len(result.hits)
        return {h.asset_id for h in result.hits}

    assert await matching(tags=frozenset({"pii"})) == {CUSTOMERS, CONTACTS}
    assert await matching(tag_categories=frozenset({"Quality"})) == {
        CUSTOMERS,
        CUSTOMER_ORDERS,
        SEGMENTS,
    }
    assert await matching(owners=frozenset({"ana@example.com"})) == {CUSTOMERS, CONTACTS}
    assert await matching(types=frozenset({"view", "topic"})) == {SEGMENTS, WEB_EVENTS}
    assert await matching(types=frozenset({"table"}), tags=frozenset({"gold"})) == {
        CUSTOMERS,
        CUSTOMER_ORDERS,
    }
    assert await matching(types=frozenset({"nothing"})) == set()
    filtered = await fulltext.search(
        tenant_a, "customer", filters=SearchFilters(types=frozenset({"view"}))
    )
    assert [h.asset_id for h in filtered.hits] == [SEGMENTS]
    assert {c.value for c in filtered.facets["type"]} == {"view"}


async def test_pages_do_not_overlap(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    first = await fulltext.search(tenant_a, "", limit=5)
    second = await fulltext.search(tenant_a, "", limit=5, offset=5)
    assert first.total == second.total == 8
    assert len(first.hits) == 5
    assert len(second.hits) == 3
    assert not {h.asset_id for h in first.hits} & {h.asset_id for h in second.hits}
    counted = await fulltext.search(tenant_a, "", limit=0)
    assert counted.hits == []
    assert counted.total == 8


async def test_invalid_searches_are_refused(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    with pytest.raises(InvalidSearch):
        await fulltext.search(tenant_a, "x", offset=-1)
    with pytest.raises(InvalidSearch):
        await fulltext.search(tenant_a, "word " * 200)
    with pytest.raises(InvalidSearch):
        await fulltext.search(tenant_a, " ".join(f"w{i}" for i in range(40)))


async def test_query_syntax_is_plain_text(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    for query in ['"unbalanced', "a AND (b", "name:customers", "*", "c++ -x ~y ^2", "\\"]:
        await fulltext.search(tenant_a, query)
    assert (await _ids(fulltext, tenant_a, "name:customers"))[0] == CUSTOMERS


async def test_tenants_never_see_each_other(
    fulltext: FullTextEngine, tenant_a: UUID, tenant_b: UUID
) -> None:
    # Identical documents (same asset ids, same text) in both tenants, plus one only in A.
    only_a = build_document(
        tenant_a, 100, 1, type="table", name="secret_payroll", qualified_name="hr.secret_payroll"
    )
    await _index(fulltext, [*samples.catalog(tenant_a), *samples.catalog(tenant_b), only_a])
    assert await fulltext.count(tenant_a) == 9
    assert await fulltext.count(tenant_b) == 8
    for query in ["secret_payroll", "payroll", "secrte", "hr.secret_payroll", ""]:
        result = await fulltext.search(tenant_b, query, limit=50)
        assert 100 not in {h.asset_id for h in result.hits}
        assert all(c.count <= 8 for values in result.facets.values() for c in values)
    customers_b = await fulltext.search(tenant_b, "customer")
    assert customers_b.total == 3
    # A tombstone in A does not hide B's copy; dropping A leaves B whole.
    await fulltext.delete(tenant_a, {CUSTOMERS: 2})
    await fulltext.refresh()
    assert CUSTOMERS in await _ids(fulltext, tenant_b, "customers")
    await fulltext.drop_tenant(tenant_a)
    await fulltext.refresh()
    assert await fulltext.count(tenant_a) == 0
    assert await fulltext.count(tenant_b) == 8


async def test_stale_upsert_is_ignored(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    v5 = build_document(tenant_a, 1, 5, type="table", name="ledger", qualified_name="f.a")
    v3 = build_document(tenant_a, 1, 3, type="table", name="journal", qualified_name="f.b")
    assert await _index(fulltext, [v5]) == WriteResult(applied=1)
    assert await _index(fulltext, [v3]) == WriteResult(stale=1)
    assert await _index(fulltext, [v5]) == WriteResult(stale=1)  # a replay
    assert await _ids(fulltext, tenant_a, "ledger") == [1]
    assert await _ids(fulltext, tenant_a, "journal") == []
    assert await fulltext.held_versions(tenant_a, [1, 2]) == {1: 5}


async def test_highest_version_in_a_batch_wins(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    names = {2: "apple", 4: "banana", 3: "cherry"}
    docs = [
        build_document(tenant_a, 1, v, type="table", name=name, qualified_name=f"q.{name}")
        for v, name in names.items()
    ]
    assert await _index(fulltext, docs) == WriteResult(applied=1, stale=2)
    assert await _ids(fulltext, tenant_a, "banana") == [1]
    assert await _ids(fulltext, tenant_a, "apple cherry") == []
    assert await fulltext.count(tenant_a) == 1


async def test_delete_tombstone_beats_a_late_upsert(
    fulltext: FullTextEngine, tenant_a: UUID
) -> None:
    await _index(fulltext, samples.catalog(tenant_a, version=2))
    assert await fulltext.delete(tenant_a, {CONTACTS: 3}) == WriteResult(applied=1)
    await fulltext.refresh()
    assert CONTACTS not in await _ids(fulltext, tenant_a, "contacts")
    assert CONTACTS not in await _ids(fulltext, tenant_a, "", limit=50)
    # The upsert that preceded the delete arrives late: it must not resurrect the asset.
    late = samples.catalog(tenant_a, version=2)[CONTACTS - 1]
    assert await _index(fulltext, [late]) == WriteResult(stale=1)
    assert CONTACTS not in await _ids(fulltext, tenant_a, "contacts")
    assert await fulltext.count(tenant_a) == 7
    # A stale delete is ignored too, and a restore (newer version) brings it back.
    assert await fulltext.delete(tenant_a, {CUSTOMERS: 1}) == WriteResult(stale=1)
    restored = samples.catalog(tenant_a, version=4)[CONTACTS - 1]
    assert await _index(fulltext, [restored]) == WriteResult(applied=1)
    assert (await _ids(fulltext, tenant_a, "contacts"))[0] == CONTACTS
    assert await fulltext.held_versions(tenant_a, [CONTACTS, CUSTOMERS]) == {
        CONTACTS: 4,
        CUSTOMERS: 2,
    }


async def test_retagging_replaces_the_document(fulltext: FullTextEngine, tenant_a: UUID) -> None:
    await _index(fulltext, samples.catalog(tenant_a))
    retagged = build_document(
        tenant_a,
        CONTACTS,
        2,
        type="table",
        name="contacts",
        qualified_name="crm.contacts",
        tags=[("restricted", "Privacy")],
    )
    await _index(fulltext, [retagged])
    pii = await fulltext.search(tenant_a, "", filters=SearchFilters(tags=frozenset({"pii"})))
    assert {h.asset_id for h in pii.hits} == {CUSTOMERS}
    restricted = await fulltext.search(
        tenant_a, "", filters=SearchFilters(tags=frozenset({"restricted"}))
    )
    assert [h.asset_id for h in restricted.hits] == [CONTACTS]
    assert await fulltext.count(tenant_a) == 8


async def test_live_versions_list_a_tenants_live_documents(
    fulltext: FullTextEngine, tenant_a: UUID, tenant_b: UUID
) -> None:
    await _index(fulltext, samples.catalog(tenant_a, version=3))
    await _index(fulltext, samples.catalog(tenant_b, version=5))
    await fulltext.delete(tenant_a, {CONTACTS: 4})
    await _index(
        fulltext, [build_document(tenant_a, ORDERS, 9, type="table", name="o", qualified_name="o")]
    )
    await fulltext.refresh()
    held = await fulltext.live_versions(tenant_a)
    expected = dict.fromkeys(set(range(1, 9)) - {CONTACTS}, 3) | {ORDERS: 9}
    assert held == expected  # the tombstone is not live
    assert await fulltext.live_versions(tenant_b) == dict.fromkeys(range(1, 9), 5)
    assert await fulltext.live_versions(UUID(int=0)) == {}
