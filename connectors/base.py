"""The one driver interface every connector kind implements (docs/contracts.md, Connectors).

Records a driver yields are JSON-compatible dicts: str, int, float, bool, None, list, dict. Dates and
datetimes are ISO-8601 strings, decimals are strings (no precision lost), ids are strings. Files
yield their cells as the strings they hold ("" for an empty cell).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

if TYPE_CHECKING:
    from pydantic import BaseModel

FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "json")
DEFAULT_PAGE_SIZE = 1000


@dataclass(slots=True)
class CheckResult:
    ok: bool
    message: str


@dataclass(slots=True)
class SourceField:
    """One field of a source object. `keyed_samples` maps a record's primary key to this field's value
    in that record (at most AAM_MAX_SAMPLES_PER_TABLE records, non-empty values only): two discoveries
    of the same records tell a renamed field from a dropped one by the values (see aam.drift)."""

    name: str
    type: str = "string"
    samples: list[Any] = field(default_factory=list)
    nullable: bool = True
    keyed_samples: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SourceObject:
    name: str
    fields: list[SourceField]
    primary_key: str | None = None
    cursor_field: str | None = None
    row_count: int | None = None
    # A boolean field whose true marks a record deleted at the source that the read still returns
    # (Salesforce's IsDeleted through queryAll): such a record becomes a canonical delete (ADR 0019).
    deleted_field: str | None = None
    # Where the key came from, for sources whose records have no key of their own (CSV files, ADR
    # 0024): "" (the source's own primary key), "id_column" (a file's id column), "set" (set by a
    # person), "columns" (columns chosen because they tell the rows apart), "line" (the row's number
    # in the file), "content" (a hash of the row). Only "" and "id_column" are the record's id to the
    # mapping engine: a key of names or emails keeps its columns mapped as names and emails.
    key_basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass(slots=True)
class RecordError:
    """A record the driver could not read. `position` is the line number for files, else the
    record's index or id; `reason` says what was wrong; `raw` is the offending text (truncated)."""

    position: int | str
    reason: str
    raw: str = ""


@dataclass(slots=True)
class Page:
    """One page of records. Store `cursor` only once the page's records are durably published:
    reading again from it resumes right after this page."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any] | None
    errors: list[RecordError] = field(default_factory=list)
    # The same records as an Arrow table (pyarrow.Table), for a driver that reads columns natively
    # (filesource, postgres/supabase, mongodb: ADR 0018); when set, `records` is empty and the
    # pipeline takes the table as it is. Its columns hold what the records would: JSON-compatible
    # values, nested ones as JSON text.
    table: Any = None
    # For files: the line the page's i-th record starts on (None when unknown). Called only for the
    # few records that are quarantined, so a driver may compute it lazily.
    line_of: Callable[[int], int | None] | None = None
    # The read began at the object's first record (no cursor, or one the source could not use): with
    # a "full_read" source, the read's keys are then every key the object has (docs/adr/0019).
    from_start: bool = False
    # Keys of records the source reports deleted since the cursor the read began from (Dynamics
    # change tracking's removed entities), as the pipeline's `_source_id`s: with a
    # "change_tracking" source they go to the DCL's delete stage (docs/adr/0021-run-counts.md).
    removed: list[str] = field(default_factory=list)
    # The object's key changed since the read that left the cursor (a file whose key a person set
    # anew): the read starts from the first record and every key is new, so the records held under the
    # old key are replaced by this read's, whatever the deletes mode (docs/adr/0024-files-as-snapshots.md).
    rekeyed: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """The page's records as dicts, whichever way the driver handed them over."""
        return self.table.to_pylist() if self.table is not None else list(self.records)

    @property
    def record_count(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.records)


def max_samples() -> int:
    return int(settings.AAM_MAX_SAMPLES_PER_TABLE)


def record_key(record: dict[str, Any], primary_key: str | None) -> str | None:
    """The record's primary key as text (`a|b` for a composite key `a,b`); None when a part is empty."""
    if not primary_key:
        return None
    parts = []
    for name in primary_key.split(","):
        value = record.get(name.strip())
        if value is None or value == "":
            return None
        parts.append(str(value))
    return "|".join(parts)


