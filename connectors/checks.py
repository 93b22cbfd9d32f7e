"""System checks of the connector settings (run by `manage.py check` and at start-up)."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security)
def secrets_keys_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A malformed CONNECTION_SECRETS_KEYS entry is an error at start-up, not at the first sync."""
    from .secretbox import validate_keys

    try:
        validate_keys()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="connectors.E001")]
    return []
