"""Connection secrets at rest: encrypted in the database, key rotation, a wrong key, the migration."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db

from connectors import secretbox
from connectors.models import Connection
from connectors.registry import driver_for
from connectors.secretbox import SecretsUnreadable
from connectors.services import connection_create, connection_secrets_rotate, connection_test, connection_update
from tests.conftest import host_of
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()
KEY_OTHER = Fernet.generate_key().decode()
CANARY = "pat-na1-plaintext-canary-7731"


def raw_row(pk: int) -> str:
    """The whole stored row as PostgreSQL renders it (every column, as text)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT row_to_json(c)::text FROM connectors_connection c WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def stored_token(pk: int) -> bytes:
    return Connection.objects.values_list("secrets_ciphertext", flat=True).get(pk=pk).encode()


def opens(key: str, token: bytes) -> bool:
    try:
        Fernet(key.encode()).decrypt(token)
    except InvalidToken:
        return False
    return True


def test_the_database_row_holds_no_plaintext_secret(in_tenant_a):
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY})
    row = raw_row(conn.pk)
    assert CANARY not in row
    assert "secrets_ciphertext" in row and '"secret_names":["access_token"]' in row
    assert Connection.objects.get(pk=conn.pk).get_secrets() == {"access_token": CANARY}


def test_with_no_keys_configured_a_key_derived_from_secret_key_is_used(in_tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = []
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY})
    assert opens(secretbox.derived_key(settings.SECRET_KEY).decode(), stored_token(conn.pk))


def test_rotation_keeps_old_rows_readable_and_writes_with_the_new_key(in_tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY})
    assert opens(KEY_OLD, stored_token(conn.pk))

    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW, KEY_OLD]
    conn = Connection.objects.get(pk=conn.pk)
    assert conn.get_secrets() == {"access_token": CANARY}  # the old key still decrypts
    connection_update(connection=conn, data={"secrets": {"access_token": "pat-na1-rotated-value"}})
    token = stored_token(conn.pk)
    assert opens(KEY_NEW, token) and not opens(KEY_OLD, token)

    fresh = connection_create(name="hs2", kind="hubspot", config={}, secrets={"access_token": CANARY})
    assert opens(KEY_NEW, stored_token(fresh.pk)) and not opens(KEY_OLD, stored_token(fresh.pk))


def test_rotating_a_connection_re_encrypts_it_with_the_newest_key_once(in_tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY})
    before = Connection.objects.get(pk=conn.pk).updated_at
    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW, KEY_OLD]
    assert connection_secrets_rotate(connection=conn) is True
    assert connection_secrets_rotate(connection=conn) is False  # already on the newest key
    assert opens(KEY_NEW, stored_token(conn.pk)) and not opens(KEY_OLD, stored_token(conn.pk))
    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW]  # the old key can now go
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.get_secrets() == {"access_token": CANARY}
    assert stored.updated_at == before


def test_the_rotate_command_re_encrypts_every_tenant_and_reports_unreadable_rows(tenant_a, tenant_b, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    ids = {}
    for tenant in (tenant_a, tenant_b):
        db.set_tenant(tenant)
        ids[tenant.slug] = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY}).pk
    db.set_schema_to_public()
    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW, KEY_OLD]
    out = io.StringIO()
    call_command("rotate_connection_secrets", stdout=out)
    assert "re-encrypted 2 connection(s)" in out.getvalue()
    for tenant in (tenant_a, tenant_b):
        db.set_tenant(tenant)
        assert opens(KEY_NEW, stored_token(ids[tenant.slug]))

    # A row no configured key opens is named, left alone, and makes the command fail.
    settings.CONNECTION_SECRETS_KEYS = [KEY_OTHER]
    db.set_tenant(tenant_b)
    before = stored_token(ids["beta"])
    db.set_schema_to_public()
    with pytest.raises(CommandError, match=r"could not be decrypted.*beta/"):
        call_command("rotate_connection_secrets", "--tenant", "beta", stdout=io.StringIO())
    db.set_tenant(tenant_b)
    assert stored_token(ids["beta"]) == before


