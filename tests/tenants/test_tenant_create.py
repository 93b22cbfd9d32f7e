import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import Domain, Tenant
from tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def test_tenant_create_command_makes_schema_domain_and_admin():
    call_command("tenant_create", slug="gamma", name="Gamma", admin_email="boss@gamma.example",
                 admin_password="Gamma-pass-2026!")
    tenant = Tenant.objects.get(slug="gamma")
    assert tenant.schema_name == "gamma"
    assert Domain.objects.get(tenant=tenant).domain == "gamma.localhost"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'gamma'")
        assert cursor.fetchone()
    with schema_context("gamma"):
        user = get_user_model().objects.get(email="boss@gamma.example")
        assert user.member.role == "admin" and user.is_staff and not user.is_superuser
        # Hashed by the first configured hasher (Argon2 in the product: tests/security/test_password_hashers.py).
        assert identify_hasher(user.password).algorithm == get_hasher("default").algorithm
        assert "Gamma-pass-2026!" not in user.password and user.check_password("Gamma-pass-2026!")


@pytest.mark.parametrize("slug", ["public", "Bad Slug", "x", "1abc", "pg_evil", "alpha"])
def test_bad_or_taken_slug_is_refused_and_nothing_is_created(slug):
    before = Tenant.objects.count()
    with pytest.raises(ValidationError):
        tenant_create(slug=slug, name="X", admin_email="a@b.example", admin_password="Strong-pass-2026!")
    assert Tenant.objects.count() == before


def test_weak_password_is_refused_before_any_schema_is_made():
    with pytest.raises(ValidationError):
        tenant_create(slug="weakling", name="W", admin_email="a@b.example", admin_password="123")
    assert not Tenant.objects.filter(slug="weakling").exists()


def test_command_reports_errors_cleanly():
    with pytest.raises(CommandError):
        call_command("tenant_create", slug="public", name="P", admin_email="a@b.example",
                     admin_password="Strong-pass-2026!")
