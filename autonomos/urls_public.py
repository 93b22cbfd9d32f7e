"""Public URLconf (the base domain): platform staff admin and health. Tenant APIs are not here."""

from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import TemplateView

from autonomos.core.health import healthz
from autonomos.core.login import admin_urls
from autonomos.core.views import api_not_found

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin_urls(admin.site)),  # admin.site.urls, its login behind the login limits
    re_path(r"^api/", api_not_found),  # tenant APIs live on the tenant's host: a JSON 404 here
    re_path(r"^api$", api_not_found),  # (not APPEND_SLASH's redirect, which cannot keep a POST's body)
    path("", TemplateView.as_view(template_name="public_home.html"), name="public-home"),
]

handler400 = "autonomos.core.views.error_400"
handler403 = "autonomos.core.views.error_403"
handler404 = "autonomos.core.views.error_404"
handler500 = "autonomos.core.views.error_500"
