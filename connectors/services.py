"""Writes of connections: create, update, delete, cursor and status, tests, uploads, the demo set.

Secrets are accepted here and stored, and never leave through a return value meant for display,
a log line or an event (`scrub` masks them in error messages).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import transaction
from django.utils import timezone

from autonomos.core.tenancy import current_tenant

from . import conf, secretbox
from .base import CheckResult, SourceObject
from .errors import ConnectorError
from .models import Connection
from .registry import driver_for, validate_settings
from .scrub import known_secrets, scrub
from .secretbox import SecretsUnreadable

logger = logging.getLogger(__name__)

_EDITABLE = ("name", "config", "secrets", "drift_policy", "domain", "currency")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-()]{0,150}\.(csv|CSV|tsv|TSV)$")


def _merge(current: dict, changes: dict) -> dict:
    """Top-level merge: a key set to None is removed."""
    merged = dict(current or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _refuse_nul(**values: Any) -> None:
    """A 400 (ValidationError keyed by field) for a NUL character in any text or key of these values:
    PostgreSQL stores none in text or jsonb (a DataError otherwise). The wording is Django's and DRF's."""
    validator = ProhibitNullCharactersValidator()
    for name, value in values.items():
        stack = [value]
        while stack:  # not recursive: a deeply nested JSON body must not exhaust the stack
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
            elif isinstance(item, str):
                try:
                    validator(item)
                except ValidationError as exc:
                    raise ValidationError({name: exc.messages}) from None


@transaction.atomic
def connection_create(
    *,
    name: str,
    kind: str,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    drift_policy: str = Connection.DriftPolicy.AUTO,
    domain: str = Connection.Domain.AUTO,
    currency: str = "",
) -> Connection:
    """Create a connection after validating its config and secrets with the kind's pydantic models.
    `currency`: of the source's amounts that carry none (ISO 4217, "" for none)."""
    if kind not in Connection.Kind.values:
        raise ValidationError({"kind": [f"unknown connection kind {kind!r}"]})
    _refuse_nul(name=name, config=config, secrets=secrets, currency=currency)
    clean_config = validate_settings(kind, config, secrets)
    connection = Connection(name=name, kind=kind, config=clean_config, drift_policy=drift_policy, domain=domain,
                            currency=currency or "")
    connection.set_secrets(secrets)
    connection.full_clean()
    connection.save()
    logger.info("connection %s created (kind %s)", connection.pk, kind)
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, data: dict[str, Any], partial: bool = True) -> Connection:
    """Change name, config, secrets, drift policy, domain or currency.

    Secrets always merge (clients never see them, so they cannot send them back): a key set to None
    removes it. Config merges on a partial update and is replaced on a full one. The kind cannot
    change: a different kind is a different connection (its cursor would mean nothing).

    When the stored secrets cannot be decrypted (a key was lost), secrets sent now replace them
    instead of merging, so credentials can be entered again; a config change without them is refused
    (it cannot be validated), and a change of name, policy or domain still works.
    """
    unknown = set(data) - set(_EDITABLE) - {"kind"}
    if unknown:
        raise ValidationError({k: ["cannot be changed"] for k in sorted(unknown)})
    if "kind" in data and data["kind"] != connection.kind:
        raise ValidationError({"kind": ["cannot be changed; create a new connection instead"]})
    _refuse_nul(**{key: data[key] for key in ("name", "config", "secrets", "domain", "drift_policy", "currency")
                   if key in data})
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    config = connection.config
    if "config" in data:
        if data["config"] is not None and not isinstance(data["config"], dict):
            raise ValidationError({"config": ["must be a JSON object"]})
        config = _merge(connection.config, data["config"] or {}) if partial else (data["config"] or {})
    try:
        stored: dict[str, Any] | None = connection.get_secrets()
    except SecretsUnreadable as exc:
        stored, unreadable = None, exc.message
    secrets = stored
    if "secrets" in data:
        if data["secrets"] is not None and not isinstance(data["secrets"], dict):
            raise ValidationError({"secrets": ["must be a JSON object"]})
        secrets = _merge(stored or {}, data["secrets"] or {})
    elif stored is None and "config" in data:
        raise ValidationError({"secrets": [f"{unreadable}; send the secrets together with the config change"]})
    if secrets is not None:
        connection.config = validate_settings(connection.kind, config, secrets)
    if "secrets" in data:
        connection.set_secrets(secrets)
    for key in ("name", "drift_policy", "domain", "currency"):
        if key in data:
            setattr(connection, key, data[key] if key != "currency" else (data[key] or ""))
    connection.full_clean()
    connection.save()
    return connection


