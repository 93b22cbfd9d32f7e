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
from .keys import CONTENT, LINE_COLUMN, RecordKey, choose_key, id_column, key_problem
from .optionsets import synapse_option_sets
from .paths import PathRefused, ensure_allowed, uploads_dir

CSV_SUFFIXES = (".csv", ".tsv")
DISCOVER_ROWS = 1000


def _cursor(digest: str, pos: Position, key: str) -> dict:
    cursor = {"hash": digest, "offset": pos.offset, "line": pos.line, "row": pos.row, "key": key}
    if pos.encoding:
        cursor["encoding"] = pos.encoding
    return cursor


def _key_text(key: RecordKey | None) -> str:
    """The key as the cursor records it: the next read compares it, and a different key re-reads the
    file whole (every record's key changed: the object is re-keyed)."""
    return ",".join(key.spec) if key is not None else CONTENT


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
    return id_column(object_name, fields)


def _with_lines(page_table, records: list[dict], first_row: int):
    """The page with the record-number column of a line-keyed file (`__line`: never mapped, never in
    the record's unmapped fields). Records are numbered in the order read, from `first_row`."""
    import pyarrow as pa

    if page_table is not None:
        n = page_table.num_rows
        return page_table.append_column(LINE_COLUMN, pa.array([str(i) for i in range(first_row, first_row + n)])), []
    return None, [{**r, LINE_COLUMN: str(first_row + i)} for i, r in enumerate(records)]


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

    # -- keys (keys.py, docs/adr/0024-files-as-snapshots.md) --------------------------------------------

    def record_key(self, object_name: str, header: list[str]) -> RecordKey | None:
        """The object's key: set by a person, else chosen and kept, else the file's id column; None
        when none is known yet (the sync chooses one first: connectors.services.connection_keys_ensure)."""
        idc = id_column(object_name, header)
        spec = self.config.primary_keys.get(object_name)
        if spec:
            return RecordKey.of(spec, "set")
        spec = self.config.chosen_keys.get(object_name)
        if spec:
            return RecordKey.of(spec, "id_column" if spec == [idc] else "columns")
        return RecordKey((idc,), "id_column") if idc else None

    def header(self, object_name: str) -> list[str]:
        """The column names of the object's file."""
        return self._csv(self._file(object_name)).header

    def choose_key(self, object_name: str) -> RecordKey | None:
        """The key the platform would choose for the object's file now (None for a file without rows)."""
        path = self._file(object_name)
        return choose_key(object_name, self._csv(path))

    def key_problem(self, object_name: str, key: RecordKey) -> str | None:
        """Why `key` does not hold in the object's file as it is now (None when it does)."""
        path = self._file(object_name)
        return key_problem(self._csv(path), key)

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
        key = self.record_key(object_name, header)
        pk = key.primary_key if key is not None else None
        keyed_samples_fill(fields, first, pk if key is not None and key.columns else None)
        basis = "" if key is None else "line" if key.by_line else key.basis
        if basis == "set" and key.columns == (id_column(object_name, header),):
            basis = "id_column"  # a person confirmed the id column: the mapping engine reads it as the id
        return SourceObject(name=object_name, fields=fields, primary_key=pk, cursor_field=None, row_count=row_count,
                            key_basis=basis)

    def deletes_mode(self, object_name: str) -> str:
        """Full exports: a file read from its first row lists every record of the object (a file
        that is gone lists none: the delete guard asks a person first). Append-only: never."""
        return "full_read" if self.config.exports == "full" else "none"

    def _previous_key(self, object_name: str, header: list[str], cursor: dict) -> str:
        """The key the read that left `cursor` used (a cursor from before keys were recorded: the
        configured column, the id column, or the content hash, as reads then chose)."""
        if "key" in cursor:
            return str(cursor["key"])
        return _key_text(self.record_key(object_name, header)) if (
            self.config.primary_keys.get(object_name) or id_column(object_name, header)) else CONTENT

    def _check_key_before_reading(self, path: Path, key: RecordKey | None) -> bool:
        """Whether a read from the first row checks the key over the file first: for a key of columns
        that tell rows apart (chosen, or set by a person), in a file of the folder (an upload was checked
        when it arrived). An id column is the source's own key: its uniqueness is the vendor's, and
        checking it would cost every changed export a second parse."""
        if key is None or not key.columns or key.basis == "id_column":
            return False
        uploads = self._uploads_dir()
        return uploads is None or path.parent != Path(uploads).resolve()

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        """The file's records from the cursor, or from the first row when the file changed (its hash)
        or its key did (`Page.rekeyed`: every record's key is new). A read from the first row of a
        folder's file keyed by columns checks first that the key holds over the whole file (a
        PermanentError names the rows that break it, and nothing of this version is read: the
        previous snapshot stays); uploads were checked when they arrived."""
        path = self._file(object_name)
        digest = fingerprint(path)
        csv_file = self._csv(path)
        header = csv_file.header
        key = self.record_key(object_name, header)
        key_text = _key_text(key)
        rekeyed = bool(cursor) and self._previous_key(object_name, header, cursor) != key_text
        start = None
        if cursor and cursor.get("hash") == digest and not rekeyed:
            try:
                encoding = _known_encoding(cursor.get("encoding"))
                start = Position(int(cursor["offset"]), int(cursor["line"]), int(cursor["row"]), encoding)
            except (KeyError, TypeError, ValueError, LookupError):
                start = None  # a cursor we cannot use means reading the file again
        if start is None and self._check_key_before_reading(path, key):
            problem = key_problem(csv_file, key)
            if problem:
                raise PermanentError(problem + "; set the key on the connection page")
        yielded = yielded_before = False
        before = start or (csv_file.data_start if header else None)
        number = (start.row if start is not None else 0) + 1  # the next record's number (line keys)
        for table, records, errors, pos in csv_file.table_pages(page_size=page_size, start=start):
            yielded = True
            unreadable = frozenset(e.position for e in errors if isinstance(e.position, int))
            if key is not None and key.by_line:
                count = table.num_rows if table is not None else len(records)
                table, records = _with_lines(table, records, number)
                number = max(number + count, pos.row + 1)
            yield Page(
                records=records,
                table=table,
                errors=errors,
                cursor=_cursor(digest, pos, key_text),
                line_of=csv_file.record_lines(before, pos, unreadable) if before is not None else None,
                from_start=start is None and not yielded_before,
                rekeyed=rekeyed,
            )
            yielded_before = True
            before = pos
        if not yielded and start is None:
            first = csv_file.data_start if header else Position(0, 0, 0)
            yield Page(
                records=[], errors=[], rekeyed=rekeyed,
                cursor={"hash": digest, "offset": first.offset, "line": first.line, "row": 0, "key": key_text},
                from_start=True,
            )
