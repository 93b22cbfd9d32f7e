"""filesource settings: a folder on the server and/or uploaded files, and how to read them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..base import Secrets, Strict


class FileSourceConfig(Strict):
    """CSV files in `folder` (inside FILESOURCE_ALLOWED_ROOTS) and/or uploaded to the connection."""

    folder: str | None = None
    files: list[str] | None = Field(default=None, description="file names to include (default: every *.csv)")
    source_system: str | None = Field(
        default=None, pattern=r"^[a-z0-9_]{1,40}$", description="vendor hint for routing and mapping, e.g. salesforce"
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = None
    encoding: Literal["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"] | None = None
    primary_keys: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "object name → the key column(s) a person set, or [\"#line\"] for the row's number in the file "
            "(docs/adr/0024-files-as-snapshots.md)"
        ),
    )
    chosen_keys: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "object name → the key the platform chose when it first saw the file (the id column, the fewest "
            "columns unique over the file, [\"#line\"], or [\"#content\"] for objects read before keys were "
            "chosen); kept so that it never changes by itself"
        ),
    )
    exports: Literal["append", "full"] = Field(
        default="full",
        description=(
            "full (the default): each file is a full export of its object, a snapshot: a record missing from "
            "a new version of the file is deleted; append: files only ever add or update records, nothing "
            "is deleted"
        ),
    )

    @field_validator("primary_keys", "chosen_keys", mode="before")
    @classmethod
    def _key_lists(cls, value):
        """A key is a list of columns; it may be given as text, its columns separated by commas (as the
        form's `object: column, column` lines and configs stored before give it; a key column's name
        never holds a comma)."""
        if isinstance(value, dict):
            return {k: [p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else v
                    for k, v in value.items()}
        return value

    @field_validator("primary_keys", "chosen_keys")
    @classmethod
    def _key_columns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from .keys import CONTENT, LINE, MAX_KEY_COLUMNS, usable_column

        for name, columns in value.items():
            if columns in ([LINE], [CONTENT]):
                continue
            if not columns or len(columns) > MAX_KEY_COLUMNS:
                raise ValueError(f"the key of {name!r} must name 1 to {MAX_KEY_COLUMNS} columns")
            if len(set(columns)) != len(columns):
                raise ValueError(f"the key of {name!r} names a column twice")
            bad = [c for c in columns if not usable_column(c)]
            if bad:
                raise ValueError(f"the key of {name!r} cannot use the column {bad[0]!r} (a key column's name "
                                 "has no comma and is not #line or #content)")
        return value

    @field_validator("folder")
    @classmethod
    def _folder_inside_roots(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        from .paths import resolve_folder

        return str(resolve_folder(value))

    @field_validator("files")
    @classmethod
    def _plain_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
                raise ValueError(f"{name!r} must be a file name, not a path")
        return value


class FileSourceSecrets(Secrets):
    pass
