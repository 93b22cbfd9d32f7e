"""The Django admin's site: platform staff on the public host, a tenant's members on its own host.

On the public host only platform staff (active superusers of the public schema) get in. On a
tenant's host every active member gets in and sees what their role allows (autonomos/core/roles.py:
viewers read, operators also decide review items, admins manage everything of their tenant); the
tenant registry is never there.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from .roles import is_platform_staff, on_public_schema, role_of


def may_use_admin(user) -> bool:
    if user is None or not getattr(user, "is_active", False):
        return False
    if on_public_schema():
        return is_platform_staff(user)
    return role_of(user) is not None


class RoleAdminAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not may_use_admin(user):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class PlatformAdminSite(admin.AdminSite):
    site_header = "AutonomOS administration"
    site_title = "AutonomOS admin"
    login_form = RoleAdminAuthenticationForm

    def has_permission(self, request) -> bool:
        return may_use_admin(request.user)
