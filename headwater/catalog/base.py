"""Shared pydantic bases for the catalog's input models."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Input models reject unknown fields, so server-owned fields can never be smuggled in."""

    model_config = ConfigDict(extra="forbid")


class VersionRef(StrictModel):
    """The version a client last read; a write against any other version is refused (409)."""

    version: int = Field(ge=1)


class Outcome(StrEnum):
    """What an upsert did, for the counts bulk writers and ingestion report."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
