"""Signals of the tenants app's models, in a module of their own: `tenants.models` sends them and
knows nothing of who listens (offboarding connects from TenantsConfig.ready()), so the models stay
the bottom of the app and `tenants.offboarding` may import them without a circle."""

from django.dispatch import Signal

# Sent by Tenant.pre_drop, just before django-tenants drops the tenant's schema (argument `tenant`).
# Receivers run in order and their errors propagate: `Signal.send`, not `send_robust`.
schema_pre_drop = Signal()
