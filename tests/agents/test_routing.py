"""Which pilot a source feeds: explicit domain, then kind, then the config hint, then entities."""

import pytest

from agents.routing import route_connection, row_in_domain


@pytest.mark.parametrize(("kwargs", "domains", "reason_part"), [
    ({"kind": "salesforce"}, ("revops",), "CRM"),
    ({"kind": "hubspot"}, ("revops",), "CRM"),
    ({"kind": "dynamics"}, ("revops",), "CRM"),
    ({"kind": "netsuite"}, ("finops",), "finance"),
    ({"kind": "hubspot", "domain": "finops"}, ("finops",), "explicitly"),
    ({"kind": "filesource", "config": {"source_system": "Salesforce"}}, ("revops",), "source_system"),
    ({"kind": "filesource", "config": {"source_system": "aws-cur"}}, ("finops",), "source_system"),
    ({"kind": "filesource", "entities": ["cost", "cloud_resource"]}, ("finops",), "cloud_resource, cost"),
    ({"kind": "postgres", "entities": ["account", "opportunity"]}, ("revops",), "entities"),
    ({"kind": "mongodb", "entities": ["opportunity", "cost"]}, ("finops", "revops"), "entities"),
    ({"kind": "postgres", "config": {"source_system": "aws"}, "entities": ["opportunity"]}, ("finops",), "aws"),
    ({"kind": "postgres"}, (), "no domain"),
    ({"kind": "postgres", "domain": "revops", "config": {"source_system": "aws"}}, ("revops",), "explicitly"),
])
def test_route_connection(kwargs, domains, reason_part):
    route = route_connection(**kwargs)
    assert route.domains == domains
    assert reason_part in route.reason


def test_rows_follow_the_route_of_any_of_their_sources():
    routes = {1: route_connection(kind="salesforce"), 2: route_connection(kind="hubspot", domain="finops")}
    both = {"sources": [{"connection_id": 1}, {"connection_id": 2}]}
    only_forced = {"sources": [{"connection_id": "2"}]}
    assert row_in_domain(both, "revops", routes, "opportunity")
    assert not row_in_domain(only_forced, "revops", routes, "opportunity")
    assert row_in_domain(only_forced, "finops", routes, "opportunity")


def test_rows_without_known_lineage_are_routed_by_their_entity():
    routes = {1: route_connection(kind="salesforce")}
    assert row_in_domain({"sources": []}, "revops", routes, "opportunity")
    assert row_in_domain({"sources": [{"connection_id": 99}]}, "finops", routes, "cost")
    assert not row_in_domain({"sources": None}, "revops", routes, "cost")
