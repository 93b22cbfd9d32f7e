"""Admin for mappings, memory and review items (the full review flow extends ReviewItemAdmin later)."""

from django.contrib import admin

from .models import FieldMapping, MappingMemory, ReviewItem


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = (
        "source_object",
        "source_field",
        "canonical_entity",
        "canonical_field",
        "confidence",
        "method",
        "status",
        "version",
        "connection",
        "created_at",
    )
    list_filter = ("status", "method", "canonical_entity")
    search_fields = ("source_object", "source_field", "canonical_field")
    list_select_related = ("connection",)
    readonly_fields = ("created_at",)


@admin.register(MappingMemory)
class MappingMemoryAdmin(admin.ModelAdmin):
    list_display = (
        "field_name",
        "canonical_entity",
        "canonical_field",
        "decision",
        "source_kind",
        "source_object",
        "decided_by",
        "created_at",
    )
    list_filter = ("decision", "source_kind", "canonical_entity")
    search_fields = ("field_name", "normalized_name", "canonical_field")
    readonly_fields = ("created_at",)


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "kind",
        "status",
        "risk",
        "confidence",
        "connection",
        "decided_by",
        "decided_at",
        "created_at",
    )
    list_filter = ("kind", "status", "risk")
    search_fields = ("title", "note")
    readonly_fields = ("created_at", "decided_at", "decided_by")
    list_select_related = ("connection", "decided_by")
