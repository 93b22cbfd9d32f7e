"""Connection secrets encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256), MultiFernet for rotation.

Keys come from `CONNECTION_SECRETS_KEYS` (a list, newest first; in the environment a comma-separated
string). Each install has its own (var/secrets.env, made by `make run`; required in production). The
newest key encrypts; every key decrypts.

Older installs had no such key: their rows were encrypted with a key derived (HKDF-SHA256) from
SECRET_KEY, which on a `make run` install was the published default. So besides the configured keys,
decryption also tries the keys derived from SECRET_KEY, from each SECRET_KEY_FALLBACKS entry and from
that old default: after the upgrade every row still opens, and `manage.py rotate_secrets` re-encrypts
them with the install's own key. Those derived keys never encrypt while a key is configured (with
none, the one derived from SECRET_KEY does, as before).

A stored value that no configured key opens raises `SecretsUnreadable` (a PermanentError, so every
caller that already handles a source's bad credentials reports it the same way: once, with a clear
message, no retry loop). Nothing decrypts secrets unless a driver needs them: lists, detail pages and
the admin read only `Connection.secret_names`.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from autonomos.core.secrets import LEGACY_DEFAULT_SECRET_KEY

from .errors import PermanentError

_HKDF_INFO = b"autonomos connection secrets v1"
KEY_HELP = (
    "a Fernet key is 32 url-safe base64-encoded bytes; make one with "
    "`python manage.py rotate_connection_secrets --generate-key`, or rotate the install's own with "
    "`python manage.py rotate_secrets --connection-key`"
)


class SecretsUnreadable(PermanentError):
    """The stored secrets cannot be decrypted with any configured key."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from Django's SECRET_KEY (the default when no keys are configured)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def configured_keys() -> list[str]:
    """CONNECTION_SECRETS_KEYS as a list of key strings, newest first (a string is split on commas)."""
    value = getattr(settings, "CONNECTION_SECRETS_KEYS", None) or []
    if isinstance(value, str):
        value = value.split(",")
    return [k.strip() for k in value if k and k.strip()]


def _parse(keys: tuple[str, ...]) -> list[Fernet]:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            # Never echo the key itself: it is a secret even when malformed.
            raise ImproperlyConfigured(
                f"CONNECTION_SECRETS_KEYS entry #{position} is not a valid key: {KEY_HELP}"
            ) from None
    return fernets


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...], secret_keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = _parse(keys)
    # Decryption fallbacks, after the configured keys: the first encrypts only when none is configured.
    derived = dict.fromkeys(derived_key(k) for k in (*secret_keys, LEGACY_DEFAULT_SECRET_KEY) if k)
    fernets += [Fernet(key) for key in derived]
    return MultiFernet(fernets), fernets[0]


def _current() -> tuple[MultiFernet, Fernet]:
    secret_keys = (str(settings.SECRET_KEY), *map(str, getattr(settings, "SECRET_KEY_FALLBACKS", None) or ()))
    return _keyring(tuple(configured_keys()), secret_keys)


def box() -> MultiFernet:
    """The MultiFernet for the current settings: encrypts with the newest key, decrypts with any."""
    return _current()[0]


def newest() -> Fernet:
    """The key new writes use."""
    return _current()[1]


def validate_keys() -> None:
    """Raise ImproperlyConfigured when a configured key is malformed (used by the system check)."""
    _parse(tuple(configured_keys()))


def encrypt(values: dict[str, Any]) -> str:
    """A Fernet token (text) holding `values` as JSON; the empty dict is stored as ""."""
    if not values:
        return ""
    return box().encrypt(json.dumps(values, separators=(",", ":"), sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    """The secrets in `token`; raises SecretsUnreadable when no configured key opens it."""
    if not token:
        return {}
    try:
        data = box().decrypt(token.encode())
    except InvalidToken:
        raise SecretsUnreadable(
            "the connection's stored secrets cannot be decrypted with the configured CONNECTION_SECRETS_KEYS "
            "(was a key removed before `manage.py rotate_connection_secrets` ran?); add the old key back, "
            "or enter the connection's credentials again"
        ) from None
    value = json.loads(data)
    if not isinstance(value, dict):
        raise SecretsUnreadable("the connection's stored secrets are not a JSON object")
    return value


def is_current(token: str) -> bool:
    """True when `token` is empty or already encrypted with the newest key."""
    if not token:
        return True
    try:
        newest().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """`token` re-encrypted with the newest key (raises SecretsUnreadable when no key opens it)."""
    if not token:
        return ""
    try:
        return box().rotate(token.encode()).decode()
    except InvalidToken:
        decrypt(token)  # raises the clear error
        raise


def generate_key() -> str:
    return Fernet.generate_key().decode()
