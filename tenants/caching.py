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

# Entries are renewed by the request that reads them in their last fifth (LocalTTLCache.refresh_ahead)
# while the API edge keeps answering from them: one request per entry and period goes to Django.
REFRESH_AHEAD = 0.2


def _cache(seconds: float, **kwargs) -> LocalTTLCache:
    return LocalTTLCache(seconds, refresh_ahead=seconds * REFRESH_AHEAD, **kwargs)


tenant_by_host = _cache(getattr(settings, "TENANT_CACHE_SECONDS", 5.0))
user_by_id = _cache(getattr(settings, "AUTH_USER_CACHE_SECONDS", 5.0))
token_by_raw = _cache(getattr(settings, "AUTH_USER_CACHE_SECONDS", 5.0), max_entries=4096)


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


# Read-only peeks for the API edge (dcl/api/edge.py): the answers Django's own request path put in
# these caches, never loading anything (a miss sends the request on to Django, which fills the
# cache). Each returns (the cached object itself or None, whether this caller should send its
# request to Django to renew the entry: see LocalTTLCache.peek). Callers must not modify it.


def peek_tenant_for_host(hostname: str):
    """The tenant Django last resolved for `hostname` (within the TTL)."""
    return tenant_by_host.peek(hostname)


def peek_validated_token(raw: bytes):
    """A token Django's authentication validated (signature, expiry, type), not expired since."""
    token, renew = token_by_raw.peek(raw)
    if token is None:
        return None, False
    exp = token.get("exp")
    if not isinstance(exp, int | float) or exp <= time.time():
        return None, False
    return token, renew


def peek_user(tenant_key: str, user_id):
    """The active user `user_id` of a tenant as Django's authentication last loaded it."""
    user, renew = user_by_id.peek((tenant_key, str(user_id)))
    if not getattr(user, "is_active", False):
        return None, False
    return user, renew


def clear_all() -> None:
    """Forget every entry of this process (tests)."""
    for cache in (tenant_by_host, user_by_id, token_by_raw):
        cache.clear()


def _clear_tenants(**_kwargs) -> None:
    tenant_by_host.clear()


def forget_users() -> None:
    """Forget this process's cached users (a role or token version changed)."""
    user_by_id.clear()


def _clear_users(**_kwargs) -> None:
    forget_users()


def connect_signals(*, user_models=()) -> None:
    """Clear the caches when a tenant, domain or user changes; `user_models` are further models
    whose rows are part of a cached user (the members app's roles, given by TenantsConfig.ready())."""
    from .models import Domain, Tenant

    for model in (Tenant, Domain):
        post_save.connect(_clear_tenants, sender=model, dispatch_uid=f"tenant-cache-{model.__name__}-save")
        post_delete.connect(_clear_tenants, sender=model, dispatch_uid=f"tenant-cache-{model.__name__}-delete")
    user_model = get_user_model()
    post_save.connect(_clear_users, sender=user_model, dispatch_uid="user-cache-save")
    post_delete.connect(_clear_users, sender=user_model, dispatch_uid="user-cache-delete")
    for model in user_models:
        name = model._meta.model_name
        post_save.connect(_clear_users, sender=model, dispatch_uid=f"user-cache-{name}-save")
        post_delete.connect(_clear_users, sender=model, dispatch_uid=f"user-cache-{name}-delete")
    # Tenants going away take their users with them.
    post_delete.connect(_clear_users, sender=Tenant, dispatch_uid="user-cache-tenant-delete")
