"""Which pilot a source feeds (DESIGN.md, Agents and AOA).

Order of precedence for one connection:
1. `Connection.domain` set by a person ("revops" / "finops") always wins;
2. the source kind: CRMs feed RevOps; billing and ERP systems feed FinOps;
3. for kinds that can hold anything (CSV files, databases): the config's `source_system` hint
   (e.g. a filesource holding a Salesforce export says `source_system: salesforce`);
4. the entities the source produced: opportunity/account/contact → RevOps, cost/cloud_resource → FinOps.
A source with none of these feeds no pilot (reported as "unrouted").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors.registry import kind_specs

REVOPS = "revops"
FINOPS = "finops"
DOMAINS = (REVOPS, FINOPS)

# Connector kinds that feed one pilot by themselves: their spec says so (connectors/kinds/<kind>/).
KIND_DOMAIN = {spec.name: (spec.domain, spec.domain_reason) for spec in kind_specs() if spec.domain in DOMAINS}
REVOPS_KINDS = frozenset(name for name, (domain, _) in KIND_DOMAIN.items() if domain == REVOPS)
# Finance and billing systems by the name a source (a discovered asset, a future kind) gives itself.
FINOPS_KINDS = frozenset({"snowflake", "sap", "netsuite", "legacy_sql"})

# `source_system` hints seen in configs of generic sources (CSV exports, databases).
REVOPS_SYSTEMS = REVOPS_KINDS | {"crm", "pipedrive", "zoho", "dynamics365", "salesforce_export", "hubspot_export"}
FINOPS_SYSTEMS = FINOPS_KINDS | {"aws", "aws_cur", "azure", "azure_cost", "gcp", "gcp_billing", "focus",
                                 "cloud_billing", "billing", "oracle_erp", "quickbooks", "xero"}

ENTITY_DOMAIN = {
    "opportunity": REVOPS,
    "account": REVOPS,
    "contact": REVOPS,
    "cost": FINOPS,
    "cloud_resource": FINOPS,
}

# What each pilot reads. `account` feeds RevOps (top accounts) and FinOps names billing accounts.
AGENT_ENTITIES = {
    REVOPS: ("opportunity", "account"),
    FINOPS: ("cost", "cloud_resource"),
}
# Without rows of its primary entity a pilot has nothing to say and is skipped.
AGENT_PRIMARY_ENTITY = {REVOPS: "opportunity", FINOPS: "cost"}


@dataclass(frozen=True)
class Route:
    domains: tuple[str, ...]
    reason: str


def _hint(config: Mapping | None) -> str:
    if not isinstance(config, Mapping):
        return ""
    value = config.get("source_system") or config.get("system") or ""
    return str(value).strip().lower().replace("-", "_").replace(" ", "_")


def route_connection(*, kind: str, domain: str = "", config: Mapping | None = None,
                     entities: Iterable[str] = ()) -> Route:
    """The pilot(s) one connection feeds, with the rule that decided."""
    if domain in DOMAINS:
        return Route((domain,), f"set explicitly on the connection ({domain})")
    if kind in KIND_DOMAIN:
        kind_domain, why = KIND_DOMAIN[kind]
        return Route((kind_domain,), f"{kind} is {why}")
    if kind in FINOPS_KINDS:
        return Route((FINOPS,), f"{kind} is a finance/billing system")
    hint = _hint(config)
    if hint in REVOPS_SYSTEMS:
        return Route((REVOPS,), f"config source_system '{hint}' is a CRM")
    if hint in FINOPS_SYSTEMS:
        return Route((FINOPS,), f"config source_system '{hint}' is a finance/billing system")
    found = sorted({ENTITY_DOMAIN[e] for e in entities if e in ENTITY_DOMAIN})
    if found:
        names = ", ".join(sorted({e for e in entities if e in ENTITY_DOMAIN}))
        return Route(tuple(found), f"by the entities it produced ({names})")
    return Route((), "no domain set, unknown kind and no routable entities yet")


def entities_by_connection(views: Mapping[str, list[dict]]) -> dict[int, set[str]]:
    """connection id → the entities its records ended up in, read from each row's `sources` lineage."""
    found: dict[int, set[str]] = {}
    for entity, rows in views.items():
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            for source in row.get("sources") or ():
                cid = _connection_id(source)
                if cid is not None:
                    found.setdefault(cid, set()).add(entity)
    return found


def _connection_id(source) -> int | None:
    if not isinstance(source, Mapping):
        return None
    try:
        return int(source.get("connection_id"))
    except (TypeError, ValueError):
        return None


def row_in_domain(row: Mapping, domain: str, routes: Mapping[int, Route], entity: str) -> bool:
    """A unified row feeds a pilot when any of its source connections is routed there.

    Rows whose lineage is missing, or names connections that no longer exist, are routed by
    their entity: the data is in the unified view, so it belongs to someone.
    """
    known = False
    for source in row.get("sources") or ():
        cid = _connection_id(source)
        route = routes.get(cid) if cid is not None else None
        if route is None:
            continue
        known = True
        if domain in route.domains:
            return True
    if known:
        return False
    return ENTITY_DOMAIN.get(entity) == domain or entity in AGENT_ENTITIES.get(domain, ())
