"""People's names of the systems a source's data comes from, by the slugs connections use for them
(`source_system` of a CSV connection, the routing hints of agents.routing): "aws_cur" → "AWS Cost and
Usage Report". A slug nobody named here reads as its words ("legacy_sql" → "Legacy sql"), never as
nothing."""

from __future__ import annotations

SYSTEM_LABELS = {
    "salesforce": "Salesforce",
    "hubspot": "HubSpot",
    "dynamics": "Dynamics 365",
    "aws": "AWS",
    "aws_cur": "AWS Cost and Usage Report",
    "aws_inventory": "AWS resource inventory",
    "azure": "Azure",
    "gcp": "Google Cloud",
    "focus": "FOCUS",
    "netsuite": "NetSuite",
    "sap": "SAP",
    "snowflake": "Snowflake",
    "stripe": "Stripe",
    "zendesk": "Zendesk",
    "pipedrive": "Pipedrive",
    "oracle_erp": "Oracle ERP",
    "quickbooks": "QuickBooks",
    "xero": "Xero",
}


def system_label(slug: str) -> str:
    """The name people know the system `slug` by."""
    slug = (slug or "").strip()
    return SYSTEM_LABELS.get(slug.lower()) or slug.replace("_", " ").capitalize()
