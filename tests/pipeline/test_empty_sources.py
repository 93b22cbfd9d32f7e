"""A source with a header and no rows syncs cleanly: nothing read, nothing quarantined, no crash."""

import pytest

pytestmark = pytest.mark.django_db


def test_header_only_csv_syncs_with_zero_records(in_tenant_a, tmp_path, settings):
    from aam.ingest.services import connection_sync
    from connectors.services import connection_create

    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    (tmp_path / "accounts.csv").write_text("Id,Name,Website\n")
    connection = connection_create(name="header only", kind="filesource", config={"folder": str(tmp_path)},
                                   secrets={})
    result = connection_sync(connection=connection)
    assert (result.records_read, result.records_published, result.quarantined) == (0, 0, 0)
