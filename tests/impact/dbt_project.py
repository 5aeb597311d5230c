"""A small dbt project (manifest v12) for the impact tests: a source, three models and an exposure.

::

    raw.customers (source) -> stg_customers (view, contract) -> customers -> weekly (dashboard)
                                                              -> old_report

Compiled SQL gives column lineage when it is ingested; each model declares its columns.
"""

from __future__ import annotations

import copy
from typing import Any

NAMESPACE = "postgres://db:5432"
STG = f"{NAMESPACE}/analytics.stg.stg_customers"
CUSTOMERS = f"{NAMESPACE}/analytics.marts.customers"
OLD_REPORT = f"{NAMESPACE}/analytics.marts.old_report"
WEEKLY = "dbt://exposure.shop.weekly"


def _columns(**types: str) -> dict[str, Any]:
    return {name: {"name": name, "data_type": t, "description": ""} for name, t in types.items()}


def _model(
    name: str,
    schema: str,
    sql: str,
    parents: list[str],
    columns: dict[str, Any],
    *,
    materialized: str = "table",
    contract: bool = False,
) -> dict[str, Any]:
    return {
        "resource_type": "model",
        "unique_id": f"model.shop.{name}",
        "name": name,
        "alias": name,
        "package_name": "shop",
        "database": "analytics",
        "schema": schema,
        "original_file_path": f"models/{name}.sql",
        "config": {
            "enabled": True,
            "materialized": materialized,
            "contract": {"enforced": contract},
        },
        "columns": columns,
        "depends_on": {"nodes": parents},
        "raw_code": sql,
        "compiled_code": sql,
    }


def manifest() -> dict[str, Any]:
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "1.9.0",
            "project_name": "shop",
            "adapter_type": "postgres",
        },
        "nodes": {
            "model.shop.stg_customers": _model(
                "stg_customers",
                "stg",
                "select id, email, signup_date from analytics.raw.customers",
                ["source.shop.raw.customers"],
                _columns(id="integer", email="varchar(255)", signup_date="date"),
                materialized="view",
                contract=True,
            ),
            "model.shop.customers": _model(
                "customers",
                "marts",
                "select id, email from analytics.stg.stg_customers",
                ["model.shop.stg_customers"],
                _columns(id="integer", email="varchar(255)"),
            ),
            "model.shop.old_report": _model(
                "old_report",
                "marts",
                "select id from analytics.stg.stg_customers",
                ["model.shop.stg_customers"],
                _columns(id="integer"),
            ),
        },
        "sources": {
            "source.shop.raw.customers": {
                "resource_type": "source",
                "unique_id": "source.shop.raw.customers",
                "name": "customers",
                "identifier": "customers",
                "source_name": "raw",
                "package_name": "shop",
                "database": "analytics",
                "schema": "raw",
                "columns": _columns(id="integer", email="varchar(255)", signup_date="date"),
            }
        },
        "exposures": {
            "exposure.shop.weekly": {
                "resource_type": "exposure",
                "unique_id": "exposure.shop.weekly",
                "name": "weekly",
                "type": "dashboard",
                "package_name": "shop",
                "owner": {"name": "BI", "email": "bi@acme.test"},
                "depends_on": {"nodes": ["model.shop.customers"]},
            }
        },
    }


def proposed() -> dict[str, Any]:
    """The pull request: stg_customers drops email and narrows id, old_report is deleted,
    customers moves to another schema, and a new model appears."""
    changed = copy.deepcopy(manifest())
    nodes = changed["nodes"]
    stg = nodes["model.shop.stg_customers"]
    stg["columns"] = _columns(id="smallint", signup_date="date")
    del nodes["model.shop.old_report"]
    nodes["model.shop.customers"]["schema"] = "core"
    nodes["model.shop.customers"]["columns"] = _columns(id="integer")
    nodes["model.shop.fresh"] = _model("fresh", "marts", "select 1 as x", [], _columns(x="integer"))
    return changed