# What becomes of a deleted connection's records in the unified views (docs/adr/0022-incremental-views.md).
DATA_REMOVE = "remove"  # they leave every view (and the history marks them deleted)
DATA_KEEP = "keep"  # they stay, shown as from a removed connection
DATA_CHOICES = (DATA_REMOVE, DATA_KEEP)
_DATA_REMOVERS: list = []


def register_connection_data_remover(remover) -> None:
    """`remover(connection_id)` takes a deleted connection's records out of the views (dcl registers
    it in its AppConfig.ready: connectors may not import the DCL). Called after the deletion commits."""
    if remover not in _DATA_REMOVERS:
        _DATA_REMOVERS.append(remover)


@transaction.atomic
def connection_delete(*, connection: Connection, data: str = DATA_REMOVE) -> None:
    """Delete the connection; its uploaded files go once the deletion is committed, and with
    `data="remove"` (the default) its records leave the unified views."""
    if data not in DATA_CHOICES:
        raise ValueError(f"data must be one of {', '.join(DATA_CHOICES)}, not {data!r}")
    folder = _uploads_dir(connection)
    connection_id = connection.pk
    connection.delete()
    transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
    if data == DATA_REMOVE:
        for remover in _DATA_REMOVERS:
            transaction.on_commit(lambda r=remover: r(connection_id))


@transaction.atomic
def connection_cursor_set(*, connection: Connection, object_name: str, cursor: dict | None) -> Connection:
    """Store one object's cursor (None forgets it). Row-locked so parallel object syncs never lose
    each other's cursors."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    cursors = dict(locked.cursor or {})
    if cursor is None:
        cursors.pop(object_name, None)
    else:
        cursors[object_name] = cursor
    Connection.objects.filter(pk=locked.pk).update(cursor=cursors, updated_at=timezone.now())
    connection.cursor = cursors
    return connection


@transaction.atomic
def connection_secrets_rotate(*, connection: Connection) -> bool:
    """Re-encrypt the connection's secrets with the newest CONNECTION_SECRETS_KEYS key.

    Returns True when the stored value changed, False when it already used the newest key. Raises
    SecretsUnreadable when no configured key opens it (the row is left as it was).
    """
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    if secretbox.is_current(locked.secrets_ciphertext):
        return False
    token = secretbox.rotate(locked.secrets_ciphertext)
    # update(): a rotation is not an edit, so updated_at (shown to users as "changed") stays.
    Connection.objects.filter(pk=locked.pk).update(secrets_ciphertext=token)
    connection.secrets_ciphertext = token
    return True


def connection_status_set(*, connection: Connection, status: str, error: str = "", synced: bool = False) -> Connection:
    """Set status and last error (scrubbed of secrets); `synced` also stamps last_synced_at."""
    if status not in Connection.Status.values:
        raise ValidationError({"status": [f"unknown status {status!r}"]})
    fields: dict[str, Any] = {
        "status": status,
        "last_error": scrub(error, known_secrets(connection)) if error else "",
        "updated_at": timezone.now(),
    }
    if synced:
        fields["last_synced_at"] = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for key, value in fields.items():
        setattr(connection, key, value)
    return connection


def connection_test(*, connection: Connection) -> CheckResult:
    """Run the driver's check and record the outcome. Never raises for a source problem."""
    try:
        with driver_for(connection) as driver:
            result = driver.check()
    except ConnectorError as exc:
        result = CheckResult(False, scrub(exc.message, known_secrets(connection)))
    except Exception as exc:  # noqa: BLE001 - a driver bug must not become a 500
        logger.warning("connection %s check crashed: %s", connection.pk, scrub(repr(exc), known_secrets(connection)))
        result = CheckResult(False, "unexpected error while checking the connection (see the server log)")
    result = CheckResult(result.ok, scrub(result.message, known_secrets(connection)))
    if connection.status in (Connection.Status.SYNCING, Connection.Status.FROZEN, Connection.Status.PAUSED):
        # A test does not end a running sync or lift a drift freeze or a delete pause; it only records the error.
        connection_status_set(
            connection=connection, status=connection.status, error="" if result.ok else result.message
        )
    else:
        connection_status_set(
            connection=connection,
            status=Connection.Status.OK if result.ok else Connection.Status.ERROR,
            error="" if result.ok else result.message,
        )
    return result


