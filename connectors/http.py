"""HTTP plumbing shared by the SaaS drivers (httpx).

- a timeout on every request (CONNECTORS_HTTP_TIMEOUT);
- bounded retries (CONNECTORS_HTTP_MAX_RETRIES) with exponential backoff and jitter for network
  errors, 5xx and 429; a 429's Retry-After is honoured (capped by CONNECTORS_HTTP_MAX_WAIT);
- an expired OAuth token (401) is refreshed once and the request retried; a second 401, a 403 or a
  token endpoint that refuses the credentials is a PermanentError, raised at once (no retry loop);
- hosts on the platform's own network are refused, checked again at connect time on the very
  address the connection uses (connectors.netguard.GuardedTransport);
- JSON nested deeper than SOURCE_JSON_MAX_DEPTH is refused like any body that is not JSON (the json
  module recursed on it: RecursionError crashed a sync).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from autonomos.core.parsers import JSONTooDeep
from autonomos.core.parsers import loads as json_loads

from . import conf
from .errors import ConnectorError, PermanentError, TransientError
from .netguard import GuardedTransport, ensure_public_url

logger = logging.getLogger(__name__)

USER_AGENT = "AutonomOS-connectors/1.0"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 522, 524})
# Records nested deeper are nothing a mapping uses; the bound keeps every later step that walks a
# record (jsonable, json.dumps) well inside the interpreter's recursion limit.
SOURCE_JSON_MAX_DEPTH = 200


def json_of(response: httpx.Response) -> Any:
    """The response's JSON; ValueError (JSONTooDeep for too deep) when it is not JSON we take."""
    return json_loads(response.content, max_depth=SOURCE_JSON_MAX_DEPTH)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: base·2^attempt·[0.5, 1), capped at the max wait."""
    return min(conf.http_backoff_base() * (2**attempt) * (0.5 + random.random() / 2), conf.http_max_wait())


def _error_text(response: httpx.Response, limit: int = 300) -> str:
    try:
        body = json_of(response)
    except ValueError:
        return response.text[:limit]
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce: [{"message", "errorCode"}]
        body = body[0]
    if isinstance(body, dict):
        for key in ("error_description", "message", "error"):
            value = body.get(key)
            if isinstance(value, dict):  # OData: {"error": {"code", "message"}}
                value = value.get("message")
            if value:
                return str(value)[:limit]
    return str(body)[:limit]


class TokenProvider:
    """An OAuth access token from a token endpoint, fetched lazily and refreshed on demand."""

    def __init__(
        self,
        *,
        token_url: str,
        form: dict[str, str],
        client: HttpClient,
        on_token: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.token_url = token_url
        self._form = form
        self._client = client
        self._on_token = on_token
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<TokenProvider {self.token_url}>"

    def token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None or time.monotonic() > self._expires_at:
                self._fetch()
            return self._token

    def _fetch(self) -> None:
        response = self._client.send("POST", self.token_url, data=self._form, authenticate=False)
        if response.status_code in (400, 401, 403):
            raise PermanentError(f"the token endpoint refused the credentials: {_error_text(response)}")
        if response.status_code >= 300:
            raise ConnectorError(f"token endpoint answered {response.status_code}: {_error_text(response)}")
        try:
            body = json_of(response)
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ConnectorError("the token endpoint answered without an access_token") from None
        self.fetches += 1
        self._token = token
        expires_in = body.get("expires_in")
        try:
            # Refresh a minute early; tokens without expires_in (Salesforce) live until a 401 says otherwise.
            self._expires_at = time.monotonic() + max(float(expires_in) - 60, 1) if expires_in else float("inf")
        except (TypeError, ValueError):
            self._expires_at = float("inf")
        if self._on_token:
            self._on_token(body)


class HttpClient:
    """One SaaS API: base URL, auth (static bearer token or TokenProvider), retries."""

    def __init__(
        self,
        *,
        base_url: str = "",
        bearer: str | None = None,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.bearer = bearer
        self.token_provider: TokenProvider | None = None
        self._sleep = sleep
        self._checked_hosts: set[str] = set()
        self._client = httpx.Client(
            # Resolves, checks and connects in one step: no DNS rebinding between check and connect.
            transport=GuardedTransport(),
            timeout=conf.http_timeout(),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        )
        self.requests = 0

    def __repr__(self) -> str:  # no tokens in reprs
        return f"<HttpClient {self.base_url}>"

    def close(self) -> None:
        self._client.close()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def url_length(self, path_or_url: str, params: dict[str, Any] | None = None) -> int:
        """Length of the URL as it goes on the wire (query encoded exactly as httpx will send it)."""
        return len(str(httpx.URL(self.url(path_or_url), params=params)))

    def _guard(self, url: str) -> None:
        host = urlsplit(url).netloc
        if host not in self._checked_hosts:
            ensure_public_url(url)
            self._checked_hosts.add(host)

    def send(self, method: str, path_or_url: str, *, authenticate: bool = True, **kwargs: Any) -> httpx.Response:
        """One request with retries for network errors, 429 and 5xx; the response of any other status."""
        url = self.url(path_or_url)
        self._guard(url)
        retries = conf.http_max_retries()
        refreshed = False
        attempt = 0
        while True:
            headers = dict(kwargs.pop("headers", None) or {})
            if authenticate:
                token = self.token_provider.token() if self.token_provider else self.bearer
                if token:
                    headers["Authorization"] = f"Bearer {token}"
            try:
                self.requests += 1
                response = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException as exc:
                error: Exception = exc
                response = None
            except httpx.TransportError as exc:
                error = exc
                response = None
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response is None:
                if attempt >= retries:
                    raise TransientError(f"{urlsplit(url).netloc} unreachable: {type(error).__name__}") from None
                self._sleep(backoff_delay(attempt))
                attempt += 1
                continue
            if response.status_code == 401 and authenticate:
                if self.token_provider is not None and not refreshed:
                    # The token expired (or was revoked): get a new one once, then try again.
                    refreshed = True
                    self.token_provider.token(refresh=True)
                    continue
                raise PermanentError(f"authentication failed: {_error_text(response)}")
            if response.status_code in RETRY_STATUSES:
                wait = retry_after_seconds(response) if response.status_code == 429 else None
                if attempt >= retries:
                    raise TransientError(
                        f"{urlsplit(url).netloc} answered {response.status_code} after {attempt + 1} attempts",
                        retry_after=wait,
                    )
                delay = min(wait, conf.http_max_wait()) if wait is not None else backoff_delay(attempt)
                logger.info("retrying %s %s after %s in %.2fs", method, urlsplit(url).path, response.status_code, delay)
                self._sleep(delay)
                attempt += 1
                continue
            return response

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """JSON of a successful response; 403 → PermanentError, 404 → ObjectNotFound, other 4xx → ConnectorError."""
        return self.response_json(self.send(method, path_or_url, **kwargs))

    def response_json(self, response: httpx.Response) -> Any:
        """`request_json`'s reading of a response `send` gave (for a caller that needs its headers too).
        A ConnectorError for a 4xx carries the status in `details["status"]`."""
        from .errors import ObjectNotFound

        if response.status_code == 403:
            raise PermanentError(f"permission denied: {_error_text(response)}")
        if response.status_code == 404:
            raise ObjectNotFound(f"not found: {_error_text(response)}")
        if response.status_code >= 400:
            raise ConnectorError(f"the source answered {response.status_code}: {_error_text(response)}",
                                 details={"status": response.status_code})
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return json_of(response)
        except JSONTooDeep as exc:
            raise ConnectorError(f"the source answered with JSON nested deeper than {exc.limit} levels") from None
        except ValueError:
            raise ConnectorError("the source answered with something that is not JSON") from None

    def get(self, path_or_url: str, **kwargs: Any) -> Any:
        return self.request_json("GET", path_or_url, **kwargs)

    def post(self, path_or_url: str, **kwargs: Any) -> Any:
        return self.request_json("POST", path_or_url, **kwargs)
