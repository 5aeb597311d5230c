"""Shared pydantic bases for the catalog's input models."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# FastAPI validates a JSON body as Python objects, where pydantic's lax mode reads true as 1, 2.0
# as 2 and 0 as false: ids, versions, counts and flags in bodies take only their own JSON type.
# Ids are Postgres bigints; a larger number is bad input (422), not a server error.
EntityId = Annotated[int, Field(ge=1, le=2**63 - 1, strict=True)]


def _trim_nonblank(value: str) -> str:
    if not (trimmed := value.strip()):
        raise ValueError("must not be blank")
    return trimmed


# Names lose surrounding whitespace after their length is checked, so that the limits the OpenAPI
# document states hold for the text as sent.
Trim = AfterValidator(str.strip)
TrimNonBlank = AfterValidator(_trim_nonblank)


class StrictModel(BaseModel):
    """Input models reject unknown fields, so server-owned fields can never be smuggled in."""

    model_config = ConfigDict(extra="forbid")


class VersionRef(StrictModel):
    """The version a client last read; a write against any other version is refused (409)."""

    version: int = Field(ge=1, strict=True)


class Outcome(StrEnum):
    """What an upsert did, for the counts bulk writers and ingestion report."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