def keyed_samples_fill(fields: list[SourceField], records: list[dict[str, Any]], primary_key: str | None) -> None:
    """Give every field the values of the first records that have a primary key, keyed by that key."""
    from .typeinfer import sample_of

    if not primary_key:
        return
    limit = max_samples()
    keyed = []
    for record in records:
        key = record_key(record, primary_key)
        if key is not None:
            keyed.append((key, record))
            if len(keyed) >= limit:
                break
    for f in fields:
        f.keyed_samples = {
            key: sample_of(record[f.name])
            for key, record in keyed
            if record.get(f.name) is not None and (not isinstance(record[f.name], str) or record[f.name].strip())
        }


class Driver(abc.ABC):
    """Base of every connector driver. Construct through `connectors.registry.driver_for`."""

    kind: ClassVar[str] = ""

    # connection: the connectors.models.Connection, if any (not imported: the models import the registry)
    def __init__(self, *, config: BaseModel, secrets: BaseModel, connection: Any = None, **options: Any):
        self.config = config
        self.secrets = secrets
        self.connection = connection
        self.options = options

    def __repr__(self) -> str:  # never show config secrets in a repr
        return f"<{type(self).__name__} connection={getattr(self.connection, 'pk', None)}>"

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Reach the source and prove the credentials work. Raises ConnectorError subclasses."""

    @abc.abstractmethod
    def discover(self) -> list[SourceObject]:
        """The source's objects with fields, types, and at most AAM_MAX_SAMPLES_PER_TABLE samples per field."""

    @abc.abstractmethod
    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        """Records of one object after `cursor` (None = from the start), in pages."""

    def value_metadata(self, object_name: str) -> dict[str, dict]:
        """What the vendor's own API says about the value lists of one object's columns: column →
        `{"options": [{"value", "label"}]}` (picklists, option sets) or `{"stages": [{"value", "label",
        "probability"?, "is_closed"?, "is_won"?, "forecast_category"?}]}` (deal stages; probability on
        0–1). Only columns that have a value list appear; sources without such metadata give `{}`.

        `value` is the vendor's stored value (a Dynamics option's integer, a HubSpot internal name, a
        Salesforce API name); a driver that delivers labels in its records (HubSpot, Dynamics) sends
        the same label here, so a record's value matches either. Labels are the vendor's text as it
        is (never escaped or trimmed here: pages escape it). Drivers fetch it once per object and
        instance (one sync) and never raise: a failure is logged and gives `{}`, so a sync never
        fails because metadata is missing."""
        return {}

    # --- deletes (docs/adr/0019-deletes.md) ---------------------------------------------------------

    def deletes_mode(self, object_name: str) -> str:
        """How this source tells which of an object's records were deleted:
        "none" - it does not (append-only sources, kinds that have no way yet);
        "full_read" - a read that starts from the object's first record (Page.from_start) brings
            every key the object has: a key the DCL holds that the read did not bring was deleted;
        "key_ranges" - `key_digests` and `keys_in_ranges` compare the keys range by range, each sync;
        "change_tracking" - the source reports its deletes (`Page.removed`) when read from a delta,
            and a read from the object's first record brings every key, as "full_read"."""
        return "none"

    def key_scheme(self, object_name: str) -> str:
        """How `key_digests` ranges and sums the object's keys: "md5" or "int" (connectors/keyranges.py)."""
        return "md5"

    def key_digests(self, object_name: str, buckets: int) -> dict[int, tuple[int, ...]]:
        """{range: (keys, sums...)} of the object's keys (connectors/keyranges.py)."""
        raise NotImplementedError(f"{type(self).__name__} does not compare keys by range")

    def keys_in_ranges(self, object_name: str, buckets: int, ranges: list[int]) -> Iterator[str]:
        """The object's keys that fall in `ranges`."""
        raise NotImplementedError(f"{type(self).__name__} does not compare keys by range")

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release network clients; drivers without any keep this no-op."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
