"""Tenant URLconf (`<slug>.<base domain>`): dashboard, admin, REST API, events."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from autonomos.core.health import healthz
from autonomos.core.login import admin_urls, login_limited
from autonomos.core.sse import EventStreamView
from autonomos.core.views import api_not_found

api_patterns = [
    path("auth/", include("tenants.api.urls")),
    path("events/stream/", EventStreamView.as_view(), name="events-stream"),
    path("money/", include("tenants.money.api.urls")),
    path("connections/", include("connectors.api.urls")),
    path("connections/", include("aam.api.urls_connections")),  # sync lives in aam (the layer above)
    path("connections/", include("dcl.api.urls_connections")),  # schedule, freshness, runs (dcl/schedules/)
    path("aam/", include("aam.api.urls")),
    path("dcl/telemetry/", include("agents.api.urls_telemetry")),  # the view lives in agents (LLM + job counters)
    path("dcl/", include("dcl.api.urls")),
    path("aoa/", include("agents.api.urls_aoa")),
    path("agents/", include("agents.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script from a URL (no inline script: Content-Security-Policy).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"", api_not_found),  # last: any other /api/ path is the API's JSON 404
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", include(api_patterns)),
    re_path(r"^api$", api_not_found),  # (not APPEND_SLASH's redirect, which cannot keep a POST's body)
    path("admin/", admin_urls(admin.site)),  # admin.site.urls, its login behind the login limits
    path("accounts/login/", login_limited(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("connections/", include("connectors.urls")),
    path("connections/", include("aam.urls_connections")),  # the Mapping tab (aam, the layer above)
    path("aam/", include("aam.urls")),
    path("dcl/", include("dcl.urls")),
    path("", include("agents.urls")),
]

handler400 = "autonomos.core.views.error_400"
handler403 = "autonomos.core.views.error_403"
handler404 = "autonomos.core.views.error_404"
handler500 = "autonomos.core.views.error_500"
