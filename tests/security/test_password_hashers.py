"""Passwords are hashed with Argon2 wherever the product runs (issue #15).

The test settings put Django's MD5 hasher first so the suite does not spend its time in Argon2; the
guarantee that real installs use Argon2 is proved here, on the settings modules the product starts
with (production, local, and base beneath both), each imported in a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher, make_password

from autonomos.core import secrets as install_secrets
from tests.conftest import ROOT

SECRET_VARIABLES = ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FALLBACKS", "JWT_SIGNING_KEY", "CONNECTION_SECRETS_KEYS",
                    "AUTONOMOS_SECRETS_FILE", "DJANGO_DEBUG")
HASH_A_PASSWORD = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "from django.contrib.auth.hashers import make_password, check_password; "
    "h = make_password('Prod-password-2026!'); "
    "print(json.dumps({'hashers': s.PASSWORD_HASHERS, 'hash': h, 'ok': check_password('Prod-password-2026!', h)}))"
)


def _settings_env(module: str, tmp_path) -> dict:
    """This environment with fresh keys of the test's own and a secrets file nobody else reads."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
    env.update({name: generate() for name, generate in install_secrets.GENERATORS.items()})
    env.update(DJANGO_SETTINGS_MODULE=module, DJANGO_ALLOWED_HOSTS=".example.com",
               AUTONOMOS_SECRETS_FILE=str(tmp_path / "secrets.env"))
    return env


@pytest.mark.parametrize("module", ["autonomos.settings.production", "autonomos.settings.local",
                                    "autonomos.settings.base"])
def test_argon2_hashes_passwords_in_the_settings_the_product_runs_with(module, tmp_path):
    result = subprocess.run([sys.executable, "-c", HASH_A_PASSWORD], cwd=ROOT, env=_settings_env(module, tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["hashers"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.MD5PasswordHasher" not in out["hashers"]
    assert out["hash"].startswith("argon2$argon2id$")
    assert out["ok"] is True


def test_the_test_settings_hash_fast_and_still_verify_argon2_hashes():
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.MD5PasswordHasher"
    assert identify_hasher(make_password("Fast-pass-2026!")).algorithm == "md5"
    # A hash made by a real install (Argon2) still verifies under the test settings.
    assert "django.contrib.auth.hashers.Argon2PasswordHasher" in settings.PASSWORD_HASHERS
    from django.contrib.auth.hashers import Argon2PasswordHasher

    argon2_hash = Argon2PasswordHasher().encode("Real-pass-2026!", Argon2PasswordHasher().salt())
    assert check_password("Real-pass-2026!", argon2_hash)
    assert not check_password("Wrong-pass-2026!", argon2_hash)