def connection_discover(*, connection: Connection) -> list[SourceObject]:
    """The source schema (objects, fields, types, samples). Raises ConnectorError on source problems."""
    with driver_for(connection) as driver:
        return driver.discover()


# --- uploads ------------------------------------------------------------------------------------


def _uploads_dir(connection: Connection) -> Path:
    from .kinds.filesource.paths import uploads_dir

    return uploads_dir(str(current_tenant().tenant_id), connection.pk)


def connection_file_upload(
    *, connection: Connection, filename: str, content: IO[bytes], size: int | None = None
) -> SourceObject:
    """Store an uploaded CSV for a filesource connection and return its discovered object.

    The file is written beside its final place and renamed in one step, so a failed or partial
    upload never replaces the file that was there (data already accepted is never lost).
    """
    from .kinds.filesource.csvio import CsvFile, CsvFormatError
    from .kinds.filesource.driver import FileSourceDriver, object_name_of

    if connection.kind != Connection.Kind.FILESOURCE:
        raise ValidationError({"file": ["uploads are only for filesource connections"]})
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    if not _FILE_NAME.match(name):
        raise ValidationError(
            {
                "file": [
                    "the file name must end in .csv and use letters, digits, spaces, "
                    "dots, dashes, underscores or parentheses"
                ]
            }
        )
    limit = conf.filesource_max_upload_bytes()
    if size is not None and size > limit:
        raise ValidationError({"file": [f"the file is larger than the limit of {limit} bytes"]})
    folder = _uploads_dir(connection)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    existing = [p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".tsv")]
    if not target.exists() and len(existing) >= conf.filesource_max_files():
        raise ValidationError({"file": [f"a connection holds at most {conf.filesource_max_files()} files"]})
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := content.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise ValidationError({"file": [f"the file is larger than the limit of {limit} bytes"]})
                out.write(chunk)
        if written == 0:
            raise ValidationError({"file": ["the file is empty"]})
        try:
            header = CsvFile(tmp).header
        except CsvFormatError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        if not header:
            raise ValidationError({"file": ["no header row found"]})
        chosen = _upload_key_check(connection, object_name_of(target), CsvFile(tmp), name, replaces=target.exists())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if chosen is not None:
        _chosen_keys_store(connection, {object_name_of(target): chosen.spec})
    driver = FileSourceDriver(config=_filesource_config(connection), secrets=None, connection=connection)
    return driver.describe(object_name_of(target), target)


def _upload_key_check(connection: Connection, object_name: str, csv_file, file_name: str, *, replaces: bool):
    """Refuse (a ValidationError) an upload the object's key does not hold in, or one without rows
    that replaces a file; the file that was there stays. Returns the key to keep for an object that
    has none yet (chosen from this file), else None. docs/adr/0024-files-as-snapshots.md."""
    from .kinds.filesource.driver import FileSourceDriver
    from .kinds.filesource.keys import choose_key, key_problem

    if replaces and not any(p[0] is not None or p[1] or p[2] for p in csv_file.table_pages(page_size=1)):
        raise ValidationError({"file": [f"{file_name} has a header but no rows: a file is a snapshot of its object, "
                                        "and this one would remove every record of it. The previous version "
                                        "of the file stays."]})
    driver = FileSourceDriver(config=_filesource_config(connection), secrets=None, connection=connection)
    key = driver.record_key(object_name, csv_file.header)
    if key is None and object_name in (connection.cursor or {}):
        return None  # read before keys were chosen: connection_keys_ensure keeps its content hash
    if key is None:
        return choose_key(object_name, csv_file)
    problem = key_problem(csv_file, key, file_name=file_name)
    if problem:
        raise ValidationError({"file": [problem + "; fix the file, or change the key on the connection page. "
                                        "The previous version of the file stays."]})
    if object_name not in _filesource_config(connection).chosen_keys and key.basis == "id_column":
        return key  # the id column found now is kept, should a later version add another id-like column
    return None


