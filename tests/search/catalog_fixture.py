"""A realistic catalog and a labelled query set for measuring search relevance.

The catalog is the Marquez demo (``../shared/data/marquez/seed/metadata.json``: the food-delivery
datasets with their columns and the jobs with their documentation) plus descriptive assets of a
mid-sized company (CRM, finance, HR, product analytics, marketing, support, logistics, IT). The
queries mix exact names, prefixes, typos, column names and natural language; each lists the
qualified names a user would accept in the top 10.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from headwater.search.documents import SearchDocument, build_document

MARQUEZ_SEED = Path(__file__).parents[3] / "shared" / "data" / "marquez" / "seed" / "metadata.json"


@dataclass(frozen=True)
class CatalogAsset:
    qualified_name: str
    type: str
    description: str
    # "name type: description" entries separated by "; " (type and description optional).
    columns: str = ""
    tags: tuple[tuple[str, str | None], ...] = ()
    owners: tuple[str, ...] = ()
    name: str = ""

    @property
    def asset_name(self) -> str:
        return self.name or self.qualified_name.rsplit(".", 1)[-1]

    def column_triples(self) -> Iterator[tuple[str, str, str]]:
        for entry in filter(None, (e.strip() for e in self.columns.split(";"))):
            head, _, description = entry.partition(":")
            name, _, data_type = head.strip().partition(" ")
            yield name, data_type.strip(), description.strip()


PII = ("pii", "Privacy")
CONFIDENTIAL = ("confidential", "Privacy")
GOLD = ("gold", "Quality")

COMPANY: tuple[CatalogAsset, ...] = (
    CatalogAsset(
        "crm.contacts",
        "table",
        "People at customer and partner companies we are in touch with.",
        "contact_id bigint; first_name text; last_name text; email text: Work e-mail address;"
        " phone_number text; company_id bigint; job_title text",
        (PII, GOLD),
        ("sales-ops@example.com",),
    ),
    CatalogAsset(
        "crm.companies",
        "table",
        "Organisations we sell to or partner with, one row per company.",
        "company_id bigint; company_name text; industry text; employee_count int; hq_country text",
        (GOLD,),
        ("sales-ops@example.com",),
    ),
    CatalogAsset(
        "crm.opportunities",
        "table",
        "Open and closed sales deals with their expected value and stage.",
        "opportunity_id bigint; company_id bigint; stage text; amount_eur numeric;"
        " close_date date; owner_rep text",
        owners=("sales-ops@example.com",),
    ),
    CatalogAsset(
        "crm.sales_reps",
        "table",
        "Members of the sales team and their territories.",
        "rep_id bigint; full_name text; territory text; quota_eur numeric",
        (PII,),
    ),
    CatalogAsset(
        "finance.invoices",
        "table",
        "Bills issued to customers, with due dates and payment status.",
        "invoice_id bigint; customer_id bigint; issued_on date; due_on date; total_eur numeric;"
        " paid boolean",
        (GOLD,),
        ("finance@example.com",),
    ),
    CatalogAsset(
        "finance.payments",
        "table",
        "Money received from customers by card or bank transfer.",
        "payment_id bigint; invoice_id bigint; method text: card or transfer; amount_eur numeric;"
        " received_at timestamp",
        owners=("finance@example.com",),
    ),
    CatalogAsset(
        "finance.general_ledger",
        "table",
        "Double-entry accounting journal lines for every booking.",
        "entry_id bigint; account_code text; debit numeric; credit numeric; booked_on date",
        (CONFIDENTIAL,),
        ("finance@example.com",),
    ),
    CatalogAsset(
        "finance.fx_rates",
        "table",
        "Daily currency exchange rates against the euro.",
        "rate_date date; currency text: ISO 4217 code; rate_to_eur numeric",
    ),
    CatalogAsset(
        "finance.monthly_recurring_revenue",
        "metric",
        "MRR: subscription revenue normalised to one month.",
        owners=("finance@example.com",),
    ),
    CatalogAsset(
        "bi.revenue_by_region",
        "dashboard",
        "Daily revenue broken down by sales region.",
        owners=("finance@example.com",),
    ),
    CatalogAsset(
        "finance.budget_vs_actuals",
        "report",
        "Quarterly spending compared with the plan, per department.",
    ),
    CatalogAsset(
        "finance.refunds",
        "table",
        "Money returned to customers for cancelled or faulty orders.",
        "refund_id bigint; order_id bigint; amount_eur numeric; reason text",
    ),
    CatalogAsset(
        "hr.employees",
        "table",
        "Everyone on the payroll: job, department, start date and manager.",
        "employee_id bigint; full_name text; department text; manager_id bigint; hired_on date;"
        " salary_eur numeric: Annual gross pay",
        (PII, CONFIDENTIAL),
        ("people-team@example.com",),
    ),
    CatalogAsset(
        "hr.payroll_runs",
        "table",
        "Monthly salary payments to staff, gross and net, with the tax withheld.",
        "run_id bigint; employee_id bigint; gross_eur numeric; net_eur numeric; tax_eur numeric",
        (CONFIDENTIAL,),
        ("people-team@example.com",),
    ),
    CatalogAsset(
        "hr.time_off_requests",
        "table",
        "Vacation and sick leave requests and their approval.",
        "request_id bigint; employee_id bigint; kind text; starts_on date; ends_on date;"
        " approved boolean",
        owners=("people-team@example.com",),
    ),
    CatalogAsset(
        "hr.job_applicants",
        "table",
        "Candidates who applied for open positions and their interview stage.",
        "applicant_id bigint; full_name text; email text; position text; stage text",
        (PII,),
        ("people-team@example.com",),
    ),
    CatalogAsset(
        "analytics.web_sessions",
        "table",
        "One row per visit to the website with device, browser and landing page.",
        "session_id text; visitor_id text; device text; browser text; landing_page text;"
        " started_at timestamp",
        owners=("growth@example.com",),
    ),
    CatalogAsset(
        "events.page_views",
        "topic",
        "Clickstream: every page a visitor loads, streamed from the tracking pixel.",
        "event_id text; session_id text; url text; referrer text; viewed_at timestamp",
    ),
    CatalogAsset(
        "analytics.daily_active_users",
        "metric",
        "Number of distinct people using the app each day.",
        owners=("growth@example.com",),
    ),
    CatalogAsset(
        "analytics.feature_flags",
        "table",
        "Which experimental features are switched on for which accounts.",
        "flag_key text; account_id bigint; enabled boolean",
    ),
    CatalogAsset(
        "analytics.ab_test_results",
        "table",
        "Outcomes of A/B experiments: variant, conversions and statistical significance.",
        "experiment_id text; variant text; visitors int; conversions int; p_value numeric",
        owners=("growth@example.com",),
    ),
    CatalogAsset(
        "analytics.funnel_signup",
        "chart",
        "Drop-off between the landing page, the sign-up form and an activated account.",
    ),
    CatalogAsset(
        "analytics.user_churn_predictions",
        "ml_model",
        "Model scoring the likelihood that a subscriber cancels next month.",
        "account_id bigint; churn_probability numeric; scored_at timestamp",
    ),
    CatalogAsset(
        "marketing.email_campaigns",
        "table",
        "Newsletters and promotional mailings with send dates and open rates.",
        "campaign_id bigint; subject text; sent_at timestamp; recipients int; open_rate numeric",
        owners=("marketing@example.com",),
    ),
    CatalogAsset(
        "marketing.newsletter_subscribers",
        "table",
        "People who opted in to marketing e-mails, with consent timestamps.",
        "subscriber_id bigint; email text: Address the newsletter goes to;"
        " consented_at timestamp; unsubscribed_at timestamp",
        (PII, ("gdpr", "Compliance")),
        ("marketing@example.com",),
    ),
    CatalogAsset(
        "marketing.ad_spend",
        "table",
        "Daily cost of paid advertising per channel: search, social and display.",
        "spend_date date; channel text; cost_eur numeric; impressions int; clicks int",
        owners=("marketing@example.com",),
    ),
    CatalogAsset(
        "marketing.utm_attribution",
        "table",
        "Which campaign brought each new sign-up (first-touch attribution).",
        "account_id bigint; utm_source text; utm_medium text; utm_campaign text",
    ),
    CatalogAsset(
        "support.tickets",
        "table",
        "Customer complaints and help requests handled by the support desk.",
        "ticket_id bigint; customer_id bigint; priority text; subject text;"
        " opened_at timestamp; resolved_at timestamp",
        owners=("support@example.com",),
    ),
    CatalogAsset(
        "support.csat_survey",
        "table",
        "Satisfaction scores customers give after a support conversation.",
        "response_id bigint; ticket_id bigint; score int: 1 to 5; comment text",
        owners=("support@example.com",),
    ),
    CatalogAsset(
        "support.agent_shifts",
        "table",
        "Who is on duty at the help desk, and when.",
        "agent_id bigint; shift_start timestamp; shift_end timestamp",
    ),
    CatalogAsset(
        "warehouse.inventory_levels",
        "table",
        "Stock on hand per product and warehouse, refreshed hourly.",
        "sku text; warehouse_id int; quantity int; measured_at timestamp",
        owners=("logistics@example.com",),
    ),
    CatalogAsset(
        "warehouse.shipments",
        "table",
        "Parcels sent to customers with carrier, tracking number and delivery date.",
        "shipment_id bigint; order_id bigint; carrier text; tracking_number text;"
        " delivered_on date",
        owners=("logistics@example.com",),
    ),
    CatalogAsset(
        "warehouse.suppliers",
        "table",
        "Vendors we buy goods from, with their contract terms.",
        "supplier_id bigint; supplier_name text; country text; payment_terms text",
    ),
    CatalogAsset(
        "warehouse.purchase_orders",
        "table",
        "Orders placed with suppliers to restock goods.",
        "po_id bigint; supplier_id bigint; sku text; quantity int; ordered_on date",
    ),
    CatalogAsset(
        "shop.products",
        "table",
        "The product catalogue: name, category, list price and status.",
        "sku text; product_name text; category text; list_price_eur numeric; active boolean",
        (GOLD,),
    ),
    CatalogAsset(
        "shop.product_reviews",
        "table",
        "Star ratings and comments customers leave on products.",
        "review_id bigint; sku text; stars int; comment text; posted_at timestamp",
    ),
    CatalogAsset(
        "shop.shopping_carts",
        "table",
        "Baskets in progress, including abandoned ones.",
        "cart_id bigint; visitor_id text; items int; updated_at timestamp; checked_out boolean",
    ),
    CatalogAsset(
        "shop.orders",
        "table",
        "Purchases completed in the web shop.",
        "order_id bigint; customer_id bigint; total_eur numeric; placed_at timestamp",
        (GOLD,),
    ),
    CatalogAsset(
        "shop.coupons",
        "table",
        "Promotional codes that give a price reduction at checkout.",
        "code text; percent_off int; valid_until date",
    ),
    CatalogAsset(
        "it.login_audit",
        "table",
        "Sign-in attempts to internal systems, successful or not, with the IP address.",
        "user_name text; attempted_at timestamp; success boolean; ip_address text",
        (CONFIDENTIAL,),
    ),
    CatalogAsset(
        "it.laptops",
        "table",
        "Company computers: model, serial number and the employee using it.",
        "serial_number text; model text; assigned_to bigint",
    ),
    CatalogAsset(
        "it.api_keys_usage",
        "table",
        "Requests per API key per hour, for rate limiting.",
        "key_prefix text; hour timestamp; requests int",
    ),
    CatalogAsset(
        "airflow.load_crm_contacts",
        "job",
        "Nightly copy of contacts from the CRM into the warehouse.",
    ),
    CatalogAsset(
        "dbt.build_finance_marts",
        "pipeline",
        "Builds the finance reporting tables from raw ledger data.",
    ),
    CatalogAsset(
        "notebooks.churn_exploration",
        "notebook",
        "Exploratory analysis of why subscribers cancel.",
    ),
    CatalogAsset(
        "ml.demand_forecast",
        "ml_model",
        "Predicts units sold per product for the next four weeks.",
    ),
    CatalogAsset(
        "geo.store_locations",
        "table",
        "Addresses and coordinates of our physical shops.",
        "store_id int; street text; city text; latitude numeric; longitude numeric",
    ),
    CatalogAsset(
        "geo.countries",
        "table",
        "ISO country codes, names and regions.",
        "iso_code text; country_name text; region text",
    ),
    CatalogAsset(
        "ref.calendar",
        "table",
        "One row per date with week, month, quarter and holiday flags.",
        "date_key date; week int; month int; quarter int; is_holiday boolean",
    ),
    CatalogAsset(
        "billing.subscriptions",
        "table",
        "Customer plans: tier, start date, renewal date and cancellation.",
        "subscription_id bigint; account_id bigint; tier text; started_on date;"
        " renews_on date; cancelled_on date",
        (GOLD,),
    ),
    CatalogAsset(
        "kafka.order_events",
        "topic",
        "Stream of order lifecycle events: created, paid, shipped, refunded.",
        "order_id bigint; event_type text; occurred_at timestamp",
    ),
    CatalogAsset(
        "legal.data_processing_agreements",
        "file",
        "Signed DPAs with vendors that process personal data on our behalf.",
        tags=(("gdpr", "Compliance"),),
    ),
    CatalogAsset(
        "security.vulnerability_scans",
        "table",
        "Findings from weekly scans of our servers for known security holes.",
        "host text; cve_id text; severity text; found_at timestamp",
    ),
    CatalogAsset(
        "ops.server_metrics",
        "table",
        "CPU, memory and disk usage of every host, sampled each minute.",
        "host text; sampled_at timestamp; cpu_pct numeric; memory_pct numeric; disk_pct numeric",
    ),
    CatalogAsset(
        "ops.incident_postmortems",
        "report",
        "Write-ups of outages: timeline, root cause and follow-up actions.",
    ),
)


def marquez_assets(seed: Path = MARQUEZ_SEED) -> list[CatalogAsset]:
    """The Marquez demo's datasets (with their columns) and jobs (with their documentation)."""
    events: list[dict[str, Any]] = json.loads(seed.read_text())
    datasets: dict[str, dict[str, Any]] = {}
    jobs: dict[str, str] = {}
    for event in events:
        job = event["job"]
        doc = job.get("facets", {}).get("documentation", {}).get("description")
        if doc:
            jobs[f"{job['namespace']}.{job['name']}"] = doc
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            held = datasets.setdefault(f"{dataset['namespace']}.{dataset['name']}", {})
            facets = dataset.get("facets", {})
            if "documentation" in facets:
                held["description"] = facets["documentation"]["description"]
            if "schema" in facets:
                held["fields"] = facets["schema"]["fields"]
    assets = [
        CatalogAsset(
            qualified_name,
            "table",
            held.get("description", ""),
            "; ".join(
                f"{f['name']} {f.get('type', '')}: {f.get('description', '')}"
                for f in held.get("fields", [])
            ),
        )
        for qualified_name, held in datasets.items()
    ]
    assets += [CatalogAsset(q, "job", description) for q, description in jobs.items()]
    return assets


