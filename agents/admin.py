"""Admin for jobs, agent runs and discovery logs (read-mostly audit views) and quotas (edited here)."""

from django.contrib import admin

from .models import AgentRun, DiscoveryLog, Job, Quota


class ChildJobInline(admin.TabularInline):
    model = Job
    fk_name = "parent"
    extra = 0
    can_delete = False
    fields = ["kind", "connection", "status", "progress", "step", "attempts", "error", "started_at", "finished_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress", "step", "attempts", "requested_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["step", "error"]
    readonly_fields = ["kind", "status", "progress", "step", "attempts", "error", "cancel_requested", "parent",
                       "connection", "requested_by", "params", "result", "task_id", "created_at", "started_at",
                       "finished_at", "updated_at"]
    inlines = [ChildJobInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by", "connection")

    def has_add_permission(self, request):
        return False


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "agent", "status", "job", "narrative_source", "created_at", "finished_at"]
    list_filter = ["agent", "status", "narrative_source"]
    readonly_fields = ["agent", "status", "job", "inputs", "metrics", "findings", "narrative", "narrative_source",
                       "error", "skipped_reason", "created_at", "started_at", "finished_at"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(DiscoveryLog)
class DiscoveryLogAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "backend", "status", "query", "assets_count", "review_items_created", "created_at"]
    list_filter = ["kind", "backend", "status"]
    search_fields = ["query", "error"]
    readonly_fields = ["kind", "backend", "status", "query", "request", "response", "handed_to_agents", "assets_count",
                       "review_items_created", "error", "duration_ms", "requested_by", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Quotas per owner and period; a row here wins over a loaded quota of the same owner and period."""

    list_display = ["owner_id", "period_start", "period_end", "amount", "currency", "updated_at"]
    list_filter = ["period_start", "currency"]
    search_fields = ["owner_id", "note"]
