"""POST /api/connections/<id>/sync/ with a real Celery worker: the CSV lands in the unified view."""


import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from tests.conftest import host_of
from tests.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.slow]

CSV = "Id,Name,StageName,Amount,CloseDate\n" + "".join(
    f"006{i:015d},Deal {i},Prospecting,{i}.25,2026-03-31\n" for i in range(40)
)


def test_the_sync_endpoint_runs_the_pipeline_in_a_worker_up_to_the_view(celery_worker_process, committed_tenants):
    from django.contrib.auth import get_user_model

    from connectors.services import connection_create
    from dcl.models import MaterializedView
    from dcl.selectors import view_all
    from tenants.auth import issue_tokens

    alpha, _ = committed_tenants
    folder = settings.DATA_DIR / "live-sync"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Opportunity.csv").write_text(CSV)
    with tenant_context(alpha):
        conn = connection_create(name="export", kind="filesource",
                                 config={"folder": str(folder), "source_system": "salesforce"})
        refresh = issue_tokens(get_user_model().objects.get(username="admin"), alpha)
    client = APIClient(HTTP_HOST=host_of(alpha))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    response = client.post(f"/api/connections/{conn.pk}/sync/", {}, format="json")
    assert response.status_code == 202, response.content
    try:
        def materialized():
            with tenant_context(alpha):
                return MaterializedView.objects.filter(entity="opportunity").first()

        wait_until(materialized, timeout=90, interval=0.3, message="the worker to materialize the view")
        with tenant_context(alpha):
            rows = view_all(entity="opportunity")
            conn.refresh_from_db()
        assert len(rows) == 40 and conn.status == "ok" and conn.cursor
    finally:
        with connection.cursor() as cur:
            cur.execute('DROP VIEW IF EXISTS "alpha"."dcl_view_opportunity"')
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'alpha' AND tablename LIKE 'dcl_vdata_%%'")
            for (table,) in cur.fetchall():
                cur.execute(f'DROP TABLE IF EXISTS "alpha"."{table}" CASCADE')
