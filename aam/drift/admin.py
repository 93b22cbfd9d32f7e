"""Admin of the review flow (on the tenant host): review items with approve / reject / flag actions
and a readable evidence view, the read-only decision log, drift events and schema snapshots."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from aam.models import DriftEvent, ReviewDecision, ReviewItem, SchemaSnapshot

from .review import review_decide


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system only: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReviewDecisionInline(admin.TabularInline):
    model = ReviewDecision
    extra = 0
    can_delete = False
    fields = ("decided_at", "decision", "previous_status", "username", "note", "canonical_field")
    readonly_fields = fields
    ordering = ("decided_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _value(value: Any):
    if isinstance(value, (dict, list)):
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False, default=str)[:600])
    return value if value not in (None, "") else "—"


def _table(rows: list[tuple[str, Any]]):
    row = "<tr><th style='text-align:left;padding-right:1em'>{}</th><td>{}</td></tr>"
    body = format_html_join("", row, ((k, _value(v)) for k, v in rows))
    return format_html("<table>{}</table>", body)


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "status", "risk", "confidence_pct", "connection", "decided_by", "created_at")
    list_filter = ("kind", "status", "risk", "connection")
    search_fields = ("title", "note")
    list_select_related = ("connection", "decided_by")
    date_hierarchy = "created_at"
    actions = ("approve_selected", "reject_selected", "flag_selected")
    inlines = (ReviewDecisionInline,)
    readonly_fields = (
        "title",
        "kind",
        "status",
        "risk",
        "confidence",
        "connection",
        "proposal_view",
        "evidence_view",
        "decided_by",
        "decided_at",
        "note",
        "created_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False  # review items come from the engine and drift detection

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # decided items are part of the audit trail

    @admin.display(description="confidence", ordering="confidence")
    def confidence_pct(self, obj: ReviewItem) -> str:
        return f"{obj.confidence:.0%}"

    @admin.display(description="proposal")
    def proposal_view(self, obj: ReviewItem):
        proposal = dict(obj.proposal or {})
        repairs = proposal.pop("repairs", None)
        parts = [_table(sorted(proposal.items()))]
        for repair in repairs or []:
            parts.append(format_html("<h4 style='margin:.6em 0 .2em'>{}</h4>", repair.get("action", "repair")))
            parts.append(_table([(k, v) for k, v in repair.items() if v not in (None, "")]))
        return format_html_join("", "{}", ((p,) for p in parts))

    @admin.display(description="evidence")
    def evidence_view(self, obj: ReviewItem):
        evidence = dict(obj.evidence or {})
        parts = []
        for key in ("explanation", "why_review"):
            if evidence.get(key):
                label = "Why" if key == "explanation" else "Why a human"
                parts.append(format_html("<p><strong>{}:</strong> {}</p>", label, evidence.pop(key)))
        for change in evidence.pop("changes", []) or []:
            inner = dict(change.get("evidence") or {})
            rows = [(k, v) for k, v in change.items() if k != "evidence" and v not in (None, "", False)]
            rows += [(f"evidence: {k}", v) for k, v in inner.items()]
            parts.append(_table(rows))
        if evidence:
            parts.append(_table(sorted(evidence.items())))
        return format_html_join("", "{}", ((p,) for p in parts)) if parts else "—"

    def _decide(self, request, queryset, decision: str) -> None:
        done, refused = 0, []
        for item in queryset.order_by("id"):
            try:
                review_decide(item=item, decision=decision, user=request.user, note="decided in the admin")
                done += 1
            except ValidationError as exc:
                refused.append(f"{item}: {'; '.join(exc.messages)}")
        if done:
            self.message_user(request, f"{done} item(s) {decision}d.", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Approve selected items (apply what they propose)", permissions=["change"])
    def approve_selected(self, request, queryset) -> None:
        self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected items (remember, never propose again)", permissions=["change"])
    def reject_selected(self, request, queryset) -> None:
        self._decide(request, queryset, "reject")

    @admin.action(description="Flag selected items for a closer look", permissions=["change"])
    def flag_selected(self, request, queryset) -> None:
        self._decide(request, queryset, "flag")


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ("decided_at", "item", "decision", "previous_status", "username", "note")
    list_filter = ("decision",)
    search_fields = ("username", "note")
    list_select_related = ("item",)


@admin.register(DriftEvent)
class DriftEventAdmin(ReadOnlyAdmin):
    list_display = (
        "detected_at",
        "connection",
        "source_object",
        "kind",
        "field",
        "new_field",
        "direction",
        "status",
        "repair_confidence",
        "review_item",
    )
    list_filter = ("kind", "status", "policy", "direction", "connection")
    search_fields = ("source_object", "field", "new_field", "explanation")
    list_select_related = ("connection", "review_item")
    date_hierarchy = "detected_at"


@admin.register(SchemaSnapshot)
class SchemaSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("taken_at", "connection", "source_object", "fingerprint", "field_count", "accepted", "seen_count")
    list_filter = ("accepted", "connection")
    search_fields = ("source_object", "fingerprint")
    list_select_related = ("connection",)
