"""The connection's Mapping tab (`/connections/<id>/mapping/`): every source column of every object,
its canonical field or why it has none, confidence and evidence; operators map, remap, unmap, exclude
or include a column and undo the last change (POST with CSRF, then back to the tab with a message).

The tab lives in aam, the layer that owns mappings; the connection page (connectors, below) links to
it by URL only.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from aam.sync_lock import sync_running
from autonomos.core.errors import AppError
from autonomos.core.pages import page
from autonomos.core.roles import Role, role_required
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection
from connectors.selectors import connection_get

from .selectors import connection_mapping, mapping_change_list
from .services import ACTIONS, MAX_NOTE, mapping_change, mapping_undo, mapping_undoable

_VERBS = {"map": "mapped to", "remap": "re-mapped to", "unmap": "left unmapped", "exclude": "excluded",
          "include": "included again", "undo": "restored"}


class ChangeForm(forms.Form):
    """What a row's form posts (Django's CharField refuses NUL characters and over-long values)."""

    source_object = forms.CharField(max_length=255, strip=False)
    source_field = forms.CharField(max_length=512, strip=False)
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    canonical_field = forms.CharField(max_length=200, required=False)
    note = forms.CharField(max_length=MAX_NOTE, required=False)
    alongside = forms.BooleanField(required=False)  # feed a field other columns feed too (ADR 0031)


def _connection_or_404(pk: int) -> Connection:
    if pk > 2**63 - 1:
        raise Http404("No such connection")
    try:
        return connection_get(connection_id=pk)
    except Connection.DoesNotExist:
        raise Http404("No such connection") from None


def anchor(name: str) -> str:
    """The id of an object's section on the tab."""
    return "object-" + (slugify(name) or "x")


def _said(change) -> str:
    verb = _VERBS.get(change.action, change.action)
    target = f" {change.field_after}" if change.action in ("map", "remap") else ""
    if change.action == "undo":
        target = f" to {change.field_after or change.status_after}"
    applied = " The views follow once the object is read again (a sync is queued)." if change.reprocess else ""
    return f"{change.source_object}.{change.source_field} {verb}{target} (version {change.version_after}).{applied}"


@login_required
def connection_mapping_page(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    objects = connection_mapping(connection=connection)
    changes = list(mapping_change_list(connection=connection)[:30])
    wrote = {(c.source_object, c.version_after): c for c in changes}
    for obj in objects:
        obj.anchor = anchor(obj.name)
        for v in obj.versions:
            v["change"] = wrote.get((obj.name, v["version"]))
    return page(request, "aam/connection_mapping.html", "connections", {
        "connection": connection,
        "objects": objects,
        "changes": changes,
        "undo": mapping_undoable(connection=connection),
        "syncing": sync_running(current_tenant(), connection.pk),
    })


@role_required(Role.OPERATOR)
@login_required
@require_POST
def mapping_change_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    form = ChangeForm(request.POST)
    back = redirect("aam_connections:mapping", pk=connection.pk)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"Not changed: {problems}")
        return back
    data = form.cleaned_data
    try:
        change = mapping_change(
            connection=connection,
            source_object=data["source_object"],
            source_field=data["source_field"],
            action=data["action"],
            canonical_field=data["canonical_field"] or None,
            user=request.user,
            note=data["note"],
            alongside=data["alongside"],
        )
    except AppError as exc:  # bad input or a conflict: say why
        messages.error(request, f"Not changed: {exc.message}")
        return back
    messages.success(request, _said(change))
    back["Location"] += f"#{anchor(change.source_object)}"
    return back


@role_required(Role.OPERATOR)
@login_required
@require_POST
def mapping_undo_action(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_or_404(pk)
    back = redirect("aam_connections:mapping", pk=connection.pk)
    try:
        change = mapping_undo(connection=connection, user=request.user)
    except AppError as exc:
        messages.error(request, f"Not undone: {exc.message}")
        return back
    messages.success(request, f"Undone: {_said(change)}")
    back["Location"] += f"#{anchor(change.source_object)}"
    return back
