"""Roles inside a tenant: the one permission layer behind the API, the dashboard and the admin.

- viewer: reads views, findings and everything else that is not a secret;
- operator: also syncs, decides review items, runs agents and jobs;
- admin: also manages connections and their secrets, users, roles and settings.

A user's role is `user.member.role` (tenants.members); a tenant superuser (one made with
`createsuperuser` inside a tenant schema) is that tenant's admin, never more: the tenant registry
is the platform's and is refused to every tenant user (`REGISTRY_APPS`). A user with no member row
is a viewer: least privilege unless someone granted more.

Where each surface asks:
- API: `RolePermission` on every endpoint (autonomos/core/api.py); a view states what its unsafe
  methods or actions need in `required_roles`; unstated unsafe methods need admin (fail closed).
- Dashboard: `RoleMiddleware` before every non-API view; a view states its role with
  `@role_required(...)`; unstated unsafe methods need admin.
- Admin: `RoleBackend` answers Django's model permissions from the role alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import connection, models
from rest_framework.permissions import SAFE_METHODS, BasePermission


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

# The platform's registry: never changeable, listable or viewable from a tenant.
REGISTRY_APPS = frozenset({"tenants"})
# Users, roles, tokens and login lockouts: only a tenant's admins see them.
ADMIN_ONLY_APPS = frozenset({"auth", "members", "token_blacklist", "axes", "sessions", "admin", "contenttypes"})
# Model permissions an operator holds beyond viewing: deciding review items.
OPERATOR_PERMISSIONS = frozenset({"aam.change_reviewitem", "aam.add_reviewdecision", "aam.change_valuemap",
                                  "dcl.change_matchreview"})


def on_public_schema() -> bool:
    return connection.schema_name == settings.PUBLIC_SCHEMA_NAME


def role_of(user) -> Role | None:
    """The user's role in the tenant of the current connection, or None (anonymous, inactive)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    if user.is_superuser:
        return Role.ADMIN
    try:
        return Role(user.member.role)
    except (ObjectDoesNotExist, ValueError):
        return Role.VIEWER


def has_role(user, role: Role | str) -> bool:
    """True when the user's role is `role` or above."""
    held = role_of(user)
    return held is not None and _RANK[held] >= _RANK[Role(role)]


def is_platform_staff(user) -> bool:
    """Platform staff: an active superuser of the public schema (a tenant's admin never is)."""
    return (on_public_schema() and user is not None and getattr(user, "is_active", False)
            and getattr(user, "is_superuser", False))


def model_permission(user, perm: str) -> bool:
    """Whether the user holds the Django model permission `perm` ("app_label.codename") in a tenant."""
    app_label, _, codename = perm.partition(".")
    if app_label in REGISTRY_APPS or on_public_schema():
        return False
    role = role_of(user)
    if role is None:
        return False
    if role == Role.ADMIN:
        return True
    if app_label in ADMIN_ONLY_APPS:
        return False
    if codename.startswith("view_"):
        return True
    return role == Role.OPERATOR and perm in OPERATOR_PERMISSIONS


class RoleBackend(ModelBackend):
    """Authenticates like Django's ModelBackend; permissions come from the role alone, never from
    per-user or group permissions (which a tenant admin could otherwise hand out on the side)."""

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        if obj is not None or not getattr(user_obj, "is_active", False):
            return set()
        from django.contrib.auth.models import Permission

        perms = Permission.objects.values_list("content_type__app_label", "codename")
        return {f"{app}.{code}" for app, code in perms if model_permission(user_obj, f"{app}.{code}")}

    def has_perm(self, user_obj, perm, obj=None):
        return getattr(user_obj, "is_active", False) and model_permission(user_obj, perm)

    def has_module_perms(self, user_obj, app_label):
        if app_label in REGISTRY_APPS or on_public_schema():
            return False
        role = role_of(user_obj)
        return role == Role.ADMIN or (role is not None and app_label not in ADMIN_ONLY_APPS)


def required_role(view, request) -> Role:
    """The role a request needs: the view's `required_roles` entry for its action or method;
    otherwise viewer for reads and admin for anything else."""
    roles = getattr(view, "required_roles", None) or {}
    action = getattr(view, "action", None)
    if action and action in roles:
        return Role(roles[action])
    if request.method in roles:
        return Role(roles[request.method])
    return Role.VIEWER if request.method in SAFE_METHODS else Role.ADMIN


class RolePermission(BasePermission):
    """DRF: the authenticated user's role must reach what the view asks for."""

    message = "Your role in this tenant does not allow this."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, required_role(view, request))


def role_required(role: Role | str) -> Callable:
    """Mark a dashboard view with the role it needs (checked by RoleMiddleware for every method)."""

    def mark(view_func):
        view_func.required_role = Role(role)
        return view_func

    return mark


class RoleMiddleware:
    """Dashboard: every non-API, non-admin view is checked against the signed-in user's role before it
    runs. Anonymous requests pass through (the view's login_required sends them to the login page)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or on_public_schema():
            return None
        if getattr(view_func, "cls", None) is not None:
            return None  # a DRF view: RolePermission decides, after DRF's own authentication
        match = getattr(request, "resolver_match", None)
        if match is not None and "admin" in match.namespaces:
            return None  # the admin asks RoleBackend for each model permission
        needed = getattr(view_func, "required_role", None)
        if needed is None:
            needed = Role.VIEWER if request.method in SAFE_METHODS else Role.ADMIN
        if not has_role(user, needed):
            raise PermissionDenied(f"This needs the {Role(needed).label.lower()} role.")
        return None
