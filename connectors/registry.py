"""Kind → driver class, imported lazily (a kind's client library loads only when it is used)."""

from __future__ import annotations

import importlib
from typing import Any

from django.core.exceptions import ValidationError

from .base import Driver
from .config import MODELS, _errors_of, _flat
from .errors import PermanentError

DRIVERS: dict[str, str] = {
    "filesource": "connectors.drivers.filesource:FileSourceDriver",
    "postgres": "connectors.drivers.postgres:PostgresDriver",
    "supabase": "connectors.drivers.postgres:PostgresDriver",
    "mongodb": "connectors.drivers.mongodb:MongoDriver",
    "salesforce": "connectors.drivers.salesforce:SalesforceDriver",
    "hubspot": "connectors.drivers.hubspot:HubSpotDriver",
    "dynamics": "connectors.drivers.dynamics:DynamicsDriver",
}


def driver_class(kind: str) -> type[Driver]:
    try:
        module_name, _, class_name = DRIVERS[kind].partition(":")
    except KeyError:
        raise PermanentError(f"no driver for kind {kind!r}") from None
    return getattr(importlib.import_module(module_name), class_name)


def build_driver(
    kind: str, config: dict[str, Any], secrets: dict[str, Any] | None = None, *, connection=None, **options: Any
) -> Driver:
    """A driver from raw config and secrets (validated again here: the rules may have changed)."""
    from pydantic import ValidationError as PydanticValidationError

    if kind not in MODELS:
        raise PermanentError(f"no driver for kind {kind!r}")
    config_model, secrets_model = MODELS[kind]
    try:
        cfg = config_model.model_validate(config or {})
        sec = secrets_model.model_validate(secrets or {})
    except PydanticValidationError as exc:
        raise PermanentError(f"the connection's settings are not valid: {_flat(_errors_of(exc))}") from None
    except ValidationError as exc:
        raise PermanentError(f"the connection's settings are not valid: {exc.messages}") from None
    return driver_class(kind)(config=cfg, secrets=sec, connection=connection, **options)


def driver_for(connection, **options: Any) -> Driver:
    """The driver of a saved Connection. Options (e.g. `client_factory` for mongodb) go to the driver.

    Raises SecretsUnreadable (a PermanentError) when the stored secrets cannot be decrypted."""
    return build_driver(connection.kind, connection.config, connection.get_secrets(), connection=connection, **options)
