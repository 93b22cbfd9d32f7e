"""filesource: CSV exports of any system, from a configured folder and/or uploaded files.

Objects are files (the object name is the file name without `.csv`). The cursor of an object is
`{"hash": <sha256 of the content>, "offset", "line", "row"[, "encoding"]}`: an unchanged file resumes
after the last stored page (a seek, no re-parse), a changed file is read again from its first row.
Value metadata: a Dataverse export's choice labels, from the `OptionsetMetadata` folder Azure Synapse
Link writes beside the tables (optionsets.py); other files have none.
"encoding" is there once the file's first non-ASCII line has decided it (a file that starts in
ASCII): the resumed reading keeps it instead of deciding again on later lines.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path

from ...base import (
    DEFAULT_PAGE_SIZE,
    CheckResult,
    Driver,
    Page,
    SourceField,
    SourceObject,
    keyed_samples_fill,
    max_samples,
)
from ...errors import ObjectNotFound, PermanentError
from ...typeinfer import infer_text_type, sample_of
from ..saas import ValueMetadataCache
from .csvio import CsvFile, CsvFormatError, Position, count_lines, fingerprint
from .optionsets import synapse_option_sets
from .paths import PathRefused, ensure_allowed, uploads_dir

CSV_SUFFIXES = (".csv", ".tsv")
DISCOVER_ROWS = 1000
_PK_NAMES = ("id", "hsobjectid", "identitylineitemid", "resourceid")


def _cursor(digest: str, pos: Position) -> dict:
    cursor = {"hash": digest, "offset": pos.offset, "line": pos.line, "row": pos.row}
    if pos.encoding:
        cursor["encoding"] = pos.encoding
    return cursor


def _known_encoding(name) -> str | None:
    """A cursor's decided encoding, as Python names it; LookupError/TypeError for anything else."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"encoding {name!r} is not a name")
    return codecs.lookup(name).name


