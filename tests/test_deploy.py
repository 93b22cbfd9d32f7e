import os
import subprocess
import sys

from tests.conftest import ROOT


def test_deploy_check_passes_with_production_settings():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="autonomos.settings.production",
               DJANGO_SECRET_KEY="x" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
               DJANGO_ALLOWED_HOSTS=".example.com", JWT_SIGNING_KEY="y" * 64)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")}
    env["DJANGO_SETTINGS_MODULE"] = "autonomos.settings.production"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_bad_numeric_setting_is_a_configuration_error():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="autonomos.settings.test", AAM_BATCH_CHUNK_SIZE="-3")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "AAM_BATCH_CHUNK_SIZE must be > 0" in result.stderr
