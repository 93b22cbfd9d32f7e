"""Per-install secrets: Django's SECRET_KEY, the JWT signing key and the key that encrypts connection
secrets, each its own random value, generated once per install into a local env file.

- The file is `var/secrets.env` (or `AUTONOMOS_SECRETS_FILE`), never committed. `make run` creates it
  (`python -m autonomos.core.secrets ensure`) and local settings do the same when a key is missing,
  so a `manage.py` command on a fresh checkout works too. The settings read it like `.env`: a real
  environment variable always wins.
- It is written with mode 600 from its first byte (os.open with 0o600, then an atomic rename) under an
  exclusive lock, so processes starting together agree on one set of keys. A key the file holds is
  never replaced here: the connection secrets encrypted with it would be lost. Rotation is
  `manage.py rotate_secrets`.
- `check` runs at start-up (production and local settings): a missing, short, repeated or published
  key is an ImproperlyConfigured naming the variable, never its value.

Nothing here reads Django settings: the settings modules import this module.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fcntl
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from secrets import token_urlsafe

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent.parent
FILE_VARIABLE = "AUTONOMOS_SECRETS_FILE"
DEFAULT_FILE = "var/secrets.env"  # relative to the repository; autonomos/settings/base.py says the same

SECRET_KEY = "DJANGO_SECRET_KEY"
SECRET_KEY_FALLBACKS = "DJANGO_SECRET_KEY_FALLBACKS"
JWT_SIGNING_KEY = "JWT_SIGNING_KEY"
CONNECTION_KEYS = "CONNECTION_SECRETS_KEYS"
REQUIRED = (SECRET_KEY, JWT_SIGNING_KEY, CONNECTION_KEYS)

# The SECRET_KEY every install shared before keys were per install; it is in the repository's history.
# Connection secrets encrypted with the key derived from it stay readable (decryption only, see
# connectors/secretbox.py) until `rotate_secrets` re-encrypts them; nothing signs or encrypts with it.
LEGACY_DEFAULT_SECRET_KEY = "dev-insecure-change-me-0123456789abcdefghijklmnopqrstuvwxyz"

# The test settings' fixed keys (child processes of the tests must share them): published as well.
TEST_SECRET_KEY = "test-only-django-secret-key-never-use-outside-the-test-suite-0123456789"
TEST_JWT_SIGNING_KEY = "test-only-jwt-signing-key-never-use-outside-the-test-suite-0123456789"
TEST_CONNECTION_KEY = base64.urlsafe_b64encode(b"test-only-connection-secrets-key").decode()

PUBLISHED = frozenset({
    LEGACY_DEFAULT_SECRET_KEY,
    "change-me-to-a-long-random-string",  # the old .env.example
    TEST_SECRET_KEY,
    TEST_JWT_SIGNING_KEY,
    TEST_CONNECTION_KEY,
})
PUBLISHED_PREFIXES = ("dev-insecure", "django-insecure", "change-me", "changeme", "test-only", "insecure")
MIN_LENGTH = 50  # Django's own deploy check asks the same of SECRET_KEY
MIN_DISTINCT_CHARACTERS = 5
MIN_DISTINCT_KEY_BYTES = 8  # 32 random bytes have about 30 different values

HEADER = (
    "# Per-install secrets of AutonomOS, made by `make run`. Never commit or share this file.\n"
    "# Losing CONNECTION_SECRETS_KEYS makes stored connection credentials unreadable: back it up.\n"
    "# Rotate with `manage.py rotate_secrets` (README, \"Secrets\").\n"
)


def secrets_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the secrets file is: AUTONOMOS_SECRETS_FILE (from the environment or .env, relative to the
    repository) or var/secrets.env. The settings find the same one (base.py, after reading .env)."""
    environ = os.environ if environ is None else environ
    return ROOT / (environ.get(FILE_VARIABLE) or read_file(ROOT / ".env").get(FILE_VARIABLE) or DEFAULT_FILE)


def new_secret_key() -> str:
    return token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]: nothing an env file would interpret


def new_jwt_signing_key() -> str:
    return token_urlsafe(48)


def new_connection_key() -> str:
    return Fernet.generate_key().decode()


GENERATORS = {SECRET_KEY: new_secret_key, JWT_SIGNING_KEY: new_jwt_signing_key, CONNECTION_KEYS: new_connection_key}


# --- The file ----------------------------------------------------------------------------------


