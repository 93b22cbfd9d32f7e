"""/api/connections/ with NUL characters, which PostgreSQL stores in neither text nor jsonb: a 400 with
Django's and DRF's wording ("Null characters are not allowed."), never a database error (500). The
dashboard and other callers of the services get the same ValidationError."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db

from connectors.models import Connection
from connectors.services import connection_create, connection_update

pytestmark = pytest.mark.django_db

URL = "/api/connections/"
NUL_MESSAGE = "Null characters are not allowed."


@pytest.mark.parametrize("param", ["kind", "status", "domain"])
def test_a_nul_byte_in_a_list_filter_is_a_400(api_a, param):
    response = api_a.get(f"{URL}?{param}=%00")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"][param] == [NUL_MESSAGE]


def test_list_filters_still_filter(api_a, csv_dir):
    api_a.post(URL, {"name": "Files", "kind": "filesource", "config": {"folder": str(csv_dir)}}, format="json")
    assert api_a.get(f"{URL}?kind=filesource").json()["count"] == 1
    assert api_a.get(f"{URL}?kind=postgres").json()["count"] == 0
    assert api_a.get(f"{URL}?kind=&status=").json()["count"] == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "qa-pg", "kind": "postgres", "config": {"host": "a\u0000b", "database": "x"}}, "config"),
        ({"name": "x", "kind": "filesource", "config": {"primary_keys": {"a\u0000": "b"}}}, "config"),
        (
            {"name": "x", "kind": "filesource", "config": {"files": ["a.csv"], "primary_keys": {"a": "\u0000"}}},
            "config",
        ),
        ({"name": "pg", "kind": "postgres", "config": {"host": "db"}, "secrets": {"password": "p\u0000w"}}, "secrets"),
        ({"name": "pg", "kind": "postgres", "config": {"host": "db"}, "secrets": {"pass\u0000word": "pw"}}, "secrets"),
        ({"name": "a\u0000b", "kind": "filesource"}, "name"),
    ],
)
def test_creating_a_connection_with_a_nul_byte_is_a_400(api_a, tenant_a, body, field):
    response = api_a.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"][field] == [NUL_MESSAGE]
    db.set_tenant(tenant_a)
    assert not Connection.objects.exists()


def test_updating_a_connection_with_a_nul_byte_is_a_400_and_changes_nothing(api_a, tenant_a):
    created = api_a.post(
        URL, {"name": "pg", "kind": "postgres", "config": {"host": "db", "database": "x"}}, format="json"
    )
    cid = created.json()["id"]
    for body, field in (
        ({"config": {"host": "a\u0000b"}}, "config"),
        ({"config": {"tables": ["ok", "x\u0000"]}}, "config"),
        ({"secrets": {"password": "\u0000"}}, "secrets"),
    ):
        response = api_a.patch(f"{URL}{cid}/", body, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["details"][field] == [NUL_MESSAGE]
    put = api_a.put(f"{URL}{cid}/", {"name": "pg", "kind": "postgres", "config": {"host": "\u0000"}}, format="json")
    assert put.status_code == 400
    assert api_a.get(f"{URL}{cid}/").json()["config"]["host"] == "db"


def test_the_services_refuse_nul_bytes_for_every_caller(in_tenant_a):
    with pytest.raises(ValidationError) as refused:
        connection_create(name="pg", kind="postgres", config={"host": "a\x00b"})
    assert refused.value.message_dict == {"config": [NUL_MESSAGE]}
    conn = connection_create(name="pg", kind="postgres", config={"host": "db", "database": "x"})
    with pytest.raises(ValidationError) as refused:
        connection_update(connection=conn, data={"secrets": {"password": "x\x00"}})
    assert refused.value.message_dict == {"secrets": [NUL_MESSAGE]}
    deep: dict = {"host": "db"}
    for _ in range(5000):  # nested far past Python's recursion limit: checked without recursing
        deep = {"k": deep}
    with pytest.raises(ValidationError):
        connection_update(connection=conn, data={"config": {"x": [deep, "\x00"]}})


def test_a_connection_id_beyond_bigint_is_a_404(api_a):
    assert api_a.get(f"{URL}99999999999999999999/").status_code == 404
