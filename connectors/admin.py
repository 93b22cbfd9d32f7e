"""Admin for connections: secrets are never shown, only which ones are set."""

from django.contrib import admin

from .models import Connection
from .selectors import secrets_set
from .services import connection_update


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "status", "domain", "drift_policy", "last_synced_at")
    list_filter = ("kind", "status", "domain", "drift_policy")
    search_fields = ("name",)
    fields = (
        "name",
        "kind",
        "domain",
        "drift_policy",
        "status",
        "last_error",
        "config",
        "configured_secrets",
        "cursor",
        "last_synced_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "kind",
        "status",
        "last_error",
        "config",
        "configured_secrets",
        "cursor",
        "last_synced_at",
        "created_at",
        "updated_at",
    )
    exclude = ("secrets_ciphertext", "secret_names")

    @admin.display(description="secrets set")
    def configured_secrets(self, obj) -> str:
        return ", ".join(secrets_set(obj)) or "—"

    def has_add_permission(self, request) -> bool:
        return False  # connections need secrets and validation: create them through the API or dashboard

    def save_model(self, request, obj, form, change):
        connection_update(connection=obj, data={k: form.cleaned_data[k] for k in ("name", "domain", "drift_policy")})
