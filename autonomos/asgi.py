"""ASGI entry point: HTTP through Django (django-tenants middleware), WebSockets through Channels
with the tenant resolved from the Host header and the user authenticated first."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomos.settings.local")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from autonomos.core.consumers import EventsConsumer  # noqa: E402
from autonomos.core.ws_auth import TenantAuthMiddleware, origin_validated  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": origin_validated(
            TenantAuthMiddleware(URLRouter([path("ws/events/", EventsConsumer.as_asgi())]))
        ),
    }
)