@transaction.atomic
def _chosen_keys_store(connection: Connection, keys: dict[str, list[str]]) -> None:
    """Keep the keys the platform chose (objects that have one already keep theirs)."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    config = dict(locked.config or {})
    chosen = dict(config.get("chosen_keys") or {})
    added = {name: spec for name, spec in keys.items() if name not in chosen}
    if not added:
        return
    config["chosen_keys"] = {**chosen, **added}
    config = _filesource_config_of(config).model_dump(mode="json", by_alias=True, exclude_none=True)
    Connection.objects.filter(pk=locked.pk).update(config=config, updated_at=timezone.now())
    connection.config = config


def connection_keys_ensure(*, connection: Connection) -> dict[str, list[str]]:
    """Choose and keep a key for every file of a filesource connection that has none yet (the sync
    calls this before it reads; uploads choose theirs when they arrive). An object read before keys
    were chosen keeps the content hash it was read with (re-keying it is a person's choice). A file
    that cannot be read is left to the read, which reports it. Returns the keys chosen now."""
    if connection.kind != Connection.Kind.FILESOURCE:
        return {}
    from .kinds.filesource.csvio import CsvFormatError
    from .kinds.filesource.keys import CONTENT

    chosen: dict[str, list[str]] = {}
    try:
        config = _filesource_config(connection)
        with driver_for(connection) as driver:
            files = driver.files()
    except (ConnectorError, ValueError):  # pydantic's ValidationError is a ValueError
        return {}  # a config or folder that cannot be used: the sync's discovery says why
    with driver_for(connection) as driver:
        for name in sorted(files):
            if name in config.primary_keys or name in config.chosen_keys:
                continue
            if name in (connection.cursor or {}):
                try:
                    header = driver.header(name)
                except ConnectorError:
                    continue
                if driver.record_key(name, header) is None:
                    chosen[name] = [CONTENT]
                continue
            try:
                key = driver.choose_key(name)
            except (ConnectorError, CsvFormatError, OSError) as exc:
                logger.info("no key chosen for %s of connection %s: %s", name[:100], connection.pk, exc)
                continue
            if key is not None:
                chosen[name] = key.spec
    if chosen:
        _chosen_keys_store(connection, chosen)
    return chosen


KEY_AUTO = "auto"
KEY_LINE = "line"


@transaction.atomic
def connection_key_set(*, connection: Connection, object_name: str, key: list[str] | str) -> Connection:
    """Set the key of one object of a filesource connection: a list of 1 to 3 columns, "line" (the
    row's number in the file) or "auto" (forget the person's key and choose again from the file as
    it is now). A key the current file breaks is refused with the rows that break it. The next sync
    reads the file whole and replaces the records held under the old key (docs/adr/0024)."""
    from .kinds.filesource.keys import LINE, RecordKey

    if connection.kind != Connection.Kind.FILESOURCE:
        raise ValidationError({"object": ["keys are set on CSV file connections only"]})
    _refuse_nul(object=object_name, key=key)
    locked = Connection.objects.select_for_update().get(pk=connection.pk)
    with driver_for(locked) as driver:
        if object_name not in driver.files():
            raise ValidationError({"object": [f"no file for the object {object_name!r}"]})
        config = dict(locked.config or {})
        people = dict(config.get("primary_keys") or {})
        chosen = dict(config.get("chosen_keys") or {})
        if key == KEY_AUTO:
            people.pop(object_name, None)
            chosen.pop(object_name, None)
            found = driver.choose_key(object_name)
            if found is not None:
                chosen[object_name] = found.spec
        elif key == KEY_LINE:
            people[object_name] = [LINE]
        elif isinstance(key, list) and key and all(isinstance(c, str) for c in key):
            problem = _key_refused(driver, object_name, key)
            if problem:
                raise ValidationError({"key": [problem]})
            people[object_name] = list(key)
        else:
            raise ValidationError({"key": ['a list of 1 to 3 column names, "line" or "auto"']})
    config["primary_keys"], config["chosen_keys"] = people, chosen
    try:
        clean = _filesource_config_of(config).model_dump(mode="json", by_alias=True, exclude_none=True)
    except Exception as exc:  # noqa: BLE001 - pydantic's message, as a 400
        raise ValidationError({"key": [_first_error(exc)]}) from None
    Connection.objects.filter(pk=locked.pk).update(config=clean, updated_at=timezone.now())
    connection.config = clean
    logger.info("connection %s: key of %s set to %s", connection.pk, object_name[:100],
                RecordKey.of(clean["primary_keys"].get(object_name) or chosen.get(object_name) or [LINE],
                             "set").label()[:200])
    return connection


def _key_refused(driver, object_name: str, columns: list[str]) -> str | None:
    from .kinds.filesource.keys import MAX_KEY_COLUMNS, RecordKey, usable_column

    if len(columns) > MAX_KEY_COLUMNS or len(set(columns)) != len(columns):
        return f"a key names 1 to {MAX_KEY_COLUMNS} different columns"
    bad = [c for c in columns if not usable_column(c)]
    if bad:
        return f"the column {bad[0]!r} cannot be part of a key (its name holds a comma)"
    try:
        return driver.key_problem(object_name, RecordKey(tuple(columns), "set"))
    except ConnectorError as exc:
        return exc.message


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = (errors() or [{}])[0]
        return str(first.get("msg", exc)).removeprefix("Value error, ")
    return str(exc)


def _filesource_config(connection: Connection):
    return _filesource_config_of(connection.config or {})


def _filesource_config_of(config: dict):
    from .kinds.filesource.config import FileSourceConfig

    return FileSourceConfig.model_validate(config)


def connection_file_list(*, connection: Connection) -> list[dict[str, Any]]:
    """Uploaded files of a filesource connection: name, object, size, modified time."""
    folder = _uploads_dir(connection)
    if connection.kind != Connection.Kind.FILESOURCE or not folder.is_dir():
        return []
    from .kinds.filesource.driver import object_name_of

    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        st = path.stat()
        out.append(
            {
                "name": path.name,
                "object": object_name_of(path),
                "size": st.st_size,
                "modified_at": dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC).isoformat(),
            }
        )
    return out


# --- demo -----------------------------------------------------------------------------------------


def demo_connections_ensure(*, directory: str | Path) -> list[Connection]:
    """One filesource connection per demo system, reading `directory/<system>/` (made by demo.generate).

    Each carries `source_system` (salesforce, hubspot, dynamics, aws_cur, aws_inventory) in its config
    and its domain (revops / finops). Idempotent: run twice, the same connections (by name) are
    updated, never duplicated. `directory` must lie inside FILESOURCE_ALLOWED_ROOTS.
    """
    from .demo import DEMO_SYSTEMS

    directory = Path(directory).resolve()
    connections = []
    for system in DEMO_SYSTEMS:
        folder = directory / system.subdir
        files = [f for f in system.files if (folder / f).is_file()]
        if not files:
            raise ValidationError({"directory": [f"no demo files for {system.label} in {folder}"]})
        config = {"folder": str(folder), "files": files, "source_system": system.source_system}
        existing = Connection.objects.filter(name=system.label).first()
        if existing is None:
            conn = connection_create(
                name=system.label, kind=Connection.Kind.FILESOURCE, config=config, domain=system.domain,
                currency=system.currency,
            )
        elif existing.kind != Connection.Kind.FILESOURCE:
            raise ValidationError({"name": [f"a {existing.kind} connection is already named {system.label!r}"]})
        else:
            conn = connection_update(
                connection=existing, data={"config": config, "domain": system.domain, "currency": system.currency},
                partial=False,
            )
        connections.append(conn)
    return connections