def catalog_assets() -> list[CatalogAsset]:
    return [*marquez_assets(), *COMPANY]


def catalog_documents(tenant_id: UUID) -> tuple[list[SearchDocument], dict[str, int]]:
    """The catalog as search documents (asset ids from 1), and the id of each qualified name."""
    docs: list[SearchDocument] = []
    ids: dict[str, int] = {}
    for asset_id, asset in enumerate(catalog_assets(), start=1):
        ids[asset.qualified_name] = asset_id
        docs.append(
            build_document(
                tenant_id,
                asset_id,
                1,
                type=asset.type,
                name=asset.asset_name,
                qualified_name=asset.qualified_name,
                description=asset.description,
                columns=list(asset.column_triples()),
                tags=asset.tags,
                owners=asset.owners,
            )
        )
    return docs, ids


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant: tuple[str, ...]
    kind: str = "natural"
    notes: str = field(default="", compare=False)


FD = "food_delivery"

QUERIES: tuple[LabelledQuery, ...] = (
    # Exact names and qualified names.
    LabelledQuery("crm.contacts", ("crm.contacts",), "exact"),
    LabelledQuery("invoices", ("finance.invoices",), "exact"),
    LabelledQuery("payroll_runs", ("hr.payroll_runs",), "exact"),
    LabelledQuery("page_views", ("events.page_views",), "exact"),
    LabelledQuery("delivery_7_days", (f"{FD}.public.delivery_7_days",), "exact"),
    LabelledQuery("etl_orders", (f"{FD}.etl_orders", f"{FD}.etl_orders_7_days"), "exact"),
    LabelledQuery("refunds", ("finance.refunds",), "exact"),
    # Prefixes and typos.
    LabelledQuery("subscrip", ("billing.subscriptions",), "prefix"),
    LabelledQuery("invent", ("warehouse.inventory_levels",), "prefix"),
    LabelledQuery("custmers", (f"{FD}.public.customers", f"{FD}.etl_customers"), "typo"),
    LabelledQuery("shipmnets", ("warehouse.shipments",), "typo"),
    LabelledQuery("emplyees", ("hr.employees",), "typo"),
    # Columns and keywords.
    LabelledQuery("car_license_plate", (f"{FD}.public.drivers",), "column"),
    LabelledQuery(
        "customer_email",
        (
            f"{FD}.public.discounts",
            f"{FD}.public.delivery_7_days",
            f"{FD}.public.top_delivery_times",
        ),
        "column",
    ),
    LabelledQuery("exchange rates", ("finance.fx_rates",), "keyword"),
    LabelledQuery("tracking number", ("warehouse.shipments",), "keyword"),
    # Natural language.
    LabelledQuery(
        "customer email addresses",
        ("crm.contacts", "marketing.newsletter_subscribers", f"{FD}.public.customers"),
    ),
    LabelledQuery("how much each employee earns", ("hr.employees", "hr.payroll_runs")),
    LabelledQuery("money coming in from clients", ("finance.payments", "finance.invoices")),
    LabelledQuery("which marketing campaign brought a user", ("marketing.utm_attribution",)),
    LabelledQuery("people who want to work here", ("hr.job_applicants",)),
    LabelledQuery("holiday and sick days", ("hr.time_off_requests",)),
    LabelledQuery("website visits", ("analytics.web_sessions", "events.page_views")),
    LabelledQuery("how happy customers are with support", ("support.csat_survey",)),
    LabelledQuery("vendors we buy from", ("warehouse.suppliers",)),
    LabelledQuery("parcel tracking", ("warehouse.shipments",)),
    LabelledQuery("discount codes", ("shop.coupons", f"{FD}.public.discounts")),
    LabelledQuery(
        "customers likely to cancel",
        ("analytics.user_churn_predictions", "notebooks.churn_exploration"),
    ),
    LabelledQuery("predict future sales", ("ml.demand_forecast",)),
    LabelledQuery("currency conversion", ("finance.fx_rates",)),
    LabelledQuery("failed logins", ("it.login_audit",)),
    LabelledQuery("outage reports", ("ops.incident_postmortems",)),
    LabelledQuery("cpu usage of machines", ("ops.server_metrics",)),
    LabelledQuery("star ratings of items", ("shop.product_reviews",)),
    LabelledQuery("abandoned baskets", ("shop.shopping_carts",)),
    LabelledQuery(
        "how long deliveries take",
        (
            f"{FD}.public.top_delivery_times",
            f"{FD}.delivery_times_7_days",
            f"{FD}.public.delivery_7_days",
        ),
    ),
    LabelledQuery(
        "food menus of restaurants",
        (f"{FD}.public.menus", f"{FD}.public.menu_items", f"{FD}.etl_menus"),
    ),
    LabelledQuery(
        "busiest weekday for orders",
        (f"{FD}.public.popular_orders_day_of_week", f"{FD}.orders_popular_day_of_week"),
    ),
    LabelledQuery("drivers who deliver food", (f"{FD}.public.drivers", f"{FD}.etl_drivers")),
    LabelledQuery("send coupons to customers whose order was late", (f"{FD}.email_discounts",)),
    LabelledQuery("daily active users", ("analytics.daily_active_users",)),
    LabelledQuery("advertising costs", ("marketing.ad_spend",)),
    LabelledQuery("deals in the sales pipeline", ("crm.opportunities",)),
    LabelledQuery("accounting entries", ("finance.general_ledger",)),
    LabelledQuery("experiment outcomes", ("analytics.ab_test_results",)),
    LabelledQuery("gdpr personal data contracts", ("legal.data_processing_agreements",)),
    LabelledQuery("security holes in servers", ("security.vulnerability_scans",)),
    LabelledQuery("public holidays calendar", ("ref.calendar",)),
    LabelledQuery("where are our shops", ("geo.store_locations",)),
    LabelledQuery("employee computers", ("it.laptops",)),
)
