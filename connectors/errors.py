"""Errors a driver raises. Callers branch on the class, never on the message.

- `PermanentError`: retrying will not help (bad credentials, missing permission, a bad path).
  Reported once; no retry loop.
- `TransientError`: the source is busy or unreachable; the caller may retry later (the HTTP
  plumbing already retried with backoff before raising it).
- `ConnectorError` itself: anything else that is the source's fault (an unknown object, a query the
  source refused).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A failure talking to a source. The message is safe to show (it never carries secrets)."""

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class PermanentError(ConnectorError):
    """Retrying cannot help: bad credentials, missing permission, a refused path."""


class TransientError(ConnectorError):
    """The source is busy or unreachable; try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, details: dict | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ObjectNotFound(ConnectorError):
    """The requested object (file, table, collection, sObject) does not exist in the source."""
