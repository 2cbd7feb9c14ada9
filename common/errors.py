"""Domain errors. Services raise these; the one DRF exception handler (common.api) and the management
commands map them to responses and exit codes, so services never import DRF."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldIssue:
    field: str
    message: str


class ApplicationError(Exception):
    """Base of every expected, user-facing error."""

    status_code = 400
    code = "invalid"

    def __init__(
        self, message: str, *, issues: list[FieldIssue] | None = None, extra: dict[str, object] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.issues = issues or []
        self.extra = extra or {}

    def as_payload(self) -> dict[str, object]:
        return error_body(self.code, self.message, issues=self.issues, extra=self.extra)


def error_body(
    code: str, message: str, *, issues: list[FieldIssue] | None = None, extra: dict[str, object] | None = None
) -> dict[str, object]:
    """The one error shape of the API: `{"error": <code>, "message": ..., "errors": [{"field", "message"}]
    (when fields are at fault), **extra}` (e.g. `retry_after`, `limit_bytes`)."""
    payload: dict[str, object] = {"error": code, "message": message}
    if issues:
        payload["errors"] = [{"field": i.field, "message": i.message} for i in issues]
    payload.update(extra or {})
    return payload


class ValidationFailed(ApplicationError):
    status_code = 400
    code = "invalid"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class StateError(ApplicationError):
    """The object is not in a state that allows the operation (e.g. approving a draft)."""

    status_code = 409
    code = "invalid_state"


class Blocked(ApplicationError):
    """An operation that must not proceed until someone fixes its cause (missing tax rule, FX rate)."""

    status_code = 409
    code = "blocked"
