"""Ingestion from the ecosystem: OpenLineage, dbt, SQL"""
