"""Per-kind configuration and secrets, validated by pydantic.

`config` is everything that is safe to show (hosts, object lists, options); `secrets` holds what is
not (passwords, tokens, client secrets) and is never rendered. A bad config is a 400 with the
field-level errors (`validate_settings` raises Django's ValidationError keyed `config.<field>`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from . import conf

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class _Secrets(_Strict):
    """Secrets: their repr and str show which are set, never the values (they end up in logs)."""

    def __repr_args__(self):
        return [(name, "***") for name in sorted(self.model_fields_set) if getattr(self, name) is not None]


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.scheme == "http" and not conf.allow_private_network():
        raise ValueError("must use https")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials (put them in secrets)")
    return value.rstrip("/")


def _check_names(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    for value in values:
        if not _OBJECT_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid object name")
    if len(set(values)) != len(values):
        raise ValueError("names must be unique")
    return values


# --- filesource ---------------------------------------------------------------------------------


class FileSourceConfig(_Strict):
    """CSV files in `folder` (inside FILESOURCE_ALLOWED_ROOTS) and/or uploaded to the connection."""

    folder: str | None = None
    files: list[str] | None = Field(default=None, description="file names to include (default: every *.csv)")
    source_system: str | None = Field(
        default=None, pattern=r"^[a-z0-9_]{1,40}$", description="vendor hint for routing and mapping, e.g. salesforce"
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = None
    encoding: Literal["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"] | None = None
    primary_keys: dict[str, str] = Field(default_factory=dict, description="object name → primary key column")

    @field_validator("folder")
    @classmethod
    def _folder_inside_roots(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        from .drivers.filesource.paths import resolve_folder

        return str(resolve_folder(value))

    @field_validator("files")
    @classmethod
    def _plain_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
                raise ValueError(f"{name!r} must be a file name, not a path")
        return value


class FileSourceSecrets(_Secrets):
    pass


# --- postgres / supabase -----------------------------------------------------------------------


class PostgresConfig(_Strict):
    host: str | None = Field(default=None, max_length=255)
    port: int = Field(default=5432, ge=1, le=65535)
    database: str | None = Field(default=None, max_length=63)
    user: str | None = Field(default=None, max_length=63)
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    schema_name: str = Field(default="public", alias="schema", max_length=63)
    tables: list[str] | None = None
    updated_at_column: str = "updated_at"
    cursor_columns: dict[str, str] = Field(default_factory=dict, description="table → updated-at column")
    connect_timeout: int = Field(default=10, ge=1, le=120)

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, populate_by_name=True)

    @field_validator("schema_name", "updated_at_column")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("must be a plain SQL identifier")
        return value

    @field_validator("tables")
    @classmethod
    def _idents(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _IDENT.match(name):
                raise ValueError(f"{name!r} is not a plain SQL identifier")
        return value

    @field_validator("cursor_columns")
    @classmethod
    def _ident_map(cls, value: dict[str, str]) -> dict[str, str]:
        for table, column in value.items():
            if not _IDENT.match(table) or not _IDENT.match(column):
                raise ValueError(f"{table!r} → {column!r}: plain SQL identifiers only")
        return value


class SupabaseConfig(PostgresConfig):
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"


class PostgresSecrets(_Secrets):
    password: str | None = None
    dsn: str | None = Field(default=None, description="a full connection URI (overrides host, port, …)")

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URI")
        return value


# --- mongodb -------------------------------------------------------------------------------------


class MongoConfig(_Strict):
    database: str = Field(min_length=1, max_length=63)
    collections: list[str] | None = None
    updated_at_field: str | None = Field(
        default="updated_at", description="incremental field; None = by _id (insert-only collections)"
    )
    cursor_fields: dict[str, str] = Field(default_factory=dict, description="collection → incremental field")
    sample_size: int = Field(default=200, ge=1, le=10000)

    @field_validator("collections")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        return _check_names(value)


class MongoSecrets(_Secrets):
    uri: str = Field(min_length=10)

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mongodb", "mongodb+srv"):
            raise ValueError("must be a mongodb:// or mongodb+srv:// URI")
        return value


# --- salesforce ----------------------------------------------------------------------------------


class SalesforceConfig(_Strict):
    login_url: str = "https://login.salesforce.com"
    instance_url: str | None = None
    client_id: str = Field(min_length=1)
    auth_flow: Literal["client_credentials", "refresh_token", "password"] = "client_credentials"
    username: str | None = None
    api_version: str = Field(default="v60.0", pattern=r"^v\d{2,3}\.0$")
    objects: list[str] = Field(default_factory=lambda: ["Account", "Contact", "Opportunity"], min_length=1)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("objects")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _check_names(value)

    @model_validator(mode="after")
    def _username_for_password_flow(self):
        if self.auth_flow == "password" and not self.username:
            raise ValueError("username is required for the password flow")
        return self


class SalesforceSecrets(_Secrets):
    client_secret: str = Field(min_length=1)
    refresh_token: str | None = None
    password: str | None = None


# --- hubspot -------------------------------------------------------------------------------------


class HubSpotConfig(_Strict):
    base_url: str = "https://api.hubapi.com"
    objects: list[str] = Field(default_factory=lambda: ["companies", "contacts", "deals"], min_length=1)

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("objects")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _check_names(value)


class HubSpotSecrets(_Secrets):
    access_token: str = Field(min_length=1)


# --- dynamics ------------------------------------------------------------------------------------


class DynamicsConfig(_Strict):
    instance_url: str
    tenant_id: str = Field(min_length=1, max_length=100, description="the Microsoft Entra (Azure AD) tenant")
    client_id: str = Field(min_length=1)
    token_url: str | None = None
    api_version: str = Field(default="v9.2", pattern=r"^v\d\.\d$")
    entities: list[str] = Field(default_factory=lambda: ["account", "contact", "opportunity"], min_length=1)

    @field_validator("instance_url", "token_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("entities")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _check_names(value)

    @property
    def effective_token_url(self) -> str:
        return self.token_url or f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/v2.0/token"


class DynamicsSecrets(_Secrets):
    client_secret: str = Field(min_length=1)


MODELS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "filesource": (FileSourceConfig, FileSourceSecrets),
    "postgres": (PostgresConfig, PostgresSecrets),
    "supabase": (SupabaseConfig, PostgresSecrets),
    "mongodb": (MongoConfig, MongoSecrets),
    "salesforce": (SalesforceConfig, SalesforceSecrets),
    "hubspot": (HubSpotConfig, HubSpotSecrets),
    "dynamics": (DynamicsConfig, DynamicsSecrets),
}


def _errors_of(exc: PydanticValidationError) -> dict[str, list[str]]:
    """Field → messages. Never includes the rejected input (it may be a secret)."""
    out: dict[str, list[str]] = {}
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "__all__"
        msg = err["msg"].removeprefix("Value error, ")
        out.setdefault(loc, []).append(msg)
    return out


def parse_config(kind: str, config: dict[str, Any] | None) -> BaseModel:
    """The validated config model of `kind`; raises ValidationError keyed `config`."""
    if kind not in MODELS:
        raise ValidationError({"kind": [f"unknown connection kind {kind!r}"]})
    if config is not None and not isinstance(config, dict):
        raise ValidationError({"config": ["must be a JSON object"]})
    try:
        return MODELS[kind][0].model_validate(config or {})
    except PydanticValidationError as exc:
        raise ValidationError({"config": [_flat(_errors_of(exc))]}) from None


def parse_secrets(kind: str, secrets: dict[str, Any] | None) -> BaseModel:
    if kind not in MODELS:
        raise ValidationError({"kind": [f"unknown connection kind {kind!r}"]})
    if secrets is not None and not isinstance(secrets, dict):
        raise ValidationError({"secrets": ["must be a JSON object"]})
    try:
        return MODELS[kind][1].model_validate(secrets or {})
    except PydanticValidationError as exc:
        raise ValidationError({"secrets": [_flat(_errors_of(exc))]}) from None


def _flat(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in errors.items())


def validate_settings(kind: str, config: dict[str, Any] | None, secrets: dict[str, Any] | None) -> dict[str, Any]:
    """Validate config and secrets together; returns the normalized config dict to store.

    Raises Django's ValidationError with `config.<field>` / `secrets.<field>` keys, so the API
    answers 400 with every field's problem at once.
    """
    errors: dict[str, list[str]] = {}
    cfg = sec = None
    if kind not in MODELS:
        raise ValidationError({"kind": [f"unknown connection kind {kind!r}"]})
    config_model, secrets_model = MODELS[kind]
    if config is not None and not isinstance(config, dict):
        errors["config"] = ["must be a JSON object"]
    else:
        try:
            cfg = config_model.model_validate(config or {})
        except PydanticValidationError as exc:
            errors.update({f"config.{k}": v for k, v in _errors_of(exc).items()})
    if secrets is not None and not isinstance(secrets, dict):
        errors["secrets"] = ["must be a JSON object"]
    else:
        try:
            sec = secrets_model.model_validate(secrets or {})
        except PydanticValidationError as exc:
            errors.update({f"secrets.{k}": v for k, v in _errors_of(exc).items()})
    if cfg is not None and sec is not None and kind in ("postgres", "supabase"):
        if not sec.dsn and not (cfg.host and cfg.database):
            errors["config.host"] = ["host and database are required unless secrets.dsn is given"]
    if cfg is not None and sec is not None and kind == "salesforce":
        if cfg.auth_flow == "refresh_token" and not sec.refresh_token:
            errors["secrets.refresh_token"] = ["required for the refresh_token flow"]
        if cfg.auth_flow == "password" and not sec.password:
            errors["secrets.password"] = ["required for the password flow"]
    if errors:
        raise ValidationError(errors)
    return cfg.model_dump(mode="json", by_alias=True, exclude_none=True)


def folder_path(config: FileSourceConfig) -> Path | None:
    return Path(config.folder) if config.folder else None
