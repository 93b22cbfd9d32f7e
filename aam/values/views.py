"""The dashboard's value review page (/aam/values/): what each source's values mean, grouped by field
and source, with record counts and samples; a person approves the proposal, picks another canonical
value or says none applies (operator or admin). Free-text columns are listed as such."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from aam.models import ValueMap
from autonomos.core.pages import int_param, page
from autonomos.core.roles import Role, role_required
from connectors.selectors import connection_list

from .review import value_decide
from .selectors import free_text_columns, value_counts, value_groups

STATUSES = ("pending", "mapped", "none", "all")


@login_required
def values_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "pending")
    status = status if status in STATUSES else "pending"
    connection_id = int_param(request, "connection", 0) or None
    groups = value_groups(status=None if status == "all" else status, connection_id=connection_id)
    return page(request, "aam/values.html", "values", {
        "groups": groups, "status": status, "statuses": STATUSES, "counts": value_counts(),
        "free_text": list(free_text_columns(connection_id=connection_id)[:100]),
        "connections": list(connection_list()), "connection_id": connection_id,
    })


@role_required(Role.OPERATOR)
@login_required
@require_POST
def value_decide_action(request: HttpRequest, pk: int) -> HttpResponse:
    vm = ValueMap.objects.filter(pk=pk).first()
    if vm is None:
        raise Http404("No such value")
    back = request.POST.get("next") or ""
    if not back.startswith("/aam/values/"):
        back = "/aam/values/"
    action = request.POST.get("action", "")
    canonical = (request.POST.get("canonical") or "").strip()[:200]
    try:
        if action == "none":
            outcome = value_decide(value_map=vm, no_value=True, user=request.user)
        elif action == "approve":
            outcome = value_decide(value_map=vm, canonical=canonical or vm.canonical, user=request.user)
        else:
            messages.error(request, "Choose approve or 'no canonical value'.")
            return redirect(back)
    except ValidationError as exc:
        messages.error(request, f"Not recorded: {'; '.join(exc.messages)}")
        return redirect(back)
    rows = sum(outcome["rows_updated"].values())
    shown = outcome["canonical"] if outcome["canonical"] is not None else "no canonical value"
    plural = "s" if rows != 1 else ""
    messages.success(request, f"{vm.entity}.{vm.field}: now {shown} ({rows} view row{plural} updated).")
    return redirect(back)
