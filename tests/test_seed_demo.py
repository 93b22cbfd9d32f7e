import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from connectors.models import Connection
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_the_tenant_and_its_connections_once():
    call_command("seed_demo")
    call_command("seed_demo")  # safe to run again
    tenant = Tenant.objects.get(slug="demo")
    with schema_context(tenant.schema_name):
        kinds = sorted(Connection.objects.values_list("config__source_system", flat=True))
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.get(username="admin")
        assert admin.check_password("AutonomOS-demo-2026")
    assert len(kinds) == 6  # + the Azure cost export (docs/adr/0030)
    assert {"salesforce", "hubspot", "dynamics"} <= set(kinds)
    from dcl.selectors import view_catalog

    with schema_context(tenant.schema_name):
        counts = {v.entity: v.row_count for v in view_catalog()}
    assert set(counts) == {"account", "contact", "opportunity", "cost", "cloud_resource", "quota"}
    assert all(n > 0 for n in counts.values())
