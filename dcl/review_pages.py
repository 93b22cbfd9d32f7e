"""Dashboard pages of entity resolution (dcl/resolution/): "Matches to review" (pending pairs per
entity), one pair side by side with the match weights that scored it and Approve / Reject, and the
Merge and Split forms of a unified record page (templates/dcl/view_record.html).

Every write goes through dcl.resolution.decisions; a refusal (a record deleted since, an item already
decided, a bad id) is a message on the page, never an error page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from autonomos.core.errors import AppError
from autonomos.core.pages import int_param, page
from autonomos.core.roles import Role, has_role, role_required

from .models import MatchReview
from .resolution import decisions
from .resolution.chart import waterfall_chart
from .resolution.review import review_counts, review_list
from .selectors import record_sources, source_labels
from .views import _cell

PER_PAGE = 50


def _record_label(labels, cid: int, sid: str) -> dict:
    label = labels.get(cid)
    return {"connection_id": cid, "source_id": sid, "name": label.name if label else f"connection {cid}",
            "kind": label.kind if label else ""}


@login_required
def matches_page(request: HttpRequest) -> HttpResponse:
    counts = review_counts()
    entity = request.GET.get("entity", "")
    entity = entity if entity in counts else ""
    items = review_list(status=MatchReview.Status.PENDING, entity=entity or None)
    paged = Paginator(items, PER_PAGE).get_page(int_param(request, "page", 1, low=1, high=100000))
    labels = source_labels() if paged.object_list else {}
    rows = [{"item": item, "left": _record_label(labels, *item.left), "right": _record_label(labels, *item.right)}
            for item in paged.object_list]
    return page(request, "dcl/matches.html", "matches", {
        "counts": counts, "total": sum(counts.values()), "entity": entity, "rows": rows, "page_obj": paged,
    })


def _side_by_side(item: MatchReview):
    """The two records' current values, field by field (read from the store like a record's lineage)."""
    refs = [{"connection_id": cid, "source_id": sid, "source_object": "", "connection_kind": ""}
            for cid, sid in (item.left, item.right)]
    lineage = record_sources(entity=item.entity, record={"sources": refs})
    compare = []
    if len(lineage.rows) == 2:
        left, right = lineage.rows
        for field in lineage.fields:
            a, b = left["values"].get(field), right["values"].get(field)
            if a is None and b is None:
                continue
            # the source's own id always differs: not highlighted
            compare.append({"field": field, "left": _cell(a)["value"], "right": _cell(b)["value"],
                            "differs": field != "id" and a is not None and b is not None and str(a) != str(b)})
    return lineage, compare


@login_required
def match_page(request: HttpRequest, pk: int) -> HttpResponse:
    item = MatchReview.objects.filter(pk=pk).first()
    if item is None:
        raise Http404("No such review item")
    lineage, compare = _side_by_side(item)
    labels = source_labels()
    return page(request, "dcl/match.html", "matches", {
        "item": item, "lineage": lineage, "compare": compare,
        "left": _record_label(labels, *item.left), "right": _record_label(labels, *item.right),
        "chart": waterfall_chart(item.waterfall, item.match_weight),
        "can_decide": has_role(request.user, Role.OPERATOR),
        "percent": round(item.probability * 100, 1),
    })


@role_required(Role.OPERATOR)
@login_required
@require_POST
def match_decide(request: HttpRequest, pk: int) -> HttpResponse:
    choice = request.POST.get("decision", "")
    if choice not in ("approve", "reject"):
        messages.error(request, "Choose Approve or Reject.")
        return redirect("dcl_ui:match", pk=pk)
    try:
        decision = decisions.decide_review(pk, approve=choice == "approve", user=request.user)
    except AppError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        messages.error(request, f"Not done: {exc.message}")
        return redirect("dcl_ui:match", pk=pk)
    said = "the same" if decision.kind == decisions.MUST_LINK else "different"
    messages.success(request, f"Recorded: the two records are {said} {decision.entity}s. The view is being "
                              "brought up to date.")
    following = review_list(status=MatchReview.Status.PENDING).exclude(pk=pk).first()
    return redirect("dcl_ui:match", pk=following.pk) if following else redirect("dcl_ui:matches")


@role_required(Role.OPERATOR)
@login_required
@require_POST
def view_record_merge(request: HttpRequest, entity: str, unified_id: str) -> HttpResponse:
    other = request.POST.get("other", "").strip()
    if not other:
        messages.error(request, "Enter the unified id of the record to merge with.")
        return redirect("dcl_ui:view-record", entity=entity, unified_id=unified_id)
    try:
        decisions.merge(entity, [unified_id, other], user=request.user)
    except AppError as exc:
        messages.error(request, f"Not merged: {exc.message}")
        return redirect("dcl_ui:view-record", entity=entity, unified_id=unified_id)
    messages.success(request, f"Merge recorded: {unified_id} and {other} are one {entity}. The view is being "
                              "brought up to date; the merged record keeps the older id.")
    return redirect("dcl_ui:view-record", entity=entity, unified_id=unified_id)


@role_required(Role.OPERATOR)
@login_required
@require_POST
def view_record_split(request: HttpRequest, entity: str, unified_id: str) -> HttpResponse:
    picked = request.POST.getlist("record")
    try:
        decisions.split(entity, unified_id, picked, user=request.user)
    except AppError as exc:
        messages.error(request, f"Not split: {exc.message}")
        return redirect("dcl_ui:view-record", entity=entity, unified_id=unified_id)
    messages.success(request, f"Split recorded: {len(picked)} source record{'s' if len(picked) != 1 else ''} "
                              f"move{'s' if len(picked) == 1 else ''} to a new {entity}. The view is being "
                              "brought up to date.")
    return redirect("dcl_ui:view-record", entity=entity, unified_id=unified_id)