def test_a_wrong_key_is_a_clear_permanent_error_when_a_driver_needs_the_secrets(in_tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": CANARY})
    settings.CONNECTION_SECRETS_KEYS = [KEY_OTHER]
    conn = Connection.objects.get(pk=conn.pk)  # loading the row never needs the key
    with pytest.raises(SecretsUnreadable, match="cannot be decrypted with the configured CONNECTION_SECRETS_KEYS"):
        driver_for(conn)
    result = connection_test(connection=conn)
    assert result.ok is False and "cannot be decrypted" in result.message
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "error" and "cannot be decrypted" in stored.last_error


def test_a_wrong_key_leaves_lists_details_and_the_admin_working(api_a, web_a, tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    db.set_tenant(tenant_a)
    conn = ConnectionFactory(name="HS", kind="hubspot", secrets={"access_token": CANARY})
    db.set_schema_to_public()
    settings.CONNECTION_SECRETS_KEYS = [KEY_OTHER]
    url = f"/api/connections/{conn.pk}/"
    listing = api_a.get("/api/connections/")
    assert listing.status_code == 200 and listing.json()["results"][0]["secrets_set"] == ["access_token"]
    assert api_a.get(url).status_code == 200
    tested = api_a.post(f"{url}test/")
    assert tested.status_code == 200 and tested.json()["ok"] is False
    assert "cannot be decrypted" in tested.json()["message"]
    schema = api_a.get(f"{url}schema/")
    assert schema.status_code == 400 and "cannot be decrypted" in schema.json()["error"]["message"]
    assert web_a.get("/admin/connectors/connection/").status_code == 200
    assert web_a.get(f"/admin/connectors/connection/{conn.pk}/change/").status_code == 200
    assert api_a.patch(url, {"name": "HubSpot EU"}, format="json").status_code == 200


def test_after_a_lost_key_secrets_sent_again_replace_the_unreadable_ones(in_tenant_a, settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_OLD]
    conn = connection_create(
        name="sf",
        kind="salesforce",
        config={"client_id": "cid", "auth_flow": "refresh_token"},
        secrets={"client_secret": "s", "refresh_token": "r"},
    )
    settings.CONNECTION_SECRETS_KEYS = [KEY_OTHER]
    conn = Connection.objects.get(pk=conn.pk)
    with pytest.raises(ValidationError) as info:
        connection_update(connection=conn, data={"config": {"api_version": "v61.0"}})
    assert "cannot be decrypted" in str(info.value.message_dict["secrets"])
    with pytest.raises(ValidationError) as info:  # not merged onto what cannot be read: all of them again
        connection_update(connection=conn, data={"secrets": {"client_secret": "s2"}})
    assert "secrets.refresh_token" in info.value.message_dict
    conn = connection_update(connection=conn, data={"secrets": {"client_secret": "s2", "refresh_token": "r2"}})
    assert Connection.objects.get(pk=conn.pk).get_secrets() == {"client_secret": "s2", "refresh_token": "r2"}


def test_a_malformed_key_is_a_configuration_error_that_never_echoes_the_key(settings):
    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW, "not-a-fernet-key-but-a-secret"]
    with pytest.raises(ImproperlyConfigured, match="entry #2 is not a valid key") as info:
        secretbox.encrypt({"a": "b"})
    assert "not-a-fernet-key-but-a-secret" not in str(info.value)
    from connectors.checks import secrets_keys_check

    assert [m.id for m in secrets_keys_check()] == ["connectors.E001"]
    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW]
    assert secrets_keys_check() == []


def test_the_keys_setting_also_accepts_a_comma_separated_string(settings):
    settings.CONNECTION_SECRETS_KEYS = f"{KEY_NEW}, {KEY_OLD}"
    token = secretbox.encrypt({"a": "b"}).encode()
    assert opens(KEY_NEW, token) and not opens(KEY_OLD, token)


def test_the_migration_encrypts_existing_rows_and_decrypts_them_back(tenant_a, settings):
    from django.db.migrations.executor import MigrationExecutor

    settings.CONNECTION_SECRETS_KEYS = [KEY_NEW]
    db.set_tenant(tenant_a)
    executor = MigrationExecutor(db)
    executor.migrate([("connectors", "0001_initial")])
    with db.cursor() as cursor:
        cursor.execute(
            "INSERT INTO connectors_connection (name, kind, config, secrets, status, last_error, cursor, "
            "drift_policy, domain, created_at, updated_at) VALUES ('old', 'hubspot', '{}', %s, 'new', '', '{}', "
            "'auto', '', now(), now()) RETURNING id",
            [f'{{"access_token": "{CANARY}", "dropped": null}}'],
        )
        pk = cursor.fetchone()[0]
    executor = MigrationExecutor(db)
    executor.migrate([("connectors", "0002_encrypt_secrets")])
    assert CANARY not in raw_row(pk)
    stored = Connection.objects.defer("currency").get(pk=pk)  # a later migration adds the currency
    assert stored.get_secrets() == {"access_token": CANARY} and stored.secret_names == ["access_token"]
    assert opens(KEY_NEW, stored_token(pk))

    executor = MigrationExecutor(db)
    executor.migrate([("connectors", "0001_initial")])
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets FROM connectors_connection WHERE id = %s", [pk])
        assert json.loads(cursor.fetchone()[0]) == {"access_token": CANARY}
    executor = MigrationExecutor(db)
    executor.migrate([n for n in executor.loader.graph.leaf_nodes() if n[0] == "connectors"])


def test_secrets_never_show_in_api_output_after_encryption(api_a):
    created = api_a.post(
        "/api/connections/",
        {"name": "HS", "kind": "hubspot", "config": {}, "secrets": {"access_token": CANARY}},
        format="json",
        HTTP_HOST=host_of(api_a.tenant),
    )
    assert created.status_code == 201
    body = created.content.decode()
    assert CANARY not in body and "ciphertext" not in body
    assert created.json()["secrets_set"] == ["access_token"]


def test_the_secrets_alias_of_older_code_encrypts_and_decrypts_too(in_tenant_a):
    conn = Connection.objects.create(name="old style", kind="hubspot", secrets={"access_token": CANARY})
    assert CANARY not in raw_row(conn.pk)
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.secrets["access_token"] == CANARY and stored.secret_names == ["access_token"]
