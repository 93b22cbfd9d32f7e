"""The shared part of the kinds' test servers: a threaded HTTP server, request log, faults, tokens.

Each HTTP kind has `connectors/kinds/<kind>/testserver.py`: a local server that speaks the real
endpoints of the vendor's API (Salesforce, HubSpot, Dynamics 365) on 127.0.0.1 (port 0), served from
a thread. Each records the requests it saw and can be told to fail
(`fake.fail(status, times=..., path=..., headers=...)`) or to expire its tokens. Use them as context
managers:

    with FakeSalesforce() as sf:
        driver = build_driver("salesforce", sf.config(), sf.secrets())

Code that talks to them must allow loopback hosts (settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request target as sent (path and encoded query)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Fault:
    status: int
    times: int
    path: str = ""
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class FakeAPI:
    """Subclasses implement `route(request) -> (status, body, headers)`.

    `max_url` (bytes of the request target) makes longer requests answer 414 URI Too Long, as the
    vendors' front ends do; `too_long(request)` is the hook a subclass overrides for other rules."""

    max_url: int | None = None

    def __init__(self):
        self.requests: list[Request] = []
        self.tokens: set[str] = set()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    target=self.path,
                )
                status, payload, headers = fake._dispatch(request)
                data = (
                    b""
                    if payload is None
                    else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAPI:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- scripting ------------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str = "",
        method: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests whose path contains `path` answer `status`."""
        with self._lock:
            self._faults.append(
                Fault(
                    status=status,
                    times=times,
                    path=path,
                    method=method,
                    headers=headers or {},
                    body=body if body is not None else {"error": f"injected {status}"},
                )
            )

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as if it expired)."""
        with self._lock:
            self.tokens.clear()

    def authorized(self, request: Request) -> bool:
        return request.bearer in self.tokens

    def count(self, path: str = "", method: str | None = None) -> int:
        return sum(1 for r in self.requests if path in r.path and (method is None or r.method == method))

    # -- dispatch -------------------------------------------------------------------------------

    def _dispatch(self, request: Request):
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.path in request.path and fault.method in (None, request.method):
                    fault.times -= 1
                    return fault.status, fault.body, fault.headers
        refused = self.too_long(request)
        if refused is not None:
            return refused
        try:
            return self.route(request)
        except Exception as exc:  # noqa: BLE001 - a fake's bug shows as a 500 the test will notice
            return 500, {"error": f"fake server error: {exc!r}"}, {}

    def too_long(self, request: Request):
        if self.max_url is not None and len(request.target) > self.max_url:
            return 414, {"error": "URI Too Long"}, {}
        return None

    def longest_target(self) -> int:
        return max((len(r.target) for r in self.requests), default=0)

    def route(self, request: Request):
        raise NotImplementedError
