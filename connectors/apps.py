from django.apps import AppConfig

# What a tenant export carries of a connection (tenants/offboarding): listed, so a secret field added
# later is not exported by default. `secret_names` says which secrets were set, never their values.
EXPORTED_CONNECTION_FIELDS = (
    "id", "name", "kind", "config", "secret_names", "status", "last_error", "drift_policy", "domain",
    "last_synced_at", "created_at", "updated_at",
)


class ConnectorsConfig(AppConfig):
    name = "connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.offboarding import ModelRows, register_export

        from . import checks  # noqa: F401 - registers the system checks

        register_export(ModelRows("connectors/connections", "connectors.Connection", fields=EXPORTED_CONNECTION_FIELDS))
