"""The connector kinds: their specs, their settings' validation and their drivers.

Each kind is a folder `connectors/kinds/<name>/` whose package exposes `KIND` (a
`connectors.kinds.base.KindSpec`); `KINDS` below names the folders, one line each, in the order
pages and `Connection.Kind` list them. A kind's package is imported the first time it is asked
for; its driver (and the driver's client library) only when a driver is built.
Recipe: docs/connectors.md.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticValidationError

from .base import Driver
from .errors import PermanentError
from .kinds.base import KindSpec, errors_of, flat

KINDS: tuple[str, ...] = (
    "filesource",
    "postgres",
    "supabase",
    "mongodb",
    "salesforce",
    "hubspot",
    "dynamics",
)


class ImproperlyConfiguredKind(Exception):
    """A kind folder whose spec does not match its registry entry."""


@cache
def kind_spec(kind: str) -> KindSpec:
    """The spec of `kind`; KeyError when no such kind is registered."""
    if kind not in KINDS:
        raise KeyError(kind)
    spec = importlib.import_module(f"{__package__}.kinds.{kind}").KIND
    if spec.name != kind:
        raise ImproperlyConfiguredKind(f"connectors/kinds/{kind}/ declares KIND.name {spec.name!r}")
    return spec


def kind_specs() -> list[KindSpec]:
    """Every registered kind's spec, in registry order."""
    return [kind_spec(name) for name in KINDS]


def find_kind(kind: str) -> KindSpec | None:
    """The spec of `kind`, or None when it is not a registered kind."""
    return kind_spec(kind) if kind in KINDS else None


def kind_choices() -> list[tuple[str, tuple[str, str]]]:
    """(member name, (value, label)) per kind: what Connection.Kind is built from."""
    return [(spec.name.upper(), (spec.name, spec.label)) for spec in kind_specs()]


def kind_label(kind: str, config: dict[str, Any] | None = None) -> str:
    """How a connection of `kind` with `config` is labelled for people: what the kind's `describe`
    makes of the config ("CSV · Salesforce export"), else the kind's label ("CSV files"); an unknown
    kind (a row from a removed kind folder) reads as its name."""
    spec = find_kind(kind)
    if spec is None:
        return kind
    described = spec.describe(config or {}) if spec.describe is not None else None
    return described or spec.label


# --- settings -----------------------------------------------------------------------------------


def _spec_or_invalid(kind: str) -> KindSpec:
    spec = find_kind(kind)
    if spec is None:
        raise ValidationError({"kind": [f"unknown connection kind {kind!r}"]})
    return spec


def parse_config(kind: str, config: dict[str, Any] | None):
    """The validated config model of `kind`; raises ValidationError keyed `config`."""
    spec = _spec_or_invalid(kind)
    if config is not None and not isinstance(config, dict):
        raise ValidationError({"config": ["must be a JSON object"]})
    try:
        return spec.config_model.model_validate(config or {})
    except PydanticValidationError as exc:
        raise ValidationError({"config": [flat(errors_of(exc))]}) from None


def parse_secrets(kind: str, secrets: dict[str, Any] | None):
    spec = _spec_or_invalid(kind)
    if secrets is not None and not isinstance(secrets, dict):
        raise ValidationError({"secrets": ["must be a JSON object"]})
    try:
        return spec.secrets_model.model_validate(secrets or {})
    except PydanticValidationError as exc:
        raise ValidationError({"secrets": [flat(errors_of(exc))]}) from None


def validate_settings(kind: str, config: dict[str, Any] | None, secrets: dict[str, Any] | None) -> dict[str, Any]:
    """Validate config and secrets together; returns the normalized config dict to store.

    Raises Django's ValidationError with `config.<field>` / `secrets.<field>` keys, so the API
    answers 400 with every field's problem at once.
    """
    errors: dict[str, list[str]] = {}
    cfg = sec = None
    spec = _spec_or_invalid(kind)
    if config is not None and not isinstance(config, dict):
        errors["config"] = ["must be a JSON object"]
    else:
        try:
            cfg = spec.config_model.model_validate(config or {})
        except PydanticValidationError as exc:
            errors.update({f"config.{k}": v for k, v in errors_of(exc).items()})
    if secrets is not None and not isinstance(secrets, dict):
        errors["secrets"] = ["must be a JSON object"]
    else:
        try:
            sec = spec.secrets_model.model_validate(secrets or {})
        except PydanticValidationError as exc:
            errors.update({f"secrets.{k}": v for k, v in errors_of(exc).items()})
    if cfg is not None and sec is not None and spec.check_settings is not None:
        errors.update(spec.check_settings(cfg, sec))
    if errors:
        raise ValidationError(errors)
    return cfg.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- drivers ------------------------------------------------------------------------------------


def driver_class(kind: str) -> type[Driver]:
    spec = find_kind(kind)
    if spec is None:
        raise PermanentError(f"no driver for kind {kind!r}")
    return spec.driver_class()


def build_driver(
    kind: str, config: dict[str, Any], secrets: dict[str, Any] | None = None, *, connection=None, **options: Any
) -> Driver:
    """A driver from raw config and secrets (validated again here: the rules may have changed)."""
    spec = find_kind(kind)
    if spec is None:
        raise PermanentError(f"no driver for kind {kind!r}")
    try:
        cfg = spec.config_model.model_validate(config or {})
        sec = spec.secrets_model.model_validate(secrets or {})
    except PydanticValidationError as exc:
        raise PermanentError(f"the connection's settings are not valid: {flat(errors_of(exc))}") from None
    except ValidationError as exc:
        raise PermanentError(f"the connection's settings are not valid: {exc.messages}") from None
    return spec.driver_class()(config=cfg, secrets=sec, connection=connection, **options)


def driver_for(connection, **options: Any) -> Driver:
    """The driver of a saved Connection. Options (e.g. `client_factory` for mongodb) go to the driver.

    Raises SecretsUnreadable (a PermanentError) when the stored secrets cannot be decrypted."""
    return build_driver(connection.kind, connection.config, connection.get_secrets(), connection=connection, **options)
