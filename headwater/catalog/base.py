"""Shared pydantic bases for the catalog's input models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Input models reject unknown fields, so server-owned fields can never be smuggled in."""

    model_config = ConfigDict(extra="forbid")


class VersionRef(StrictModel):
    """The version a client last read; a write against any other version is refused (409)."""

    version: int = Field(ge=1)
