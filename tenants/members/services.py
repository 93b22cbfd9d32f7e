"""Writes for members: a tenant user's role, and revoking every token issued to them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from autonomos.core.roles import Role
from autonomos.core.tenancy import current_tenant

from ..caching import forget_users
from .models import Member


def member_set_role(*, user, role: Role | str) -> Member:
    """Give `user` the role `role` in the current tenant."""
    current_tenant()
    role = Role(role)
    member, _ = Member.objects.update_or_create(user=user, defaults={"role": role})
    return member


def member_revoke_tokens(*, user) -> None:
    """Every access and refresh token issued to `user` so far stops working (their version moves on),
    and their outstanding refresh tokens are blacklisted too."""
    current_tenant()
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    with transaction.atomic():
        member, created = Member.objects.get_or_create(
            user=user, defaults={"role": Role.ADMIN if user.is_superuser else Role.VIEWER, "token_version": 1})
        if not created:
            Member.objects.filter(pk=member.pk).update(token_version=F("token_version") + 1)
        outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding],
                                             ignore_conflicts=True)
    forget_users()  # this process's cached copies carry the old version; others' expire within their TTL


def user_create(*, username: str, email: str, password: str, role: Role | str = Role.VIEWER):
    """A user of the current tenant with a role (the password passes Django's validators)."""
    current_tenant()
    from django.contrib.auth.password_validation import validate_password

    user_model = get_user_model()
    probe = user_model(username=username, email=email)
    validate_password(password, user=probe)
    with transaction.atomic():
        user = user_model.objects.create_user(username=username, email=email, password=password, is_staff=True)
        Member.objects.create(user=user, role=Role(role))
    return user


def revoke_tokens_on_deactivation(sender, instance, raw=False, **_kwargs) -> None:
    """pre_save of the user model: a user switched to inactive loses every token issued so far, so
    switching them back on later does not revive tokens an attacker may hold. (A password change
    needs no hook: the token version is derived from the password hash, tenants/auth.py.)"""
    from django.conf import settings
    from django.db import connection

    if raw or instance.pk is None or instance.is_active or connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return
    if sender.objects.filter(pk=instance.pk, is_active=True).exists():
        member_revoke_tokens(user=instance)
