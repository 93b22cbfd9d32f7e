"""Contacts from two CRMs, not merged by today's rules (different e-mails), materialized into the
view: what the entity resolution tests decide on."""

from __future__ import annotations

from django.db import connection

from connectors.models import Connection
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, publish

CONTACT = {
    "Id": "id",
    "AccountId": "account_id",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Email": "email",
    "LastModifiedDate": "updated_at",
}


def contact(cid: str, first: str, last: str, email: str, at: str = "2025-01-01T00:00:00Z") -> dict:
    return {"Id": cid, "AccountId": None, "FirstName": first, "LastName": last, "Email": email,
            "LastModifiedDate": at}


def land_contacts(tenant, conn, records, source_object="Contact") -> None:
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records, entity="contact", mapping=CONTACT,
                                         source_object=source_object))


def seed_contacts(tenant) -> tuple[Connection, Connection]:
    """In `tenant` (the connection must be in it): SF has Ann Lee and Bob Ray, HS has Ann Lee under
    an unrelated e-mail (a name alone is not enough for entity resolution to merge three records: a review
item); materialized: three unified contacts."""
    sf = Connection.objects.create(name="SF", kind="salesforce")
    hs = Connection.objects.create(name="HS", kind="hubspot")
    land_contacts(tenant, sf, [contact("003A", "Ann", "Lee", "ann@acme.com"),
                               contact("003B", "Bob", "Ray", "bob@initech.io")])
    land_contacts(tenant, hs, [contact("c9", "Ann", "Lee", "lee.a@otherco.org", "2025-03-01T00:00:00Z")],
                  source_object="contacts")
    views_materialize(tenant=tenant)
    return sf, hs


def contact_id(source_id: str) -> str:
    """The unified id of the contact whose sources hold `source_id` (in the current tenant)."""
    from dcl.selectors import view_rows

    for row in view_rows(entity="contact"):
        if any(s.get("source_id") == source_id for s in row["sources"]):
            return row["unified_id"]
    raise AssertionError(f"no contact holds {source_id}")


def in_tenant(tenant) -> None:
    connection.set_tenant(tenant)
