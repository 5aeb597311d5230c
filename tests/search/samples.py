"""A small catalog of search documents shared by the engine tests."""

from __future__ import annotations

from uuid import UUID

from headwater.search.documents import SearchDocument, build_document

CUSTOMERS = 1
CUSTOMER_ORDERS = 2
CONTACTS = 3
REVENUE = 4
SEGMENTS = 5
WEB_EVENTS = 6
ORDERS = 7
KUNDEN = 8


def catalog(tenant_id: UUID, version: int = 1) -> list[SearchDocument]:
    return [
        build_document(
            tenant_id,
            CUSTOMERS,
            version,
            type="table",
            name="customers",
            qualified_name="sales.customers",
            description="Every customer we sell to, with their billing address.",
            columns=[
                ("customer_id", "bigint", ""),
                ("full_name", "text", ""),
                ("email", "text", "Primary e-mail address"),
                ("country", "text", ""),
            ],
            tags=[("pii", "Privacy"), ("gold", "Quality")],
            owners=["ana@example.com"],
        ),
        build_document(
            tenant_id,
            CUSTOMER_ORDERS,
            version,
            type="table",
            name="customer_orders",
            qualified_name="sales.customer_orders",
            description="Orders placed by customers; one row per order line.",
            columns=[
                ("order_id", "bigint", ""),
                ("customer_id", "bigint", ""),
                ("amount", "numeric", "Order total in euros"),
            ],
            tags=[("gold", "Quality")],
            owners=["bob@example.com"],
        ),
        build_document(
            tenant_id,
            CONTACTS,
            version,
            type="table",
            name="contacts",
            qualified_name="crm.contacts",
            description="People we talk to at partner companies.",
            columns=[
                ("contact_id", "bigint", ""),
                ("email", "text", ""),
                ("phone_number", "text", "Work phone"),
                ("company", "text", ""),
            ],
            tags=[("pii", "Privacy")],
            owners=["ana@example.com"],
        ),
        build_document(
            tenant_id,
            REVENUE,
            version,
            type="dashboard",
            name="revenue_by_region",
            qualified_name="bi.revenue_by_region",
            description="Daily revenue broken down by sales region.",
            owners=["carol@example.com"],
        ),
        build_document(
            tenant_id,
            SEGMENTS,
            version,
            type="view",
            name="dim_customer_segments",
            qualified_name="analytics.dim_customer_segments",
            description="Segments of customers by lifetime value.",
            columns=[("segment", "text", ""), ("customer_id", "bigint", "")],
            tags=[("gold", "Quality")],
        ),
        build_document(
            tenant_id,
            WEB_EVENTS,
            version,
            type="topic",
            name="web_events",
            qualified_name="kafka.web_events",
            description="Clickstream events from the website: page views and clicks.",
            columns=[("event_id", "text", ""), ("session_id", "text", ""), ("url", "text", "")],
        ),
        build_document(
            tenant_id,
            ORDERS,
            version,
            type="table",
            name="orders",
            qualified_name="erp.orders",
            description="Purchase orders.",
            columns=[("order_id", "bigint", "")],
        ),
        build_document(
            tenant_id,
            KUNDEN,
            version,
            type="file",
            name="kunden_export",
            qualified_name="s3://exports/kunden_export.csv",
            description="Café für Kunden: the nightly email export",
        ),
    ]
