"""Pages show their real empty states: nothing guesses whether a feature exists (ADR 0012)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

EMPTY_STATES = [
    ("/dcl/views/", "No views yet"),
    ("/aam/review/", "Nothing waits for you"),
    ("/aam/", "No drift in this period"),
    ("/aam/", "Nothing mapped yet"),
    ("/agents/", "Not run yet"),
    ("/dcl/operations/", "Every batch read so far was applied"),
]


@pytest.mark.parametrize(("url", "text"), EMPTY_STATES)
def test_an_empty_page_shows_its_real_empty_state(web_a, url, text):
    html = web_a.get(url).content.decode()
    assert text in html
    assert "on this build" not in html


def test_replay_and_reset_are_offered_to_an_admin(web_a, tenant_a):
    from django.db import connection

    from connectors.services import connection_create

    connection.set_tenant(tenant_a)
    try:
        conn = connection_create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
    finally:
        connection.set_schema_to_public()
    html = web_a.get("/dcl/operations/").content.decode()
    row = html[html.index(f'data-ops-row="{conn.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Replay from start" in row and "Reset consumer group" in row and "disabled" not in row
