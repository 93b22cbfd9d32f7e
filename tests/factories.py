"""factory_boy factories for the tests: users with a role, connections, field mappings, review items
and the rows of a unified view.

Tenant rows live in a tenant's schema: create them inside it (`in_tenant_a`, `schema_context`,
`tenant_context`); a factory never switches schemas by itself. The one exception is
`materialized_view`, which lands records through the pipeline for the tenant it is given.

    with schema_context("alpha"):
        operator = UserFactory(role=Role.OPERATOR)          # a user and its Member row
        conn = ConnectionFactory(kind="hubspot", secrets={"access_token": "pat-…"})  # via connection_create
        FieldMappingFactory(connection=conn, source_field="name", canonical_field="name")
        item = ReviewItemFactory(connection=conn, risk="high")
    view = materialized_view(tenant, OpportunityRecordFactory.build_batch(5, StageName="Closed Won"))
"""

from __future__ import annotations

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from factory.django import DjangoModelFactory

from aam.models import FieldMapping, ReviewItem
from autonomos.core.roles import Role
from connectors.models import Connection
from tenants.members.models import Member
from tests.conftest import PASSWORD


class UserFactory(DjangoModelFactory):
    """A tenant user with a Member row of `role` (viewer unless told), signing in with PASSWORD
    (hashed by the test settings' fast hasher); `unusable_password=True` for one that never signs in
    with a password (tests using force_login or a token)."""

    class Meta:
        model = settings.AUTH_USER_MODEL
        skip_postgeneration_save = True

    class Params:
        role = Role.VIEWER
        unusable_password = factory.Trait(password=factory.LazyFunction(lambda: make_password(None)))

    username = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.django.Password(PASSWORD)
    member = factory.RelatedFactory(
        "tests.factories.MemberFactory", factory_related_name="user", role=factory.SelfAttribute("..role")
    )


class MemberFactory(DjangoModelFactory):
    """A user's role in the tenant (UserFactory makes one; use this one for a user made otherwise)."""

    class Meta:
        model = Member

    user = factory.SubFactory(UserFactory, member=None)
    role = Role.VIEWER


class ConnectionFactory(DjangoModelFactory):
    """A connection made by the service a user's form calls (`connectors.services.connection_create`):
    the config is validated by the kind's model and the secrets are encrypted. A CSV folder by default."""

    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"connection {n}")
    kind = Connection.Kind.FILESOURCE
    config = factory.LazyFunction(dict)
    secrets = None
    drift_policy = Connection.DriftPolicy.AUTO
    domain = Connection.Domain.AUTO

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from connectors.services import connection_create

        status = kwargs.pop("status", None)
        conn = connection_create(**kwargs)
        if status is not None:
            conn.status = status
            conn.save(update_fields=["status"])
        return conn


class ConnectionRowFactory(DjangoModelFactory):
    """A connection row saved as it is, without the service's validation: for tests where the kind
    matters (routing, drift, discovery) but a real config of that kind would be beside the point."""

    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"source {n}")
    kind = Connection.Kind.SALESFORCE


class FieldMappingFactory(DjangoModelFactory):
    """One source field's active mapping (version 1) of a connection's object."""

    class Meta:
        model = FieldMapping

    connection = factory.SubFactory(ConnectionRowFactory)
    source_object = "Opportunity"
    source_field = factory.Sequence(lambda n: f"Field{n}")
    canonical_entity = "opportunity"
    canonical_field = "name"
    confidence = 0.9
    method = FieldMapping.Method.HEURISTIC
    status = FieldMapping.Status.ACTIVE
    version = 1


class ReviewItemFactory(DjangoModelFactory):
    """A pending mapping review item (kind, risk, status, connection as told)."""

    class Meta:
        model = ReviewItem

    kind = ReviewItem.Kind.MAPPING
    title = factory.Sequence(lambda n: f"review {n}")
    proposal = factory.LazyFunction(dict)
    evidence = factory.LazyFunction(dict)
    confidence = 0.6
    risk = ReviewItem.Risk.MEDIUM
    status = ReviewItem.Status.PENDING
    connection = None


class OpportunityRecordFactory(factory.DictFactory):
    """A Salesforce Opportunity as a source sends it (the shape of tests/pipeline/support.py's
    `opportunity_records` and its SF_OPPORTUNITY mapping): ids are unique across the session."""

    Id = factory.Sequence(lambda n: f"006{n:015d}")
    AccountId = factory.Sequence(lambda n: f"001{n % 7:015d}")
    Name = factory.Sequence(lambda n: f"Deal {n}")
    StageName = "Prospecting"
    Amount = factory.Sequence(lambda n: f"{n * 10}.50")
    CloseDate = "2026-03-31"
    IsWon = "false"
    LastModifiedDate = "2026-01-02T03:04:05.000+0000"


def materialized_view(tenant, records: list[dict] | None = None, *, n: int = 5, name: str = "SF"):
    """Rows in the tenant's unified opportunity view: `records` (or `n` OpportunityRecordFactory
    records) published for the Salesforce connection `name`, consumed and materialized by the real
    pipeline. Returns the view's catalog row (dcl.models.MaterializedView)."""
    from tests.pipeline.support import land_and_materialize

    if records is None:
        records = OpportunityRecordFactory.build_batch(n)
    return land_and_materialize(tenant, records, name=name)


class ValueMapFactory(DjangoModelFactory):
    """One distinct source value of a connection's column and what it means (pending unless told)."""

    class Meta:
        model = "aam.ValueMap"

    connection = factory.SubFactory(ConnectionRowFactory)
    source_object = "Opportunity"
    entity = "opportunity"
    field = "forecast_category"
    column = "ForecastCategoryName"
    vendor = "salesforce"
    raw_key = factory.Sequence(lambda n: f"value {n}")
    label = None
    canonical = None
    confidence = 0.4
    decision = "review"
    status = "pending"
    record_count = 3
    samples = factory.LazyFunction(lambda: ["006A", "006B"])
    first_seen = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)
