"""Where a filesource connection may read and where uploads go.

A configured folder must resolve (symlinks followed) inside one of FILESOURCE_ALLOWED_ROOTS; under the
data dir's `tenants/` tree only the current tenant's own subtree is allowed, so one tenant can never
point a connection at another tenant's uploads. It must also be a path the file system can name: a
folder name over NAME_MAX or a path over PATH_MAX was accepted on save before, and every later read
(the schema page, sync) failed with ENAMETOOLONG.
"""

from __future__ import annotations

import os
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


def _limit(path: Path, name: str, default: int) -> int:
    """os.pathconf's `name` for the deepest folder of `path` that exists (`default` when unknown)."""
    for folder in (path, *path.parents):
        if os.path.isdir(folder):  # False (never an error) for a name that is too long
            try:
                return os.pathconf(folder, name)
            except (OSError, ValueError):
                return default
    return default


def path_limits(path: Path) -> tuple[int, int]:
    """(longest path, longest name), in bytes, that the file system holding `path` accepts."""
    return _limit(path, "PC_PATH_MAX", 4096), _limit(path, "PC_NAME_MAX", 255)


def check_length(path: Path) -> None:
    """Raise PathRefused when `path` or one of its names is longer than the file system allows."""
    path_max, name_max = path_limits(path)
    size = len(os.fsencode(path))
    if size >= path_max:  # PATH_MAX counts the terminating NUL
        raise PathRefused(f"the path is {size} bytes long; the longest the file system allows is {path_max - 1}")
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise PathRefused(
                f"the name {part[:40]!r}… is {size} bytes long; the longest the file system allows is {name_max}"
            )


def ensure_allowed(path: Path, *, tenant_id: str | None = None) -> Path:
    """`path` resolved, if it lies inside an allowed root (and not in another tenant's tree) and the
    file system can name it."""
    check_length(path)
    try:
        resolved = path.expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise PathRefused(f"cannot resolve path: {exc}") from None
    if resolved != path:
        check_length(resolved)  # a symlink may lead to a longer path
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
