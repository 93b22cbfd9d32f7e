"""Stage 3, materialize → publish to PostgreSQL: rebuild the unified views in DuckDB and swap them
into `dcl_view_<entity>` (dcl/unify.py, dcl/pgsync.py)."""

from __future__ import annotations

from ..services import views_materialize


def materialize(*, tenant) -> dict[str, int]:
    """{entity: rows} of every view rebuilt."""
    return {str(k): int(v or 0) for k, v in (views_materialize(tenant=tenant) or {}).items()}
