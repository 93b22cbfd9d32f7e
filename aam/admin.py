"""Admin for mappings and memory; review items, decisions and drift are in aam/drift/admin.py."""

from django.contrib import admin

from .models import FieldMapping, MappingMemory


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


# Review items, the decision log, drift events and snapshots: the review flow's admin (aam.drift).
from .drift import admin as _review_admin  # noqa: E402,F401

# Canonical values: value maps, their memory and the drivers' column metadata (aam.values).
from .values import admin as _values_admin  # noqa: E402,F401
