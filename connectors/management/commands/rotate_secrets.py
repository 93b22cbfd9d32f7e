"""Rotate the install's own secrets, kept in its secrets file (var/secrets.env, made by `make run`).

  --connection-key  a new CONNECTION_SECRETS_KEYS key goes first in the file (the old ones stay after it,
                    for decryption), then every tenant's connection secrets are re-encrypted with it
  --drop-old        then keep only the newest connection key. It re-encrypts first, so no row needs the
                    old ones; best run again on its own once the processes restarted, to catch a row an
                    old process wrote meanwhile
  --jwt-key         a new JWT_SIGNING_KEY: every token issued so far stops working, so every user and API
                    client must log in again
  --secret-key      a new DJANGO_SECRET_KEY; the current one becomes DJANGO_SECRET_KEY_FALLBACKS (replacing
                    the one before it), so sessions and signed links survive until the next rotation

The file is written before anything is re-encrypted, so a crash half way loses no key. The running
web server, worker and beat read the file when they start: restart them afterwards (`make run`).
A key that comes from the environment or .env (production) is not rotated here: change it where it is
set; `rotate_connection_secrets` re-encrypts with whatever CONNECTION_SECRETS_KEYS then holds.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from autonomos.core import secrets as install_secrets
from connectors import secretbox

from .rotate_connection_secrets import reencrypt_all


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Command(BaseCommand):
    help = "Rotate the secrets in the install's secrets file: connection key, JWT signing key, SECRET_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--connection-key", action="store_true",
                            help="add a new connection-secret key first and re-encrypt every tenant's secrets")
        parser.add_argument("--drop-old", action="store_true",
                            help="after re-encrypting, keep only the newest connection-secret key")
        parser.add_argument("--jwt-key", action="store_true",
                            help="a new JWT signing key (logs every user and API client out)")
        parser.add_argument("--secret-key", action="store_true",
                            help="a new Django SECRET_KEY; the current one becomes DJANGO_SECRET_KEY_FALLBACKS")
        parser.add_argument("--file", type=Path, help="the secrets file (default: settings.SECRETS_FILE)")

    def handle(self, *args, connection_key=False, drop_old=False, jwt_key=False, secret_key=False, file=None,
               **options):
        if not (connection_key or drop_old or jwt_key or secret_key):
            raise CommandError("say what to rotate: --connection-key [--drop-old], --drop-old, --jwt-key, --secret-key")
        path = Path(file or settings.SECRETS_FILE)
        if not path.exists():
            raise CommandError(f"no secrets file at {path}: `make run` creates it (or any manage.py command "
                               "with the local settings)")
        stored = install_secrets.read_file(path)
        self._refuse_keys_from_elsewhere(path, stored, connection=connection_key or drop_old, jwt=jwt_key,
                                         secret=secret_key)

        if connection_key or drop_old or secret_key:
            self._connection_keys(path, add=connection_key, drop_old=drop_old)
        if secret_key:
            install_secrets.update_file(path, {
                install_secrets.SECRET_KEY: install_secrets.new_secret_key(),
                install_secrets.SECRET_KEY_FALLBACKS: str(settings.SECRET_KEY),
            })
            self.stdout.write("DJANGO_SECRET_KEY: a new key; the previous one is now DJANGO_SECRET_KEY_FALLBACKS, so "
                              "sessions and signed links made with it stay valid until the next rotation "
                              "(the one before it is dropped).")
        if jwt_key:
            install_secrets.update_file(path, {install_secrets.JWT_SIGNING_KEY: install_secrets.new_jwt_signing_key()})
            self.stdout.write(self.style.WARNING(
                "JWT_SIGNING_KEY: a new key. Once the processes restart, every access and refresh token issued "
                "so far is refused: every user and API client must log in again."))
        self.stdout.write(f"Saved in {path}. Restart the web server, worker and beat so they use the new keys: "
                          "`make run` restarts them (Docker: `docker compose restart`).")
        if connection_key:
            self.stdout.write("Until they restart they cannot read connection secrets re-encrypted with the new key; "
                              "run `rotate_secrets --drop-old` after the restart.")

    def _refuse_keys_from_elsewhere(self, path: Path, stored: dict[str, str], *, connection: bool, jwt: bool,
                                    secret: bool) -> None:
        """A key in use that is not the file's comes from the environment or .env, which win over the file:
        writing a new one into the file would change nothing (and rows re-encrypted with it would be lost)."""
        checks = []
        if connection:
            checks.append((install_secrets.CONNECTION_KEYS, _split(stored.get(install_secrets.CONNECTION_KEYS)),
                           secretbox.configured_keys()))
        if jwt:
            checks.append((install_secrets.JWT_SIGNING_KEY, stored.get(install_secrets.JWT_SIGNING_KEY),
                           settings.SIMPLE_JWT["SIGNING_KEY"]))
        if secret:
            checks.append((install_secrets.SECRET_KEY, stored.get(install_secrets.SECRET_KEY), settings.SECRET_KEY))
            checks.append((install_secrets.SECRET_KEY_FALLBACKS,
                           _split(stored.get(install_secrets.SECRET_KEY_FALLBACKS)),
                           list(getattr(settings, "SECRET_KEY_FALLBACKS", []))))
        for name, in_file, in_use in checks:
            if in_file != in_use:
                raise CommandError(f"the {name} in use is not the one in {path}: it is set in the environment or "
                                   "in .env, which win over the file. Rotate it where it is set (README, Secrets).")

    def _connection_keys(self, path: Path, *, add: bool, drop_old: bool) -> None:
        keys = secretbox.configured_keys()
        if add:
            keys = [install_secrets.new_connection_key(), *keys]
            install_secrets.update_file(path, {install_secrets.CONNECTION_KEYS: ",".join(keys)})
            self.stdout.write(f"CONNECTION_SECRETS_KEYS: a new key first, {len(keys) - 1} older kept for decryption.")
        if not keys:
            raise CommandError("no CONNECTION_SECRETS_KEYS configured: run with --connection-key first")
        # Before a SECRET_KEY rotation too: a row still on a key derived from the SECRET_KEY about to be
        # dropped from the fallbacks moves to the configured key first.
        with override_settings(CONNECTION_SECRETS_KEYS=keys):
            result = reencrypt_all()
        self.stdout.write(result.summary())
        if result.unreadable:
            raise CommandError(f"{result.error()}; no key was dropped and nothing else was rotated")
        if drop_old:
            if len(keys) > 1:
                install_secrets.update_file(path, {install_secrets.CONNECTION_KEYS: keys[0]})
                self.stdout.write(f"CONNECTION_SECRETS_KEYS: dropped {len(keys) - 1} older key(s).")
            else:
                self.stdout.write("CONNECTION_SECRETS_KEYS: no older key to drop.")
