"""mongodb settings: the database, its collections and the incremental field."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ..base import Secrets, Strict, check_names


class MongoConfig(Strict):
    database: str = Field(min_length=1, max_length=63)
    collections: list[str] | None = None
    updated_at_field: str | None = Field(
        default="updated_at", description="incremental field; None = by _id (insert-only collections)"
    )
    cursor_fields: dict[str, str] = Field(default_factory=dict, description="collection → incremental field")
    sample_size: int = Field(default=200, ge=1, le=10000)
    # seconds between two comparisons of the keys for deletes (ADR 0019, 0022); none: DCL_DELETES_CHECK_SECONDS
    deletes_check_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)

    @field_validator("collections")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        return check_names(value)


class MongoSecrets(Secrets):
    uri: str = Field(min_length=10)

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mongodb", "mongodb+srv"):
            raise ValueError("must be a mongodb:// or mongodb+srv:// URI")
        return value
