"""Request bodies without a Content-Length (`Transfer-Encoding: chunked`) for the WSGI bridge.

Django's WSGI handler reads `CONTENT_LENGTH` bytes of a body; a chunked request has no such header,
so behind the WSGI bridge (a2wsgi) its body read as empty: the view saw `{}` and ran with its
defaults (a connect job over every connection instead of the one asked for), and the 413 guard
never saw a size. Here such a body is read first, spooled to disk past 1 MB, refused with 413 as
soon as it outgrows the limit the request would have with a Content-Length, and handed on with the
Content-Length it turned out to have.
"""

from __future__ import annotations

import json
import tempfile

from .api import error_body
from .middleware import body_limit

SPOOL_IN_MEMORY = 1 << 20
REPLAY_CHUNK = 1 << 16


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


async def _send_json(send, status: int, message: str) -> None:
    body = json.dumps(error_body(status, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def with_known_length(app):
    """ASGI middleware: HTTP requests without Content-Length but with a body reach `app` with one."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http" or _header(scope, b"content-length") is not None:
            return await app(scope, receive, send)
        if _header(scope, b"transfer-encoding") is None:
            return await app(scope, receive, send)  # no body at all (HTTP/1.1 framing)
        limit = body_limit((_header(scope, b"content-type") or b"").decode("latin-1"))
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        size = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if limit is not None and size > limit:
                    return await _send_json(send, 413, f"Request body too large (limit {limit} bytes).")
                spool.write(chunk)
                if not message.get("more_body", False):
                    break
            spool.seek(0)
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"transfer-encoding"]
            headers.append((b"content-length", str(size).encode()))
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()  # after the body: the client's disconnect
                chunk = spool.read(REPLAY_CHUNK)
                more = spool.tell() < size
                replayed = not more
                return {"type": "http.request", "body": chunk, "more_body": more}

            return await app(dict(scope, headers=headers), replay, send)
        finally:
            spool.close()

    return middleware
