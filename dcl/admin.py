from django.contrib import admin, messages

from autonomos.core.errors import AppError

from .models import MatchDecision, MatchReview, MaterializedView, StreamAction, UnifiedIdRedirect


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


# --- Entity resolution (dcl/resolution/). Each tenant's admin is on its own schema: it sees only its
# own items. Items come from the matcher and decisions from people; neither is added here by hand.


@admin.register(MatchReview)
class MatchReviewAdmin(admin.ModelAdmin):
    list_display = ("__str__", "entity", "status", "probability", "decided_by", "decided_at", "updated_at")
    list_filter = ("status", "entity")
    search_fields = ("left_source_id", "right_source_id", "left_unified_id", "right_unified_id")
    actions = ("approve_selected", "reject_selected")
    readonly_fields = [f.name for f in MatchReview._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a decided item is what its decision refers to

    def _decide(self, request, queryset, approve: bool) -> None:
        from .resolution.decisions import decide_review

        done, refused = 0, []
        for item in queryset.order_by("id"):
            try:
                decide_review(item.pk, approve=approve, user=request.user)
                done += 1
            except AppError as exc:
                refused.append(f"#{item.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{done} item(s) {'approved' if approve else 'rejected'}.", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Approve selected pairs (the same entity: must-link)", permissions=["change"])
    def approve_selected(self, request, queryset) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Reject selected pairs (different entities: cannot-link)", permissions=["change"])
    def reject_selected(self, request, queryset) -> None:
        self._decide(request, queryset, False)


@admin.register(MatchDecision)
class MatchDecisionAdmin(admin.ModelAdmin):
    """Decisions are written by the review, merge, split and the API (which check the records exist and
    queue the re-materialization); here they are read, and deleted to let the model decide again."""

    list_display = ("__str__", "entity", "kind", "origin", "created_by", "created_at")
    list_filter = ("kind", "origin", "entity")
    search_fields = ("left_source_id", "right_source_id", "note", "created_by")
    readonly_fields = [f.name for f in MatchDecision._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UnifiedIdRedirect)
class UnifiedIdRedirectAdmin(admin.ModelAdmin):
    list_display = ("entity", "old_id", "new_id", "created_at")
    list_filter = ("entity",)
    search_fields = ("old_id", "new_id")
    readonly_fields = [f.name for f in UnifiedIdRedirect._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
