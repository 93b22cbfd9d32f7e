"""The factories make what they say: a user with its role, a connection made by the service."""

import pytest
from django.contrib.auth.hashers import get_hasher, identify_hasher

from autonomos.core.roles import Role
from connectors.models import Connection
from tests.conftest import PASSWORD
from tests.factories import ConnectionFactory, FieldMappingFactory, ReviewItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_gets_its_role_and_a_password_hashed_by_the_configured_hasher(in_tenant_a):
    user = UserFactory(role=Role.OPERATOR)
    assert user.member.role == Role.OPERATOR and user.check_password(PASSWORD)
    assert identify_hasher(user.password).algorithm == get_hasher("default").algorithm
    assert not UserFactory(unusable_password=True).has_usable_password()


def test_a_connection_is_made_by_the_service_with_its_secrets_encrypted(in_tenant_a):
    conn = ConnectionFactory(kind="hubspot", secrets={"access_token": "pat-factory-1"})
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.get_secrets() == {"access_token": "pat-factory-1"}
    assert "pat-factory-1" not in stored.secrets_ciphertext


def test_mappings_and_review_items_belong_to_the_connection_they_are_given(in_tenant_a):
    conn = ConnectionFactory()
    mapping = FieldMappingFactory(connection=conn)
    item = ReviewItemFactory(connection=conn, risk="high")
    assert (mapping.connection_id, item.connection_id, item.status) == (conn.pk, conn.pk, "pending")
