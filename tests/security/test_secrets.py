"""Per-install secrets (issue #14): made once per install in a private file, never a published default,
required and checked in production, rotated without losing a connection secret or a session."""

from __future__ import annotations

import base64
import io
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db
from django.test import Client
from rest_framework.test import APIClient

from autonomos.core import secrets as install_secrets
from autonomos.core.secrets import LEGACY_DEFAULT_SECRET_KEY as OLD_DEFAULT
from connectors import secretbox
from connectors.models import Connection
from connectors.services import connection_create
from tests.conftest import PASSWORD, ROOT, host_of

CANARY = "pat-na1-secret-canary-4412"
SECRET_VARIABLES = ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FALLBACKS", "JWT_SIGNING_KEY", "CONNECTION_SECRETS_KEYS",
                    "AUTONOMOS_SECRETS_FILE")
PRINT_KEYS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SECRET_KEY, s.SIMPLE_JWT['SIGNING_KEY'], ','.join(s.CONNECTION_SECRETS_KEYS))"
)


def controlled_env(secrets_file, **values) -> dict:
    """This process's environment without any key (and a secrets file of the test's own)."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES and k != "DJANGO_DEBUG"}
    env["AUTONOMOS_SECRETS_FILE"] = str(secrets_file)
    env.update(values)
    return env


def run_python(code: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


def good_keys() -> dict[str, str]:
    return {name: generate() for name, generate in install_secrets.GENERATORS.items()}


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def opens(key: str | bytes, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def stored_token(pk: int) -> str:
    return Connection.objects.values_list("secrets_ciphertext", flat=True).get(pk=pk)


# --- Made once per install --------------------------------------------------------------------------------


def test_the_first_run_creates_a_private_file_with_three_distinct_random_keys(tmp_path):
    path = tmp_path / "var" / "secrets.env"
    # umask 0: the file must be private because of how it is created, not thanks to the caller's umask.
    result = subprocess.run([sys.executable, "-m", "autonomos.core.secrets", "ensure"], cwd=ROOT,
                            env=controlled_env(path), capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: os.umask(0))
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout and "mode 600" in result.stdout
    assert mode(path) == 0o600
    keys = install_secrets.read_file(path)
    assert set(keys) == set(install_secrets.REQUIRED)
    assert len(set(keys.values())) == 3
    assert install_secrets.problems(secret_key=keys["DJANGO_SECRET_KEY"], jwt_signing_key=keys["JWT_SIGNING_KEY"],
                                    connection_keys=[keys["CONNECTION_SECRETS_KEYS"]]) == []
    Fernet(keys["CONNECTION_SECRETS_KEYS"].encode())  # a usable Fernet key
    # Random, not a constant of the code: another install gets other keys.
    other = tmp_path / "other.env"
    install_secrets.ensure_file(other)
    assert set(install_secrets.read_file(other).values()).isdisjoint(keys.values())


def test_a_second_run_reuses_the_keys(tmp_path):
    path = tmp_path / "secrets.env"
    assert install_secrets.ensure_file(path) == list(install_secrets.REQUIRED)
    before = path.read_text()
    result = subprocess.run([sys.executable, "-m", "autonomos.core.secrets", "ensure"], cwd=ROOT,
                            env=controlled_env(path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "using the secrets in" in result.stdout
    assert install_secrets.ensure_file(path) == []
    assert path.read_text() == before


def test_a_file_lacking_a_key_gets_that_one_only_and_becomes_private(tmp_path):
    path = tmp_path / "secrets.env"
    kept = install_secrets.new_secret_key()
    path.write_text(f"# mine\nDJANGO_SECRET_KEY={kept}\nDJANGO_DEBUG=true\n")
    path.chmod(0o644)
    assert install_secrets.ensure_file(path) == ["JWT_SIGNING_KEY", "CONNECTION_SECRETS_KEYS"]
    values = install_secrets.read_file(path)
    assert values["DJANGO_SECRET_KEY"] == kept and values["DJANGO_DEBUG"] == "true"
    assert "# mine" in path.read_text()
    assert mode(path) == 0o600
    path.chmod(0o644)
    assert install_secrets.ensure_file(path) == []
    assert mode(path) == 0o600


def test_the_run_script_makes_the_secrets_before_anything_starts(tmp_path):
    path = tmp_path / "secrets.env"
    result = subprocess.run(["bash", "-c", "source scripts/lib.sh && ensure_secrets"], cwd=ROOT,
                            env=controlled_env(path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert mode(path) == 0o600 and set(install_secrets.read_file(path)) == set(install_secrets.REQUIRED)
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert run_sh.index("ensure_secrets") < run_sh.index("migrate_schemas") < run_sh.index("scripts/web.sh")


def test_processes_starting_together_on_a_fresh_install_share_one_set_of_keys(tmp_path):
    """Local settings make the file when a key is missing (manage.py before `make run`, uvicorn's
    workers starting at once): under the lock, every process ends up with the same keys."""
    path = tmp_path / "secrets.env"
    env = controlled_env(path, DJANGO_SETTINGS_MODULE="autonomos.settings.local")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: run_python(PRINT_KEYS, env), range(6)))
    assert all(r.returncode == 0 for r in results), [r.stderr[-500:] for r in results]
    outputs = {r.stdout for r in results}
    assert len(outputs) == 1
    debug, secret_key, jwt_key, connection_keys = outputs.pop().split()
    stored = install_secrets.read_file(path)
    assert (secret_key, jwt_key, connection_keys) == (
        stored["DJANGO_SECRET_KEY"], stored["JWT_SIGNING_KEY"], stored["CONNECTION_SECRETS_KEYS"])
    assert debug == "False"
    assert OLD_DEFAULT not in (secret_key, jwt_key)
    assert mode(path) == 0o600


def test_local_settings_keep_debug_off_unless_asked(tmp_path):
    path = tmp_path / "secrets.env"
    install_secrets.ensure_file(path)
    env = controlled_env(path, DJANGO_SETTINGS_MODULE="autonomos.settings.local")
    assert run_python(PRINT_KEYS, env).stdout.startswith("False ")
    assert run_python(PRINT_KEYS, dict(env, DJANGO_DEBUG="true")).stdout.startswith("True ")


def test_local_settings_refuse_the_old_default_key(tmp_path):
    path = tmp_path / "secrets.env"
    install_secrets.ensure_file(path)
    env = controlled_env(path, DJANGO_SETTINGS_MODULE="autonomos.settings.local", DJANGO_SECRET_KEY=OLD_DEFAULT)
    result = run_python(PRINT_KEYS, env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is a published value" in result.stderr
    assert "wins over" in result.stderr  # says why the file's own key was not used


def test_the_shared_settings_have_no_key_to_fall_back_to(tmp_path):
    code = ("import autonomos.settings.base as b; "
            "print(repr(b.SECRET_KEY), repr(b.SIMPLE_JWT['SIGNING_KEY']), b.CONNECTION_SECRETS_KEYS)")
    result = run_python(code, controlled_env(tmp_path / "absent.env"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["''", "''", "[]"]


# --- Production refuses what it must not run with ------------------------------------------------------


def _production(tmp_path, **values) -> subprocess.CompletedProcess:
    env = controlled_env(tmp_path / "absent.env", DJANGO_SETTINGS_MODULE="autonomos.settings.production",
                         DJANGO_ALLOWED_HOSTS=".example.com", **values)
    return run_python("import autonomos.settings.production", env)


def test_production_starts_with_three_distinct_random_keys(tmp_path):
    result = _production(tmp_path, **good_keys())
    assert result.returncode == 0, result.stderr


FERNET_OF_ZEROS = base64.urlsafe_b64encode(bytes(32)).decode()
LONG = "k3Y" * 20  # long enough, several characters: only the prefix in front of it is the problem


@pytest.mark.parametrize(("changes", "expected"), [
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY is not set"),
    ({"JWT_SIGNING_KEY": None}, "JWT_SIGNING_KEY is not set"),
    ({"CONNECTION_SECRETS_KEYS": None}, "CONNECTION_SECRETS_KEYS is not set"),
    ({"DJANGO_SECRET_KEY": OLD_DEFAULT}, "DJANGO_SECRET_KEY is a published value"),
    ({"JWT_SIGNING_KEY": OLD_DEFAULT}, "JWT_SIGNING_KEY is a published value"),
    ({"DJANGO_SECRET_KEY": "change-me-to-a-long-random-string"}, "DJANGO_SECRET_KEY is a published value"),
    ({"DJANGO_SECRET_KEY": "dev-insecure-" + LONG}, "DJANGO_SECRET_KEY is a published value"),
    ({"JWT_SIGNING_KEY": "change-me-" + LONG}, "JWT_SIGNING_KEY is a published value"),
    ({"JWT_SIGNING_KEY": install_secrets.TEST_JWT_SIGNING_KEY}, "JWT_SIGNING_KEY is a published value"),
    ({"CONNECTION_SECRETS_KEYS": install_secrets.TEST_CONNECTION_KEY},
     "CONNECTION_SECRETS_KEYS entry #1 is a published value"),
    ({"DJANGO_SECRET_KEY": "short-Key-123"}, "DJANGO_SECRET_KEY is too short (13 characters"),
    ({"JWT_SIGNING_KEY": "y" * 64}, "JWT_SIGNING_KEY is not random"),
    ({"CONNECTION_SECRETS_KEYS": "not-a-fernet-key"}, "CONNECTION_SECRETS_KEYS entry #1 is not a Fernet key"),
    ({"CONNECTION_SECRETS_KEYS": FERNET_OF_ZEROS}, "CONNECTION_SECRETS_KEYS entry #1 is not random"),
    ({"DJANGO_SECRET_KEY_FALLBACKS": OLD_DEFAULT}, "DJANGO_SECRET_KEY_FALLBACKS entry #1 is a published value"),
    ("jwt=secret", "DJANGO_SECRET_KEY and JWT_SIGNING_KEY are the same value"),
    ("jwt=old secret", "JWT_SIGNING_KEY is also in DJANGO_SECRET_KEY_FALLBACKS"),
])
def test_production_refuses_to_start_with_a_missing_weak_published_or_shared_key(tmp_path, changes, expected):
    keys = good_keys()
    if changes == "jwt=secret":
        changes = {"JWT_SIGNING_KEY": keys["DJANGO_SECRET_KEY"]}
    elif changes == "jwt=old secret":
        changes = {"DJANGO_SECRET_KEY_FALLBACKS": keys["JWT_SIGNING_KEY"]}
    for name, value in changes.items():
        if value is None:
            del keys[name]
        else:
            keys[name] = value
    result = _production(tmp_path, **keys)
    assert result.returncode != 0
    assert "ImproperlyConfigured: Refusing to start with unsafe secrets" in result.stderr
    assert expected in result.stderr
    assert not [value for value in keys.values() if value in result.stderr]  # names, never values


def test_production_refuses_a_connection_key_equal_to_another_key(tmp_path):
    keys = good_keys()
    shared = keys["CONNECTION_SECRETS_KEYS"] + "-used-twice-" + install_secrets.new_secret_key()
    result = _production(tmp_path, **dict(keys, DJANGO_SECRET_KEY=shared,
                                          CONNECTION_SECRETS_KEYS=f"{keys['CONNECTION_SECRETS_KEYS']},{shared}"))
    assert result.returncode != 0
    assert "CONNECTION_SECRETS_KEYS holds the same value as DJANGO_SECRET_KEY" in result.stderr


def test_production_reads_the_keys_from_the_file_it_is_given(tmp_path):
    path = tmp_path / "secrets.env"
    install_secrets.ensure_file(path)
    env = controlled_env(path, DJANGO_SETTINGS_MODULE="autonomos.settings.production",
                         DJANGO_ALLOWED_HOSTS=".example.com")
    assert run_python(PRINT_KEYS, env).returncode == 0


# --- The old public key opens nothing ----------------------------------------------------------------


def test_a_token_signed_with_the_old_public_default_key_is_refused(tenant_a, settings, monkeypatch):
    """Before: SECRET_KEY defaulted to a constant of the repository and the JWT key to SECRET_KEY, so
    anyone could sign a token for any user of a `make run` install."""
    from tenants import auth

    db.set_tenant(tenant_a)
    user = get_user_model().objects.get(username="admin")
    claims = dict(auth.issue_tokens(user, tenant_a).access_token.payload)
    with monkeypatch.context() as patched:  # the token version is an HMAC with the signing key too
        patched.setattr(auth, "jwt_settings", SimpleNamespace(SIGNING_KEY=OLD_DEFAULT))
        forged_version = auth.token_version(user)
    db.set_schema_to_public()
    forged = jwt.encode({**claims, "ver": forged_version}, OLD_DEFAULT, algorithm="HS256")
    client = APIClient(HTTP_HOST=host_of(tenant_a))
    assert client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
    # The same claims signed with the install's own key pass: the key is the only difference.
    genuine = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    assert client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {genuine}").status_code == 200
    assert settings.SIMPLE_JWT["SIGNING_KEY"] not in (OLD_DEFAULT, settings.SECRET_KEY)


# --- Rotation ---------------------------------------------------------------------------------------


def _secrets_file_in_use(tmp_path, settings):
    """A secrets file holding exactly the keys the settings use, as on a `make run` install."""
    path = tmp_path / "secrets.env"
    install_secrets.update_file(path, {
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "CONNECTION_SECRETS_KEYS": ",".join(settings.CONNECTION_SECRETS_KEYS),
    })
    return path


def _use_file(path, settings):
    values = install_secrets.read_file(path)
    settings.SECRET_KEY = values["DJANGO_SECRET_KEY"]
    settings.SECRET_KEY_FALLBACKS = [k for k in values.get("DJANGO_SECRET_KEY_FALLBACKS", "").split(",") if k]
    settings.CONNECTION_SECRETS_KEYS = values["CONNECTION_SECRETS_KEYS"].split(",")
    return values


def test_an_upgraded_install_reads_its_old_secrets_and_rotation_moves_them_to_its_own_key(
    tenant_a, tenant_b, settings, tmp_path
):
    # Before the upgrade: a `make run` install, the public default SECRET_KEY and no connection key.
    settings.SECRET_KEY = OLD_DEFAULT
    settings.CONNECTION_SECRETS_KEYS = []
    ids = {}
    for tenant in (tenant_a, tenant_b):
        db.set_tenant(tenant)
        ids[tenant.slug] = connection_create(name="hs", kind="hubspot", config={},
                                             secrets={"access_token": CANARY}).pk
        old_token = stored_token(ids[tenant.slug])
        assert opens(secretbox.derived_key(OLD_DEFAULT), old_token)
    db.set_schema_to_public()

    # The upgrade: `make run` writes the install's own keys; old rows still open (decryption fallback).
    path = tmp_path / "secrets.env"
    install_secrets.ensure_file(path)
    first = _use_file(path, settings)["CONNECTION_SECRETS_KEYS"]
    db.set_tenant(tenant_b)
    assert Connection.objects.get(pk=ids["beta"]).get_secrets() == {"access_token": CANARY}
    db.set_schema_to_public()

    # Rotation: the file first gets the new key (the first one kept after it), then every row moves.
    out = io.StringIO()
    call_command("rotate_secrets", "--connection-key", "--file", str(path), stdout=out)
    assert "re-encrypted 2 connection(s)" in out.getvalue() and "restart" in out.getvalue().lower()
    keys = _use_file(path, settings)["CONNECTION_SECRETS_KEYS"].split(",")
    assert len(keys) == 2 and keys[1] == first and keys[0] != first
    assert mode(path) == 0o600
    for tenant in (tenant_a, tenant_b):
        db.set_tenant(tenant)
        token = stored_token(ids[tenant.slug])
        assert opens(keys[0], token) and not opens(secretbox.derived_key(OLD_DEFAULT), token)
        assert Connection.objects.get(pk=ids[tenant.slug]).get_secrets() == {"access_token": CANARY}
    db.set_schema_to_public()
    # A ciphertext made with the first key (a process not restarted yet) still opens.
    with_first = Fernet(first.encode()).encrypt(b'{"access_token":"x"}').decode()
    assert secretbox.decrypt(with_first) == {"access_token": "x"}

    # Dropping the old keys leaves the newest only, and every row still opens with it alone.
    out = io.StringIO()
    call_command("rotate_secrets", "--drop-old", "--file", str(path), stdout=out)
    assert "dropped 1 older key(s)" in out.getvalue()
    assert _use_file(path, settings)["CONNECTION_SECRETS_KEYS"] == keys[0]
    for tenant in (tenant_a, tenant_b):
        db.set_tenant(tenant)
        assert Connection.objects.get(pk=ids[tenant.slug]).get_secrets() == {"access_token": CANARY}
        assert Fernet(keys[0].encode()).decrypt(stored_token(ids[tenant.slug]).encode())


def test_a_row_no_key_opens_stops_the_rotation_before_any_key_is_dropped(in_tenant_a, settings, tmp_path):
    conn = connection_create(name="hs", kind="hubspot", config={}, secrets={"access_token": CANARY})
    Connection.objects.filter(pk=conn.pk).update(
        secrets_ciphertext=Fernet(Fernet.generate_key()).encrypt(b"{}").decode())
    db.set_schema_to_public()
    path = _secrets_file_in_use(tmp_path, settings)
    with pytest.raises(CommandError, match=r"could not be decrypted.*alpha/.*no key was dropped"):
        call_command("rotate_secrets", "--connection-key", "--drop-old", "--file", str(path), stdout=io.StringIO())
    keys = install_secrets.read_file(path)["CONNECTION_SECRETS_KEYS"].split(",")
    assert len(keys) == 2 and keys[1] == install_secrets.TEST_CONNECTION_KEY  # the new key saved, none dropped


def test_rotating_the_secret_key_keeps_sessions_until_the_next_rotation(web_a, tenant_a, settings, tmp_path):
    path = _secrets_file_in_use(tmp_path, settings)
    first = settings.SECRET_KEY
    signed = signing.dumps({"reset": "link"})
    idle = Client(HTTP_HOST=host_of(tenant_a))
    db.set_tenant(tenant_a)
    assert idle.login(username="admin", password=PASSWORD)
    db.set_schema_to_public()
    assert web_a.get("/").status_code == 200

    out = io.StringIO()
    call_command("rotate_secrets", "--secret-key", "--file", str(path), stdout=out)
    values = _use_file(path, settings)
    second = values["DJANGO_SECRET_KEY"]
    assert second != first and values["DJANGO_SECRET_KEY_FALLBACKS"] == first
    assert install_secrets.problems(secret_key=second, jwt_signing_key=install_secrets.new_jwt_signing_key(),
                                    connection_keys=[install_secrets.new_connection_key()]) == []
    assert signing.loads(signed) == {"reset": "link"}
    # Still logged in; Django moves the session to the current key on this request.
    assert web_a.get("/").status_code == 200

    call_command("rotate_secrets", "--secret-key", "--file", str(path), stdout=io.StringIO())
    values = _use_file(path, settings)
    assert values["DJANGO_SECRET_KEY_FALLBACKS"] == second  # only the one before; the first is gone
    with pytest.raises(signing.BadSignature):
        signing.loads(signed)
    assert web_a.get("/").status_code == 200  # used since the first rotation: on the second key
    assert idle.get("/").status_code == 302  # still on the first key, which is gone: back to the login page


def test_a_row_on_a_key_derived_from_the_secret_key_moves_before_that_key_is_rotated_away(
    in_tenant_a, settings, tmp_path
):
    # An install that had its own SECRET_KEY but no connection key: rows on the key derived from it.
    settings.CONNECTION_SECRETS_KEYS = []
    conn = connection_create(name="hs", kind="hubspot", config={}, secrets={"access_token": CANARY})
    assert opens(secretbox.derived_key(settings.SECRET_KEY), stored_token(conn.pk))
    settings.CONNECTION_SECRETS_KEYS = [install_secrets.TEST_CONNECTION_KEY]
    db.set_schema_to_public()
    path = _secrets_file_in_use(tmp_path, settings)
    original = settings.SECRET_KEY
    for _ in range(2):
        call_command("rotate_secrets", "--secret-key", "--file", str(path), stdout=io.StringIO())
        values = _use_file(path, settings)
    assert original not in (values["DJANGO_SECRET_KEY"], values["DJANGO_SECRET_KEY_FALLBACKS"])
    db.set_tenant(in_tenant_a)
    assert opens(install_secrets.TEST_CONNECTION_KEY, stored_token(conn.pk))
    assert Connection.objects.get(pk=conn.pk).get_secrets() == {"access_token": CANARY}


def test_rotating_the_jwt_key_writes_a_new_one_and_says_everyone_is_logged_out(db, settings, tmp_path):
    path = _secrets_file_in_use(tmp_path, settings)
    before = install_secrets.read_file(path)
    out = io.StringIO()
    call_command("rotate_secrets", "--jwt-key", "--file", str(path), stdout=out)
    after = install_secrets.read_file(path)
    assert after["JWT_SIGNING_KEY"] != before["JWT_SIGNING_KEY"]
    assert {k: v for k, v in after.items() if k != "JWT_SIGNING_KEY"} == {
        k: v for k, v in before.items() if k != "JWT_SIGNING_KEY"}
    assert "must log in again" in out.getvalue()
    assert mode(path) == 0o600


def test_rotation_refuses_a_key_that_is_set_outside_the_file(db, settings, tmp_path):
    path = _secrets_file_in_use(tmp_path, settings)
    before = path.read_text()
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": install_secrets.new_jwt_signing_key()}
    with pytest.raises(CommandError, match="JWT_SIGNING_KEY in use is not the one in .* set in the environment"):
        call_command("rotate_secrets", "--jwt-key", "--file", str(path), stdout=io.StringIO())
    settings.CONNECTION_SECRETS_KEYS = [install_secrets.new_connection_key()]
    with pytest.raises(CommandError, match="CONNECTION_SECRETS_KEYS in use is not the one"):
        call_command("rotate_secrets", "--connection-key", "--file", str(path), stdout=io.StringIO())
    assert path.read_text() == before
    with pytest.raises(CommandError, match="say what to rotate"):
        call_command("rotate_secrets", "--file", str(path))
