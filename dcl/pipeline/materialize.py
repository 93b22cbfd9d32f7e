"""Stage 4, materialize → publish to PostgreSQL: rebuild the unified views in DuckDB and swap them
into `dcl_view_<entity>` (dcl/unify.py, dcl/pgsync.py).

`materialize_with_values` is how anything outside a `SyncRun` materializes (the `materialize` and
`dcl_consume` commands, test seeds): it drains the streams, runs the value stage and then builds, so
every way of building a view gets canonical values, not only a run's. Building without the value
stage (`materialize`) leaves the values it never saw pending: it is for a caller that just ran it
(a SyncRun) or that only changes what the views derive from decided values (the reporting
currency)."""

from __future__ import annotations

from ..services import views_materialize
from .consume import drain
from .values import values_map


def materialize(*, tenant, entities: list[str] | None = None, on_drained=None, full: bool = False,
                report: dict | None = None) -> dict[str, int]:
    """{entity: rows} of every view brought up to date (without running the value stage): only what
    changed, or whole with `full` (docs/adr/0022-incremental-views.md); `report` gets each view's plan."""
    views = views_materialize(tenant=tenant, entities=entities, on_drained=on_drained, full=full, report=report)
    return {str(k): int(v or 0) for k, v in (views or {}).items()}


def materialize_with_values(*, tenant, entities: list[str] | None = None, connection_ids=None,
                            on_drained=None, full: bool = False) -> tuple[dict[str, int], dict]:
    """Drain the streams, map the values they brought (of `connection_ids`, all when None), then
    rebuild the views: ({entity: rows}, the value stage's report)."""
    drained = drain(tenant=tenant)
    if on_drained is not None:
        on_drained(drained)
    report = values_map(tenant=tenant, connection_ids=connection_ids)
    return materialize(tenant=tenant, entities=entities, on_drained=on_drained, full=full), report
