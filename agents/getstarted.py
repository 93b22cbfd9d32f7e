"""The home page's "get started" checklist: the four steps of a first run, each done when the tenant's
own data says so, never because someone clicked it away.

1. Connect a source: the tenant has a connection.
2. Check its mapping: some source field is mapped onto the canonical model and no field-mapping
   question (review items of kind mapping or drift) waits for a person.
3. See the unified view: a unified view holds rows.
4. Run the agents: a RevOps or FinOps run has succeeded.

The first step not done is "next" and carries the link that does it (to the role that may: a viewer
is told who can). The home page shows the list until every step is done, or until the person
dismisses it (kept in their session: a hint needs no schema, and it comes back at the next login
while steps remain). docs/adr/0025-views-export-and-first-run.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from aam.models import FieldMapping, ReviewItem
from autonomos.core.roles import Role, has_role
from connectors.models import Connection
from dcl.models import MaterializedView

from .models import AgentRun

SESSION_KEY = "get_started_dismissed"
AGENT_NAMES = {"revops": "RevOps", "finops": "FinOps"}


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str  # what the data says, or what to do
    url: str = ""  # where to do it (empty when the person's role cannot)
    action: str = ""  # the link's words


def _connect(user) -> Step:
    connections = list(Connection.objects.order_by("id").values_list("name", flat=True)[:3])
    total = Connection.objects.count()
    if total:
        names = ", ".join(connections) + (f" and {total - len(connections)} more" if total > len(connections) else "")
        return Step("connect", "Connect a source", True, f"{total} connected: {names}.", "/connections/", "Connections")
    if has_role(user, Role.ADMIN):
        return Step("connect", "Connect a source", False, "A CRM, a database or a folder of CSV exports.",
                    "/connections/new/", "Add a connection")
    return Step("connect", "Connect a source", False, "An admin of this tenant adds connections; none yet.")


def _mapping() -> Step:
    mapped = (FieldMapping.objects.filter(status=FieldMapping.Status.ACTIVE, canonical_field__isnull=False)
              .values("connection_id").distinct().count())
    waiting = ReviewItem.objects.filter(status=ReviewItem.Status.PENDING,
                                        kind__in=[ReviewItem.Kind.MAPPING, ReviewItem.Kind.DRIFT]).count()
    if waiting:
        return Step("mapping", "Check its mapping", False,
                    f"{waiting} field mapping{'s' if waiting != 1 else ''} wait{'s' if waiting == 1 else ''} for "
                    "your decision.", "/aam/review/?kind=mapping", "Review them")
    if not mapped:
        return Step("mapping", "Check its mapping", False,
                    "Nothing is mapped yet: fields are mapped onto the canonical model when a source first syncs.",
                    "/connections/", "Sync a connection")
    first = (FieldMapping.objects.filter(status=FieldMapping.Status.ACTIVE, canonical_field__isnull=False)
             .order_by("connection_id").values_list("connection_id", flat=True).first())
    return Step("mapping", "Check its mapping", True,
                f"Fields of {mapped} connection{'s' if mapped != 1 else ''} are mapped; no question is open.",
                f"/connections/{first}/", "See the mapping")


# The view the step opens: the first of these that holds rows (accounts show best what unifying did).
VIEW_PREFERENCE = ("account", "opportunity", "contact", "cost", "cloud_resource")


def _view() -> Step:
    filled = {v.entity: v for v in MaterializedView.objects.filter(row_count__gt=0).order_by("-row_count", "entity")}
    biggest = next((filled[e] for e in VIEW_PREFERENCE if e in filled), next(iter(filled.values()), None))
    if biggest is None:
        return Step("view", "See the unified view", False,
                    "The unified views fill in once a source has synced and its fields are mapped.")
    return Step("view", "See the unified view", True,
                f"{biggest.entity}: {biggest.row_count:,} unified rows, with the systems each came from.",
                f"/dcl/views/{biggest.entity}/", "Open it")


def _agents(user) -> Step:
    runs = AgentRun.objects.filter(status=AgentRun.Status.SUCCEEDED)
    if runs.exists():
        agents = sorted(set(runs.values_list("agent", flat=True)))
        names = " and ".join(AGENT_NAMES.get(a, a) for a in agents)
        return Step("agents", "Run the agents", True, f"{names} findings are ready.", "/agents/", "See the findings")
    if has_role(user, Role.OPERATOR):
        return Step("agents", "Run the agents", False, "RevOps and FinOps read the unified views and report what "
                    "needs attention.", "/agents/", "Run them")
    return Step("agents", "Run the agents", False, "An operator or admin runs the RevOps and FinOps agents.",
                "/agents/", "Agents")


def get_started_steps(user) -> list[Step]:
    """The checklist for `user` in the current tenant, in order."""
    return [_connect(user), _mapping(), _view(), _agents(user)]


def get_started(request) -> dict | None:
    """What the home page shows: `{"steps", "next", "done", "total"}`, or None when every step is done
    or the person dismissed the list in this session."""
    if request.session.get(SESSION_KEY):
        return None
    steps = get_started_steps(request.user)
    done = sum(s.done for s in steps)
    if done == len(steps):
        return None
    return {"steps": steps, "next": next(s.key for s in steps if not s.done), "done": done, "total": len(steps)}
