"""Fixtures of the AAM tests: a local server speaking the OpenAI chat-completions API, connections."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection as db_connection

CASES_DIR = Path(__file__).resolve().parent / "cases"


class FakeLLM:
    """Scripted chat-completions answers; every request is recorded.

    `reply(content, prompt_tokens=..., completion_tokens=...)` queues an answer, `fail(status)` an HTTP
    error; `content` may be a function of the request body. With nothing queued the server answers 500.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.script: deque = deque()
        self.server: ThreadingHTTPServer | None = None
        self.base_url = ""

    def reply(self, content, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> None:
        self.script.append(("ok", content, prompt_tokens, completion_tokens))

    def fail(self, status: int = 500) -> None:
        self.script.append(("fail", status, 0, 0))

    def user_payload(self, i: int = -1) -> dict:
        """The JSON the engine sent as the user message of request `i`."""
        messages = self.requests[i]["messages"]
        return json.loads(next(m["content"] for m in messages if m["role"] == "user"))


def _handler(fake: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_POST(self):  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(body)
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": {"message": "unknown path"}})
                return
            if not fake.script:
                self._send(500, {"error": {"message": "nothing scripted"}})
                return
            kind, value, pt, ct = fake.script.popleft()
            if kind == "fail":
                self._send(value, {"error": {"message": "scripted failure", "type": "server_error"}})
                return
            content = value(body) if callable(value) else value
            self._send(
                200,
                {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": body.get("model", "test-model"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
                },
            )

        def _send(self, status: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def fake_llm(settings):
    """A chat-completions server on 127.0.0.1 and the settings that point the LLM client at it."""
    fake = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.server = server
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.LLM_BASE_URL = fake.base_url
    settings.LLM_API_KEY = "test-key-not-secret"
    settings.LLM_MODEL = "test-model"
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_TIMEOUT = 5.0
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def connection_a(in_tenant_a):
    from connectors.models import Connection

    return Connection.objects.create(name="Salesforce prod", kind="salesforce")


def make_connection(tenant, name: str = "CRM", kind: str = "salesforce"):
    from connectors.models import Connection

    db_connection.set_tenant(tenant)
    return Connection.objects.create(name=name, kind=kind)


def load_case(name: str) -> dict:
    return json.loads((CASES_DIR / name).read_text())


@pytest.fixture
def admin_user_a(in_tenant_a):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin")
