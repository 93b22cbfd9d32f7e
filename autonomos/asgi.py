"""ASGI entry point, served by uvicorn with several worker processes (scripts/run.sh).

- WebSockets go through Channels, with the tenant resolved from the Host header and the user
  authenticated first; a browser's Origin must name that same host (tenants/ws_auth.py).
- Streaming HTTP (the SSE endpoint, `ASYNC_HTTP_PATHS`) goes through Django's ASGI handler: it
  holds a connection open for minutes on an async iterator and must not occupy a thread.
- Every other HTTP request (the API, the dashboard, the admin: all sync views) runs through
  Django's WSGI handler on a fixed pool of threads (a2wsgi). Under Django's ASGI handler a sync
  view costs three hops between the event loop and a thread created for each request (asgiref's
  ThreadSensitiveContext), about half of the CPU time of a cached API page; here it is one hand-off
  to a thread that already exists. See docs/adr/0008-api-serving.md for the measurements.
- In front of all that, the API edge (dcl/api/edge.py) answers GETs of cached unified-view pages
  in the event loop, from the caches Django's request path fills; anything else, and any request
  it is in doubt about, goes on to Django unchanged.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomos.settings.local")
django_asgi_app = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402

from autonomos.core.asgi_body import with_known_length  # noqa: E402
from autonomos.core.consumers import EventsConsumer  # noqa: E402
from dcl.api.edge import edge  # noqa: E402
from tenants.ws_auth import TenantAuthMiddleware, origin_validated  # noqa: E402

# Paths served by Django's ASGI handler (async views that stream); everything else is sync.
ASYNC_HTTP_PATHS = ("/api/events/stream/",)

# A chunked body (no Content-Length) would read as empty through WSGI: it is read here first.
django_wsgi_app = with_known_length(WSGIMiddleware(get_wsgi_application(), workers=settings.WEB_THREADS))


async def django_http_application(scope, receive, send):
    if scope["path"].startswith(ASYNC_HTTP_PATHS):
        return await django_asgi_app(scope, receive, send)
    return await django_wsgi_app(scope, receive, send)


http_application = edge(django_http_application)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": origin_validated(
            TenantAuthMiddleware(URLRouter([path("ws/events/", EventsConsumer.as_asgi())]))
        ),
    }
)

# Everything loaded so far lives as long as the process: keep it out of the garbage collector's
# full collections, which otherwise walk all of it (~150k objects, ~100 ms here, every request
# of the process waiting) every so often under load.
gc.collect()
gc.freeze()