def read_file(path: Path) -> dict[str, str]:
    """The NAME=value lines of `path` (comments and blank lines skipped); {} when it does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside `path` (`<path>.lock`): one writer at a time, readers wait for it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(path: Path, changes: dict[str, str | None]) -> None:
    """Rewrite `path` with `changes` applied (None removes a name), keeping every other line.

    The new file is created with mode 600 (os.open applies it before the first byte; fchmod undoes a
    umask that took more away) and renamed over the old one, so no reader sees it half written.
    """
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = HEADER.splitlines()
    pending = dict(changes)
    kept = []
    for line in lines:
        name = line.strip().removeprefix("export ").partition("=")[0].strip()
        if name in pending:
            value = pending.pop(name)
            if value is not None:
                kept.append(f"{name}={value}")
        else:
            kept.append(line)
    kept += [f"{name}={value}" for name, value in pending.items() if value is not None]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("\n".join(kept) + "\n").encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)


def ensure_file(path: Path) -> list[str]:
    """Create `path`, or add the keys it lacks, with new random keys; return the names generated.

    Keys already in the file are never replaced. A file readable by others is made private (600).
    """
    with locked(path):
        existing = read_file(path)
        missing = [name for name in REQUIRED if not existing.get(name)]
        if missing:
            _write(path, {name: GENERATORS[name]() for name in missing})
        elif path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    return missing


def update_file(path: Path, changes: dict[str, str | None]) -> None:
    """Set (or with None, remove) names in the secrets file, under the lock (used by rotation)."""
    with locked(path):
        _write(path, changes)


def missing_from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    return [name for name in REQUIRED if not environ.get(name)]


# --- The start-up check ------------------------------------------------------------------------


def _published(value: str) -> bool:
    return value in PUBLISHED or value.strip().lower().startswith(PUBLISHED_PREFIXES)


def _weak_text_key(value: str) -> str | None:
    if not value:
        return "is not set"
    if _published(value):
        return "is a published value (a default or an example from the repository)"
    if len(value) < MIN_LENGTH:
        return f"is too short ({len(value)} characters; at least {MIN_LENGTH})"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return "is not random (too few different characters)"
    return None


def _weak_fernet_key(value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        return "is not a Fernet key (32 url-safe base64-encoded bytes)"
    if _published(value) or raw.lower().startswith(tuple(p.encode() for p in PUBLISHED_PREFIXES)):
        return "is a published value (a default or an example from the repository)"
    if len(set(raw)) < MIN_DISTINCT_KEY_BYTES:
        return "is not random (too few different bytes)"
    return None


def problems(
    *, secret_key: str, jwt_signing_key: str, connection_keys: Iterable[str], secret_key_fallbacks: Iterable[str] = ()
) -> list[str]:
    """What is wrong with the keys, one sentence per problem, naming variables and never values."""
    found = []
    connection_keys = [k.strip() for k in connection_keys if k and k.strip()]
    secret_key_fallbacks = [k for k in secret_key_fallbacks if k]
    for name, value in ((SECRET_KEY, secret_key), (JWT_SIGNING_KEY, jwt_signing_key)):
        if reason := _weak_text_key(value or ""):
            found.append(f"{name} {reason}")
    if not connection_keys:
        found.append(f"{CONNECTION_KEYS} is not set")
    for position, key in enumerate(connection_keys, start=1):
        if reason := _weak_fernet_key(key):
            found.append(f"{CONNECTION_KEYS} entry #{position} {reason}")
    for position, key in enumerate(secret_key_fallbacks, start=1):
        if _published(key):
            found.append(f"{SECRET_KEY_FALLBACKS} entry #{position} is a published value: signatures made with it "
                         "can be forged, remove it")
    if secret_key and secret_key == jwt_signing_key:
        found.append(f"{SECRET_KEY} and {JWT_SIGNING_KEY} are the same value")
    if jwt_signing_key and jwt_signing_key in secret_key_fallbacks:
        found.append(f"{JWT_SIGNING_KEY} is also in {SECRET_KEY_FALLBACKS}")
    for other_name, other in ((SECRET_KEY, secret_key), (JWT_SIGNING_KEY, jwt_signing_key)):
        if other and other in connection_keys:
            found.append(f"{CONNECTION_KEYS} holds the same value as {other_name}")
    return found


def check(
    *, secret_key: str, jwt_signing_key: str, connection_keys: Iterable[str], secret_key_fallbacks: Iterable[str] = (),
    hint: str = "",
) -> None:
    """Raise ImproperlyConfigured listing every problem with the keys (see `problems`)."""
    found = problems(secret_key=secret_key, jwt_signing_key=jwt_signing_key, connection_keys=connection_keys,
                     secret_key_fallbacks=secret_key_fallbacks)
    if found:
        raise ImproperlyConfigured(
            "Refusing to start with unsafe secrets: " + "; ".join(found) + ". Each of DJANGO_SECRET_KEY, "
            "JWT_SIGNING_KEY and CONNECTION_SECRETS_KEYS must be its own random key; "
            "`python -m autonomos.core.secrets generate` prints a new set." + (f" {hint}" if hint else "")
        )


# --- Command line (scripts/run.sh, the Docker image, operators) ---------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autonomos.core.secrets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure", help="create the secrets file, or add the keys it lacks (never replaces one)")
    ensure.add_argument("--file", type=Path, help=f"default: ${FILE_VARIABLE} or {DEFAULT_FILE}")
    sub.add_parser("generate", help="print a new set of keys in env-file format (for a production secret store)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        for name in REQUIRED:
            print(f"{name}={GENERATORS[name]()}")
        return 0
    path = args.file or secrets_file()
    created = not path.exists()
    generated = ensure_file(path)
    shown = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    if created:
        print(f"created {shown} (mode 600) with a new {', '.join(generated)}")
    elif generated:
        print(f"added a new {', '.join(generated)} to {shown}")
    else:
        print(f"using the secrets in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
