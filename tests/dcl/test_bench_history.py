"""`manage.py bench_history` runs the real history step four times and reports what each decided."""

import io
import json

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from dcl.models import OpportunityHistory

pytestmark = pytest.mark.django_db


def test_bench_history_reports_the_versions_of_each_step(tenant_a):
    out = io.StringIO()
    call_command("bench_history", rows=2000, changed=0.05, tenant=tenant_a.slug, stdout=out)
    report = json.loads(out.getvalue())
    assert report["changes"] == {"stage": 50, "amount": 25, "deleted": 12, "new": 13}
    assert (report["initial"]["versions"], report["initial"]["published"]) == (2000, 2000)
    assert report["no_change"]["versions"] == report["no_change_after"]["versions"] == 0
    assert (report["changed"]["versions"], report["changed"]["deleted"]) == (100, 12)
    assert report["history_versions"] == 2100
    for step in ("initial", "no_change", "changed", "no_change_after"):
        assert report[step]["total_seconds"] >= report[step]["compare_seconds"] >= 0
    with tenant_context(tenant_a):
        assert OpportunityHistory.objects.filter(stage="Closed Won", valid_to__isnull=True).exists()
