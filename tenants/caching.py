"""Per-request lookups cached in each process for a few seconds (docs/adr/0008-api-serving.md).

Every request resolved its tenant from the Host header with a query (django-tenants) and every
JWT request loaded its user with another. Both answers change rarely; here they are kept in a
process-local cache for `TENANT_CACHE_SECONDS` / `AUTH_USER_CACHE_SECONDS`:

- a save or delete of a Tenant, Domain or user clears the cache of the process that made it at
  once (model signals); other processes see the change within the TTL;
- callers get a copy, so a request never mutates an object another request is holding;
- a user is cached per tenant (user ids repeat across tenant schemas) and only while active.
"""

from __future__ import annotations

import copy
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from autonomos.core.cache import LocalTTLCache

tenant_by_host = LocalTTLCache(getattr(settings, "TENANT_CACHE_SECONDS", 5.0))
user_by_id = LocalTTLCache(getattr(settings, "AUTH_USER_CACHE_SECONDS", 5.0))
token_by_raw = LocalTTLCache(getattr(settings, "AUTH_USER_CACHE_SECONDS", 5.0), max_entries=4096)


def cached_validated_token(raw: bytes, validate):
    """A token `validate(raw)` accepted (signature, expiry, type), kept for the TTL and never past
    its own expiry. A refused token raises every time (never cached)."""
    token = token_by_raw.get(raw)
    if token is None:
        token = validate(raw)
        exp = token.get("exp")
        if isinstance(exp, int | float):
            token_by_raw.set(raw, token, at_most=exp - time.time())
    return token


def cached_tenant_for_host(hostname: str, load):
    """The tenant serving `hostname` (a copy); `load(hostname)` on a miss (raises when unknown)."""
    tenant = tenant_by_host.get(hostname)
    if tenant is None:
        tenant = load(hostname)
        tenant_by_host.set(hostname, tenant)
    return copy.copy(tenant)


def cached_user(tenant_key: str, user_id, load):
    """The active user `user_id` of a tenant (a copy); `load()` on a miss (raises when refused)."""
    key = (tenant_key, str(user_id))
    user = user_by_id.get(key)
    if user is None:
        user = load()
        if getattr(user, "is_active", False):
            user_by_id.set(key, user)
    return copy.copy(user)


def _clear_tenants(**_kwargs) -> None:
    tenant_by_host.clear()


def _clear_users(**_kwargs) -> None:
    user_by_id.clear()


def connect_signals() -> None:
    from .models import Domain, Tenant

    for model in (Tenant, Domain):
        post_save.connect(_clear_tenants, sender=model, dispatch_uid=f"tenant-cache-{model.__name__}-save")
        post_delete.connect(_clear_tenants, sender=model, dispatch_uid=f"tenant-cache-{model.__name__}-delete")
    user_model = get_user_model()
    post_save.connect(_clear_users, sender=user_model, dispatch_uid="user-cache-save")
    post_delete.connect(_clear_users, sender=user_model, dispatch_uid="user-cache-delete")
    # Tenants going away take their users with them.
    post_delete.connect(_clear_users, sender=Tenant, dispatch_uid="user-cache-tenant-delete")
