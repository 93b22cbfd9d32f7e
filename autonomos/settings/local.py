"""Developer machine (`make run`, and `manage.py` by default).

DEBUG is off unless DJANGO_DEBUG=true: `make run` listens on every interface, and a debug page shows
settings and source to whoever reaches it. Static files come from whitenoise either way.

Secrets: each install has its own, in var/secrets.env (autonomos/core/secrets.py). When a key is in
neither the environment, .env nor that file (`manage.py` before the first `make run`), the file is
created or completed here exactly as `make run` does, never replacing a key it holds. Then the keys
are checked as in production: a missing, short, shared or published key stops start-up.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

from autonomos.core import secrets as install_secrets

from .base import *  # noqa: F403
from .base import SECRET_KEY_FALLBACKS, SECRETS_FILE, SIMPLE_JWT, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if install_secrets.missing_from_environment():
    try:
        install_secrets.ensure_file(SECRETS_FILE)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot create the secrets file {SECRETS_FILE} ({exc.strerror}): make it writable, point "
            "AUTONOMOS_SECRETS_FILE at a writable path, or set DJANGO_SECRET_KEY, JWT_SIGNING_KEY and "
            "CONNECTION_SECRETS_KEYS in the environment"
        ) from exc
    environ.Env.read_env(str(SECRETS_FILE))
SECRET_KEY = env("DJANGO_SECRET_KEY")
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY")
CONNECTION_SECRETS_KEYS = env.list("CONNECTION_SECRETS_KEYS")
install_secrets.check(
    secret_key=SECRET_KEY,
    jwt_signing_key=SIMPLE_JWT["SIGNING_KEY"],
    connection_keys=CONNECTION_SECRETS_KEYS,
    secret_key_fallbacks=SECRET_KEY_FALLBACKS,
    hint=f"A key set in the environment or .env wins over {SECRETS_FILE}: remove it there to use the file's.",
)
