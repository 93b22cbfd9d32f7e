"""postgres settings (supabase reuses them with TLS required by default)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator

from ..base import Secrets, Strict

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class PostgresConfig(Strict):
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
    # seconds between two comparisons of the keys for deletes (ADR 0019, 0022); none: DCL_DELETES_CHECK_SECONDS
    deletes_check_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)

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


class PostgresSecrets(Secrets):
    password: str | None = None
    dsn: str | None = Field(default=None, description="a full connection URI (overrides host, port, …)")

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URI")
        return value


def check_settings(config: PostgresConfig, secrets: PostgresSecrets) -> dict[str, Any]:
    if not secrets.dsn and not (config.host and config.database):
        return {"config.host": ["host and database are required unless secrets.dsn is given"]}
    return {}
