"""Helpers shared by the dashboard pages (the `views.py` of each app).

A page imports the selectors and services of the app that owns what it shows, directly
(docs/adr/0012-dashboard-selectors.md): a feature that is missing is missing, not a hidden branch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def to_json(value: Any) -> str:
    """JSON for `json_script`-like embedding where Django's encoder (dates, decimals, UUIDs) is needed."""
    return json.dumps(value, cls=DjangoJSONEncoder)


def page(request: HttpRequest, template: str, nav: str, context: dict[str, Any] | None = None,
         status: int = 200) -> HttpResponse:
    """Render a dashboard page; `nav` marks the active link in the sidebar."""
    ctx = {"nav": nav, "review_pending_count": review_pending_count(), "match_pending_count": match_pending_count()}
    ctx.update(context or {})
    return render(request, template, ctx, status=status)


def int_param(request: HttpRequest, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """A query parameter as a bounded int; junk falls back to the default rather than a 500."""
    try:
        value = int(request.GET.get(name, default))
    except (TypeError, ValueError):
        return default
    value = max(low, value)
    return min(value, high) if high is not None else value


def review_pending_count() -> int:
    """Pending review items, shown as a count next to the Review queue link (every page's sidebar)."""
    from django.apps import apps  # core sits below the apps: it looks the model up, never imports aam

    return apps.get_model("aam", "ReviewItem").objects.filter(status="pending").count()


def match_pending_count() -> int:
    """Pairs of records waiting for a person's match decision (dcl/resolution/), next to "Matches to review"."""
    from django.apps import apps

    return apps.get_model("dcl", "MatchReview").objects.filter(status="pending").count()


_MISSING = object()


def pick(obj: Any, *names: str, default: Any = None) -> Any:
    """The first attribute or key of `obj` among `names` that exists (apps name fields differently).

    A dotted name walks relations (`connection.name`); a callable attribute is called.
    """
    for name in names:
        value: Any = obj
        for part in name.split("."):
            if value is None:
                break
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            else:
                value = getattr(value, part, _MISSING)
            if value is _MISSING:
                break
        else:
            if callable(value) and not isinstance(value, type):
                try:
                    value = value()
                except TypeError:
                    continue
            return value
    return default


@dataclass(frozen=True)
class Column:
    """One column of a generic table: `keys` are alternative names, `kind` picks the cell's look.

    kind ∈ text, code, badge, confidence, time, number, json, status.
    """

    label: str
    keys: tuple[str, ...]
    kind: str = "text"


def table(items: Any, columns: list[Column], *, link: Any = None) -> dict[str, Any]:
    """Rows of cells for `templates/includes/table.html`; columns no item has are dropped."""
    items = list(items)
    cells_by_row: list[list[dict[str, Any]]] = []
    present = [False] * len(columns)
    for item in items:
        row = []
        for i, col in enumerate(columns):
            value = pick(item, *col.keys, default=_MISSING)
            if value is not _MISSING:
                present[i] = True
            row.append({"kind": col.kind, "value": None if value is _MISSING else value})
        cells_by_row.append(row)
    keep = [i for i, ok in enumerate(present) if ok]
    rows = []
    for item, row in zip(items, cells_by_row, strict=True):
        rows.append({"cells": [row[i] for i in keep], "href": link(item) if link else None, "obj": item})
    return {"headers": [columns[i].label for i in keep], "rows": rows}
