"""Production: HTTPS everywhere, and secrets that are the install's own.

DJANGO_SECRET_KEY, JWT_SIGNING_KEY and CONNECTION_SECRETS_KEYS come from the environment (or the file
AUTONOMOS_SECRETS_FILE names); start-up stops with ImproperlyConfigured when one is missing, short,
equal to another or a published value (autonomos/core/secrets.py). There are no defaults to fall back to.
"""

from autonomos.core import secrets as install_secrets

from .base import *  # noqa: F403
from .base import CONNECTION_SECRETS_KEYS, SECRET_KEY, SECRET_KEY_FALLBACKS, SIMPLE_JWT, env

DEBUG = False
install_secrets.check(
    secret_key=SECRET_KEY,
    jwt_signing_key=SIMPLE_JWT["SIGNING_KEY"],
    connection_keys=CONNECTION_SECRETS_KEYS,
    secret_key_fallbacks=SECRET_KEY_FALLBACKS,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
WHITENOISE_USE_FINDERS = False
