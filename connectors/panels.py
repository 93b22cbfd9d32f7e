"""Panels that apps above add to the connection page (an inversion: connectors may not import them).

An app registers a panel in its `AppConfig.ready()`; the connection page renders every registered
panel, in registration order, with the context its function returns for that connection. dcl adds
the stream statistics this way (docs/adr/0012-dashboard-selectors.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import Connection


@dataclass(frozen=True)
class ConnectionPanel:
    name: str  # unique; registering the same name again replaces the panel
    template: str  # rendered with `panel` (the context below) and the page's own context
    context: Callable[[Connection], dict[str, Any]]


_PANELS: dict[str, ConnectionPanel] = {}


def register_connection_panel(panel: ConnectionPanel) -> None:
    _PANELS[panel.name] = panel


def connection_panels(connection: Connection) -> list[dict[str, Any]]:
    """`[{name, template, context}]` for the connection page."""
    return [{"name": p.name, "template": p.template, "context": p.context(connection)} for p in _PANELS.values()]
