from django.conf import settings
from django.db import connection


def tenant(request):
    t = getattr(request, "tenant", None) or getattr(connection, "tenant", None)
    is_tenant = t is not None and getattr(t, "schema_name", "public") != "public"
    return {
        "current_tenant": t if is_tenant else None,
        "aod_dashboard_url": settings.AOD_DASHBOARD_URL,
    }