def object_name_of(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def guess_primary_key(object_name: str, fields: list[str]) -> str | None:
    """A column that looks like the record id: `Id`, `<object>id`, `hs_object_id`, … (first match)."""
    norm = {f: f.lower().replace("_", "").replace("/", "").replace(".", "").replace(" ", "") for f in fields}
    stem = object_name.lower().replace("_", "")
    wanted = [*_PK_NAMES, f"{stem}id", f"{stem.rstrip('s')}id"]
    for candidate in wanted:
        for field, n in norm.items():
            if n == candidate:
                return field
    return None


class FileSourceDriver(Driver):
    kind = "filesource"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._value_metadata = ValueMetadataCache(self.kind)

    # -- where the files are -------------------------------------------------------------------

    def _uploads_dir(self) -> Path | None:
        if "uploads_dir" in self.options:
            return self.options["uploads_dir"]
        if self.connection is None or self.connection.pk is None:
            return None
        from autonomos.core.tenancy import current_tenant

        return uploads_dir(str(current_tenant().tenant_id), self.connection.pk)

    def _folder(self) -> Path | None:
        if not self.config.folder:
            return None
        try:
            folder = ensure_allowed(Path(self.config.folder))
        except PathRefused as exc:
            raise PermanentError(f"folder refused: {exc}") from None
        try:
            is_dir = folder.is_dir()
        except OSError as exc:  # e.g. a folder saved before its length was checked (ENAMETOOLONG)
            raise PermanentError(f"the configured folder cannot be read: {exc.strerror or exc}") from None
        if not is_dir:
            raise PermanentError("the configured folder does not exist or is not a folder")
        return folder

    def _entries(self, folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as entries:
                return sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            raise PermanentError(f"the folder cannot be listed: {exc.strerror or exc}") from None

    def files(self) -> dict[str, Path]:
        """Object name → file. Uploaded files win over folder files of the same name."""
        found: dict[str, Path] = {}
        wanted = set(self.config.files) if self.config.files else None
        for folder in (self._folder(), self._uploads_dir()):
            if folder is None or not folder.is_dir():
                continue
            for entry in self._entries(folder):
                if not entry.name.lower().endswith(CSV_SUFFIXES) or entry.name.startswith("."):
                    continue
                if wanted is not None and entry.name not in wanted:
                    continue
                path = Path(entry.path)
                try:
                    resolved = ensure_allowed(path)  # a symlink must not lead out of the roots
                except PathRefused:
                    continue
                if resolved.is_file():
                    found[object_name_of(path)] = resolved
        return found

    def _file(self, object_name: str) -> Path:
        path = self.files().get(object_name)
        if path is None:
            raise ObjectNotFound(f"no CSV file for object {object_name!r}")
        return path

    def _csv(self, path: Path) -> CsvFile:
        """The file, its header read (a file that is not CSV, or too wide, is a PermanentError)."""
        try:
            csv_file = CsvFile(path, encoding=self.config.encoding, delimiter=self.config.delimiter)
            csv_file.header  # noqa: B018 - read now: a too-wide header fails here, with the file's name
        except CsvFormatError as exc:
            raise PermanentError(f"{path.name}: {exc}") from None
        return csv_file

    # -- interface ----------------------------------------------------------------------------------

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        return self._value_metadata.get(object_name, self._fetch_value_metadata)

    def _fetch_value_metadata(self, object_name: str) -> dict[str, dict]:
        folder = self._folder()
        return synapse_option_sets(folder, object_name) if folder is not None else {}

    def check(self) -> CheckResult:
        files = self.files()
        if not files:
            return CheckResult(True, "reachable; no CSV files yet")
        unreadable = [name for name, path in files.items() if not os.access(path, os.R_OK)]
        if unreadable:
            return CheckResult(False, f"cannot read: {', '.join(sorted(unreadable)[:5])}")
        return CheckResult(True, f"{len(files)} CSV file(s): {', '.join(sorted(files)[:10])}")

    def discover(self) -> list[SourceObject]:
        return [self.describe(name, path) for name, path in sorted(self.files().items())]

    def describe(self, object_name: str, path: Path) -> SourceObject:
        """Fields, types and samples of one file (types inferred from its first rows)."""
        csv_file = self._csv(path)
        header = csv_file.header
        limit = max_samples()
        values: dict[str, list[str]] = {name: [] for name in header}
        samples: dict[str, list[str]] = {name: [] for name in header}
        nullable = dict.fromkeys(header, False)
        rows = consumed = 0
        first: list[dict[str, str]] = []
        for records, _errors, position in csv_file.pages(page_size=DISCOVER_ROWS):
            consumed = position.row
            first = records
            for record in records:
                rows += 1
                for name, value in record.items():
                    if value == "" or value.strip() == "":
                        nullable[name] = True
                        continue
                    values[name].append(value)
                    bucket = samples[name]
                    if len(bucket) < limit and value not in bucket:
                        bucket.append(value)
            break  # one page is enough to infer types
        if consumed < DISCOVER_ROWS:
            row_count = rows
        else:  # an estimate: multi-line quoted fields make lines and rows differ
            row_count = max(count_lines(path) - csv_file.data_start.line, rows)
        fields = [
            SourceField(
                name=name,
                type=infer_text_type(values[name]),
                samples=[sample_of(v) for v in samples[name]],
                nullable=nullable[name] or not rows,
            )
            for name in header
        ]
        pk = self.config.primary_keys.get(object_name) or guess_primary_key(object_name, header)
        keyed_samples_fill(fields, first, pk)
        return SourceObject(name=object_name, fields=fields, primary_key=pk, cursor_field=None, row_count=row_count)

    def deletes_mode(self, object_name: str) -> str:
        """Full exports: a file read from its first row lists every record of the object (a file
        that is gone lists none: the delete guard asks a person first). Append-only: never."""
        return "full_read" if self.config.exports == "full" else "none"

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        path = self._file(object_name)
        digest = fingerprint(path)
        csv_file = self._csv(path)
        start = None
        if cursor and cursor.get("hash") == digest:
            try:
                encoding = _known_encoding(cursor.get("encoding"))
                start = Position(int(cursor["offset"]), int(cursor["line"]), int(cursor["row"]), encoding)
            except (KeyError, TypeError, ValueError, LookupError):
                start = None  # a cursor we cannot use means reading the file again
        yielded = yielded_before = False
        before = start or (csv_file.data_start if csv_file.header else None)
        for table, records, errors, pos in csv_file.table_pages(page_size=page_size, start=start):
            yielded = True
            unreadable = frozenset(e.position for e in errors if isinstance(e.position, int))
            yield Page(
                records=records,
                table=table,
                errors=errors,
                cursor=_cursor(digest, pos),
                line_of=csv_file.record_lines(before, pos, unreadable) if before is not None else None,
                from_start=start is None and not yielded_before,
            )
            yielded_before = True
            before = pos
        if not yielded and start is None:
            first = csv_file.data_start if csv_file.header else Position(0, 0, 0)
            yield Page(
                records=[], errors=[], cursor={"hash": digest, "offset": first.offset, "line": first.line, "row": 0},
                from_start=True,
            )
