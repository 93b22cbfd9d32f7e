"""Connector settings, read at call time so tests (and operators) can change them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def http_timeout() -> float:
    return float(getattr(settings, "CONNECTORS_HTTP_TIMEOUT", 30.0))


def http_max_retries() -> int:
    return int(getattr(settings, "CONNECTORS_HTTP_MAX_RETRIES", 4))


def http_backoff_base() -> float:
    return float(getattr(settings, "CONNECTORS_HTTP_BACKOFF_BASE", 0.5))


def http_max_wait() -> float:
    return float(getattr(settings, "CONNECTORS_HTTP_MAX_WAIT", 60.0))


def allow_private_network() -> bool:
    return bool(getattr(settings, "CONNECTORS_ALLOW_PRIVATE_NETWORK", False))


def filesource_allowed_roots() -> list[Path]:
    """Folders a filesource connection may read; empty setting = the data dir and the repo's demo dir."""
    roots = list(getattr(settings, "FILESOURCE_ALLOWED_ROOTS", None) or [])
    if not roots:
        roots = [settings.DATA_DIR, Path(settings.BASE_DIR) / "demo"]
    return [Path(r).expanduser().resolve() for r in roots]


def filesource_max_upload_bytes() -> int:
    return int(getattr(settings, "FILESOURCE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))


def filesource_max_files() -> int:
    return int(getattr(settings, "FILESOURCE_MAX_FILES", 200))


def filesource_max_field_bytes() -> int:
    return int(getattr(settings, "FILESOURCE_MAX_FIELD_BYTES", 16 * 1024 * 1024))


def filesource_max_columns() -> int:
    return int(getattr(settings, "FILESOURCE_MAX_COLUMNS", 2000))


def tenants_data_dir() -> Path:
    return Path(settings.DATA_DIR).resolve() / "tenants"
