from django.contrib import admin

from .models import MaterializedView, StreamAction


@admin.register(MaterializedView)
class MaterializedViewAdmin(admin.ModelAdmin):
    list_display = ("entity", "row_count", "version", "materialized_at")
    readonly_fields = [f.name for f in MaterializedView._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(StreamAction)
class StreamActionAdmin(admin.ModelAdmin):
    """The audit log of replays and consumer-group resets: read-only."""

    list_display = ("created_at", "action", "connection_name", "actor")
    list_filter = ("action",)
    readonly_fields = [f.name for f in StreamAction._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
