"""The admin app with the platform's site (autonomos/core/admin_site.py). Kept apart from the site so
that loading the app registry imports no models."""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    default_site = "autonomos.core.admin_site.PlatformAdminSite"
