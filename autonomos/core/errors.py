"""The application's own exceptions: services raise these, never an HTTP (DRF) exception.

Each carries the HTTP status and error code it stands for; `autonomos.core.api.exception_handler`
turns one into the API's error body `{"error": {"code", "message", "details"}}` in one place. Outside
an HTTP request (a Celery task, a management command) they are ordinary exceptions with a message.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A refusal a caller can act on. `details` is a small JSON-able dict (e.g. the id in the way)."""

    status = 400
    code = "bad_request"
    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = dict(details or {})
        super().__init__(self.message)


class InvalidInput(AppError):
    status = 400
    code = "invalid"
    default_message = "Invalid input."


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(AppError):
    """The request conflicts with the current state (something is running, already decided...)."""

    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class TooBusy(AppError):
    """Too much work is waiting for this tenant; try again later."""

    status = 429
    code = "throttled"
    default_message = "Too much work is waiting; try again later."
