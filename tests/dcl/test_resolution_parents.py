"""Parent and child accounts are linked, not merged (issue #19): a subsidiary keeps its own unified
account, which names its parent's (`parent_unified_id`), even when both share the parent's website."""

import pytest

from connectors.models import Connection
from dcl.models import MatchReview
from dcl.selectors import view_all
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, publish

pytestmark = pytest.mark.django_db

ACCOUNT = {"Id": "id", "Name": "name", "Website": "website", "ParentId": "parent_account_id",
           "LastModifiedDate": "updated_at"}


def _account(aid: str, name: str, website: str, parent: str | None = None) -> dict:
    return {"Id": aid, "Name": name, "Website": website, "ParentId": parent,
            "LastModifiedDate": "2026-01-01T00:00:00Z"}


def _land(tenant, conn, records, source_object="Account") -> None:
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records, entity="account", mapping=ACCOUNT,
                                         source_object=source_object))


def test_a_subsidiary_at_its_parents_domain_is_linked_not_merged(in_tenant_a):
    sf = Connection.objects.create(name="SF", kind="salesforce")
    hs = Connection.objects.create(name="HS", kind="hubspot")
    _land(in_tenant_a, sf, [
        _account("001P", "Contoso Group", "https://www.contoso.com"),
        # the subsidiary uses the group's website: the domain rule alone would merge them
        _account("001C", "Contoso Retail", "contoso.com", parent="001P"),
        _account("001D", "Fabrikam Logistics", "fabrikam-logistics.com", parent="001P"),
        _account("001X", "Northwind", "northwind.io"),
    ])
    # HubSpot holds the group and the subsidiary again, without the parent link
    _land(in_tenant_a, hs, [_account("hsP", "Contoso Group Inc", "contoso.com"),
                            _account("hsD", "Fabrikam Logistics", "fabrikam-logistics.com")], "companies")
    views_materialize(tenant=in_tenant_a)
    rows = view_all(entity="account")
    by_source = {s["source_id"]: r for r in rows for s in r["sources"]}
    group, retail, fabrikam = by_source["001P"], by_source["001C"], by_source["001D"]
    assert len(rows) == 4
    assert group is by_source["hsP"] and fabrikam is by_source["hsD"]  # the same companies still merge
    assert retail is not group and retail["source_count"] == 1
    assert retail["parent_unified_id"] == group["unified_id"] == fabrikam["parent_unified_id"]
    assert group["parent_unified_id"] is None and by_source["001X"]["parent_unified_id"] is None
    assert not MatchReview.objects.filter(entity="account", status=MatchReview.Status.PENDING).exists()
    # the child's parent link moves with the data: no parent any more, no link
    _land(in_tenant_a, sf, [dict(_account("001D", "Fabrikam Logistics", "fabrikam-logistics.com"),
                                 LastModifiedDate="2026-02-01T00:00:00Z")])
    views_materialize(tenant=in_tenant_a)
    by_source = {s["source_id"]: r for r in view_all(entity="account") for s in r["sources"]}
    assert by_source["001D"]["parent_unified_id"] is None
    assert by_source["001C"]["parent_unified_id"] == by_source["001P"]["unified_id"]
