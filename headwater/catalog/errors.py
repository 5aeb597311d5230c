"""The domain's error tree. The API renders each as problem+json with its status code."""

from __future__ import annotations

from typing import Any


class HeadwaterError(Exception):
    status_code = 500
    title = "Internal error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadRequest(HeadwaterError):
    status_code = 400
    title = "Bad request"


class Unauthorized(HeadwaterError):
    status_code = 401
    title = "Unauthorized"


class Forbidden(HeadwaterError):
    status_code = 403
    title = "Forbidden"


class NotFound(HeadwaterError):
    status_code = 404
    title = "Not found"


class Conflict(HeadwaterError):
    status_code = 409
    title = "Conflict"


class VersionConflict(Conflict):
    """A write named a version that is no longer current."""

    title = "Version conflict"

    def __init__(self, entity: str, entity_id: object, expected: int, current: int) -> None:
        super().__init__(
            f"{entity} {entity_id} is at version {current}, not {expected}: "
            "reload it and retry with the current version",
            current_version=current,
        )


class PayloadTooLarge(HeadwaterError):
    status_code = 413
    title = "Payload too large"


class Unprocessable(HeadwaterError):
    """Well-formed input that breaks a domain rule; ``errors`` carries field paths."""

    status_code = 422
    title = "Unprocessable entity"
