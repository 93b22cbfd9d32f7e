"""Where a filesource connection may read and where uploads go.

A configured folder must resolve (symlinks followed) inside one of FILESOURCE_ALLOWED_ROOTS; under the
data dir's `tenants/` tree only the current tenant's own subtree is allowed, so one tenant can never
point a connection at another tenant's uploads.
"""

from __future__ import annotations

from pathlib import Path

from django.db import connection as db_connection

from ... import conf


class PathRefused(ValueError):
    """A path outside the allowed roots (or into another tenant's data)."""


def _current_tenant_id() -> str | None:
    tenant = getattr(db_connection, "tenant", None)
    if tenant is None or getattr(tenant, "schema_name", "public") == "public":
        return None
    return str(tenant.tenant_id)


def ensure_allowed(path: Path, *, tenant_id: str | None = None) -> Path:
    """`path` resolved, if it lies inside an allowed root (and not in another tenant's tree)."""
    try:
        resolved = path.expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise PathRefused(f"cannot resolve path: {exc}") from None
    roots = conf.filesource_allowed_roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise PathRefused("path is outside the allowed folders (FILESOURCE_ALLOWED_ROOTS)")
    tenants_dir = conf.tenants_data_dir()
    if resolved.is_relative_to(tenants_dir):
        tid = tenant_id or _current_tenant_id()
        if tid is None or not resolved.is_relative_to(tenants_dir / tid):
            raise PathRefused("path is inside another tenant's data")
    return resolved


def resolve_folder(value: str) -> Path:
    """Validate a configured folder (pydantic validator): absolute, no NUL, inside the allowed roots."""
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    path = Path(value)
    if not path.is_absolute():
        raise ValueError("must be an absolute path")
    try:
        return ensure_allowed(path)
    except PathRefused as exc:
        raise ValueError(str(exc)) from None


def uploads_dir(tenant_id: str, connection_id: int) -> Path:
    """`DATA_DIR/tenants/<tenant_id>/uploads/<connection_id>/` (not created here)."""
    return conf.tenants_data_dir() / str(tenant_id) / "uploads" / str(int(connection_id))
