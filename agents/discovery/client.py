"""HTTP client of the external discovery service (AOD_BASE_URL).

POST {base}/v1/discover and POST {base}/v1/scan, JSON `DiscoverRequest` in, `DiscoverResponse`
out. Timeouts, two retries on connection errors / 5xx / 429 with a short backoff, a response size
cap, and strict validation: anything else is a `DiscoveryError`, never a crash.
"""

from __future__ import annotations

import json
import time

import httpx
from django.conf import settings
from pydantic import ValidationError

from .contracts import DiscoverRequest, DiscoverResponse

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
RETRIES = 2
BACKOFF_SECONDS = 0.5


class DiscoveryError(Exception):
    """The discovery service could not be reached or answered something unusable."""

    def __init__(self, message: str, *, raw: dict | None = None):
        super().__init__(message)
        self.raw = raw or {}
        self.log_id: int | None = None  # set once the failed request is logged


def _path(kind: str) -> str:
    return "/v1/scan" if kind == "scan" else "/v1/discover"


def external_discover(request: DiscoverRequest, *, base_url: str | None = None,
                      timeout: float | None = None) -> tuple[DiscoverResponse, dict]:
    """Send the request; return the validated response and the raw JSON that came back."""
    base = (base_url or settings.AOD_BASE_URL).rstrip("/")
    url = f"{base}{_path(request.kind)}"
    last_error = ""
    with httpx.Client(timeout=timeout or settings.AOD_TIMEOUT, follow_redirects=False) as client:
        for attempt in range(RETRIES + 1):
            try:
                with client.stream("POST", url, json=request.model_dump(mode="json"),
                                   headers={"Accept": "application/json"}) as response:
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE_BYTES:
                            raise DiscoveryError(f"the discovery service answered more than "
                                                 f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MB")
                    status = response.status_code
            except httpx.HTTPError as exc:
                last_error = f"could not reach the discovery service: {type(exc).__name__}"
                if attempt < RETRIES:
                    time.sleep(BACKOFF_SECONDS * (2 ** attempt))
                    continue
                raise DiscoveryError(last_error) from exc
            if status == 429 or status >= 500:
                last_error = f"the discovery service answered HTTP {status}"
                if attempt < RETRIES:
                    time.sleep(BACKOFF_SECONDS * (2 ** attempt))
                    continue
                raise DiscoveryError(last_error)
            if status >= 400:
                raise DiscoveryError(f"the discovery service refused the request (HTTP {status})",
                                     raw=_safe_json(body))
            raw = _safe_json(body)
            if raw is None:
                raise DiscoveryError("the discovery service answered something that is not JSON")
            try:
                return DiscoverResponse.model_validate(raw), raw
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                raise DiscoveryError(f"the discovery service answered an invalid response ({problems})",
                                     raw=raw if isinstance(raw, dict) else {"value": raw}) from exc
    raise DiscoveryError(last_error or "the discovery service did not answer")


def _safe_json(body: bytes):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
