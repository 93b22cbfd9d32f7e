from django.apps import AppConfig


class AamConfig(AppConfig):
    name = "aam"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.offboarding import ModelRows, register_blocker, register_export

        # A tenant's export (tenants/offboarding): its mappings, and its reviews with their decisions
        # and the drift events behind them (the decisions are the audit trail, gone with the schema).
        register_export(ModelRows("aam/field_mappings", "aam.FieldMapping"))
        register_export(ModelRows("aam/review_items", "aam.ReviewItem"))
        register_export(ModelRows("aam/review_decisions", "aam.ReviewDecision"))
        register_export(ModelRows("aam/drift_events", "aam.DriftEvent"))
        register_blocker("aam", locks_held)
        # A new connection's first sync starts by itself (connectors may not import aam).
        from connectors.sync_start import register_sync_starter

        from .sync_request import connection_sync_start

        register_sync_starter(connection_sync_start)


def locks_held(tenant) -> list[str]:
    """The tenant's syncs and drift checks running now (their Redis locks are held)."""
    from autonomos.core import redis_names
    from autonomos.core.redis import get_redis

    from .sync_lock import syncs_running

    r = get_redis()
    running = [f"a sync of connection {cid} is running" for cid in syncs_running(tenant)]
    if r.exists(redis_names.drift_lock(tenant)):
        running.append("a drift check is running")
    return running
