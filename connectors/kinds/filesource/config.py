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
    primary_keys: dict[str, str] = Field(default_factory=dict, description="object name → primary key column")
    exports: Literal["append", "full"] = Field(
        default="append",
        description=(
            "append: files only ever add or update records, nothing is deleted; full: each file is a full "
            "export of its object, so a record missing from a new version of the file is deleted"
        ),
    )

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
