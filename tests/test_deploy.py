import os
import subprocess
import sys

from autonomos.core import secrets as install_secrets
from tests.conftest import ROOT

SECRET_VARIABLES = ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FALLBACKS", "JWT_SIGNING_KEY", "CONNECTION_SECRETS_KEYS")


def production_env(tmp_path, **values) -> dict:
    """This environment without any key, and no secrets file: only what the test gives counts."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="autonomos.settings.production", DJANGO_ALLOWED_HOSTS=".example.com",
               AUTONOMOS_SECRETS_FILE=str(tmp_path / "absent.env"))
    env.update(values)
    return env


def test_deploy_check_passes_with_production_settings(tmp_path):
    keys = {name: generate() for name, generate in install_secrets.GENERATORS.items()}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(tmp_path, **keys), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_passes_with_a_secret_key_fallback_after_a_rotation(tmp_path):
    keys = {name: generate() for name, generate in install_secrets.GENERATORS.items()}
    keys["DJANGO_SECRET_KEY_FALLBACKS"] = install_secrets.new_secret_key()
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(tmp_path, **keys), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path, JWT_SIGNING_KEY=install_secrets.new_jwt_signing_key(),
                         CONNECTION_SECRETS_KEYS=install_secrets.new_connection_key())
    del env["DJANGO_ALLOWED_HOSTS"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_settings_refuse_the_old_published_secret_key(tmp_path):
    keys = {name: generate() for name, generate in install_secrets.GENERATORS.items()}
    keys["DJANGO_SECRET_KEY"] = install_secrets.LEGACY_DEFAULT_SECRET_KEY
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT,
                            env=production_env(tmp_path, **keys), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is a published value" in result.stderr


def test_bad_numeric_setting_is_a_configuration_error():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="autonomos.settings.test", AAM_BATCH_CHUNK_SIZE="-3")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "AAM_BATCH_CHUNK_SIZE must be > 0" in result.stderr
