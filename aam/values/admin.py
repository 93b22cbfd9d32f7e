"""Admin of canonical values: value maps (approve the proposal or say no value applies, as the
dashboard does; operators and admins), the value memory and the drivers' column metadata."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from aam.models import ColumnMetadata, ValueMap, ValueMemory

from .review import value_decide


@admin.register(ValueMap)
class ValueMapAdmin(admin.ModelAdmin):
    list_display = ("raw_short", "label_short", "entity", "field", "canonical", "status", "confidence", "record_count",
                    "drift", "connection", "reviewed_by")
    list_filter = ("status", "entity", "field", "drift", "decision")
    search_fields = ("raw_key", "label", "canonical", "column")
    list_select_related = ("connection",)
    actions = ("approve_selected", "none_selected")
    readonly_fields = [f.name for f in ValueMap._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="source value")
    def raw_short(self, obj: ValueMap) -> str:
        return obj.raw_key if len(obj.raw_key) <= 80 else obj.raw_key[:77] + "..."

    @admin.display(description="vendor label")
    def label_short(self, obj: ValueMap) -> str:
        label = obj.label or ""
        return label if len(label) <= 80 else label[:77] + "..."

    def _decide(self, request, queryset, **kwargs) -> None:
        done = 0
        for vm in queryset[:200]:
            try:
                value_decide(value_map=vm, user=request.user, **({"canonical": vm.canonical} | kwargs))
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{vm}: {'; '.join(exc.messages)}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} value(s) decided.", messages.SUCCESS)

    @admin.action(description="Approve the proposed canonical value", permissions=["change"])
    def approve_selected(self, request, queryset) -> None:
        self._decide(request, queryset)

    @admin.action(description="No canonical value applies", permissions=["change"])
    def none_selected(self, request, queryset) -> None:
        self._decide(request, queryset, canonical=None, no_value=True)


@admin.register(ValueMemory)
class ValueMemoryAdmin(admin.ModelAdmin):
    list_display = ("vendor", "entity", "field", "raw_key", "canonical", "decided_by", "decided_at")
    list_filter = ("vendor", "entity", "field")
    search_fields = ("raw_key", "canonical")
    readonly_fields = ("raw_hash", "decided_at")


@admin.register(ColumnMetadata)
class ColumnMetadataAdmin(admin.ModelAdmin):
    list_display = ("source_object", "column", "free_text", "distinct_values", "connection", "fetched_at")
    list_filter = ("free_text",)
    search_fields = ("source_object", "column")
    readonly_fields = [f.name for f in ColumnMetadata._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
