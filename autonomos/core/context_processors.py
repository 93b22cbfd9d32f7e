from django.conf import settings
from django.db import connection

from .roles import Role, has_role, role_of


def tenant(request):
    t = getattr(request, "tenant", None) or getattr(connection, "tenant", None)
    is_tenant = t is not None and getattr(t, "schema_name", "public") != "public"
    return {
        "current_tenant": t if is_tenant else None,
        "aod_dashboard_url": settings.AOD_DASHBOARD_URL,
    }


def role(request):
    """The signed-in user's role, for pages that offer only what the role may do (the server checks
    again on every request: autonomos/core/roles.py)."""
    user = getattr(request, "user", None)
    return {
        "user_role": role_of(user),
        "can_operate": has_role(user, Role.OPERATOR),
        "can_manage": has_role(user, Role.ADMIN),
    }
