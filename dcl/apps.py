from django.apps import AppConfig


class DclConfig(AppConfig):
    name = "dcl"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connectors.panels import ConnectionPanel, register_connection_panel
        from tenants.offboarding import ModelRows, SqlRelations, register_blocker, register_export

        # A tenant's export (tenants/offboarding) carries its unified views (dcl.pgsync) as CSV.
        register_export(SqlRelations("views", prefix="dcl_view_"))
        # ... and the history of its unified entities (dcl/history/, docs/adr/0020-history.md)
        register_export(SqlRelations("history", prefix="dcl_history_"))
        # ... and entity resolution's review items, decisions (must-link / cannot-link) and id redirects
        register_export(ModelRows("dcl/match_reviews", "dcl.MatchReview"))
        register_export(ModelRows("dcl/match_decisions", "dcl.MatchDecision"))
        register_export(ModelRows("dcl/unified_id_redirects", "dcl.UnifiedIdRedirect"))
        register_blocker("dcl", writer_busy)
        # The connection page lists its runs, with their counts, errors, log and a retry (dcl/schedules/).
        register_connection_panel(ConnectionPanel("dcl.runs", "dcl/_connection_runs.html", runs_panel))
        # The connection page shows its stream's statistics to admins (connectors may not import dcl).
        register_connection_panel(ConnectionPanel("dcl.stream", "dcl/_connection_stream.html", stream_panel))
        # Its schedule and freshness (dcl/schedules/).
        register_connection_panel(ConnectionPanel("dcl.schedule", "dcl/_connection_schedule.html", schedule_panel))
        # Every page's and API's state of a connection (connectors/health.py) from the facts the DCL
        # sees: its runs, review items, quarantine, running and queued syncs.
        from connectors.health import register_health_facts

        from .health import health_facts

        register_health_facts(health_facts)
        # A connection's schedule goes with it, in the same transaction (connectors may not import dcl).
        from django.db.models.signals import post_delete

        from connectors.models import Connection

        post_delete.connect(connection_deleted, sender=Connection, dispatch_uid="dcl-schedule-connection-deleted")
        # A connection deleted with its data: its records leave the views (a task: it waits for the writer).
        from connectors.services import register_connection_data_remover

        register_connection_data_remover(connection_records_remove_request)
        # A person's value decision (aam.values.review) updates the view rows carrying that value.
        from aam.values.review import register_value_applier

        from .values_apply import value_maps_apply

        register_value_applier(value_maps_apply)


def connection_records_remove_request(connection_id: int) -> None:
    from .models import RemovedConnection
    from .tasks import connection_records_remove_task

    RemovedConnection.objects.filter(connection_id=connection_id).update(data_removed=True)
    connection_records_remove_task.delay(connection_id)


def schedule_panel(connection) -> dict:
    from .schedules.selectors import connection_freshness

    return {"freshness": connection_freshness(connection=connection), "timezone_default": "UTC"}


def runs_panel(connection) -> dict:
    from .schedules.selectors import connection_runs, run_view

    return {"runs": [run_view(r) for r in connection_runs(connection=connection)]}


def connection_deleted(sender, instance, **kwargs) -> None:
    from autonomos.core.tenancy import current_tenant

    from .schedules.services import connection_schedule_forget

    tenant = current_tenant()
    if getattr(tenant, "tenant_id", None) is None:  # schema_context() sets a stand-in without the id
        from tenants.models import Tenant

        tenant = Tenant.objects.get(schema_name=tenant.schema_name)
    connection_schedule_forget(tenant=tenant, connection_id=instance.pk)
    from .models import RemovedConnection

    # its records keep their lineage (name and kind) in the views, whether they stay or are leaving
    RemovedConnection.objects.update_or_create(connection_id=instance.pk,
                                               defaults={"name": instance.name[:200], "kind": instance.kind[:40]})


def stream_panel(connection) -> dict:
    from .selectors import connection_stream_stats

    return {"stats": connection_stream_stats(connection=connection)}


def writer_busy(tenant) -> list[str]:
    """Whether a process writes the tenant's DuckDB file now (it holds the writer flock, dcl.store)."""
    import fcntl
    import os

    from .store import tenant_dir

    try:
        fd = os.open(tenant_dir(tenant) / "writer.lock", os.O_RDWR)
    except FileNotFoundError:
        return []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return ["the DuckDB writer is busy (a stream consume or a materialization is running)"]
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return []
