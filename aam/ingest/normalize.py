"""A page of source records → a canonical, typed Arrow table (+ the records that must be quarantined).

Everything is per column: the mapping renames columns, coerce.py casts them, tag columns are
collected into the entity's `tags` (tags.py), data-quality flags are vectorized predicates. The
per-record work is limited to values that fail a cast (to give each a reason) and to pages that
arrive as Python dicts (converted once, column by column).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .coerce import coerce_column, is_deal_status
from .jsoncols import json_objects
from .kinds import ARROW_TYPES, Kind, kind_for
from .tags import collect_tags, tag_columns, tag_key

# Flags a record carries when it lands (it is not quarantined for these).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "account": ("name",),
    "contact": ("last_name",),
    "opportunity": ("name",),
    "cloud_resource": ("id",),
    "cost": ("billed_cost",),
}
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


@dataclass(frozen=True)
class FieldPlan:
    """One canonical field and the source columns that feed it, in order: `source` first, then each of
    `fallbacks` where the columns before it left the record empty (the first good value wins, docs/adr/
    0031-coalesce-source-columns.md). Two kinds of fallback, one mechanism:
    - another column the mapping maps onto the same field, an alternative on other lines (a CUR's
      `reservation/ReservationARN` beside `savingsPlan/SavingsPlanARN`: one is filled per line);
    - a flattened `parent.name` is fed by `parent` itself where that holds a plain value: one attribute
      that is an object on some records and a scalar on others (AWS Config's `configuration.state` is
      {code, name} for an instance, "available" for a volume), flattened into two columns.
    """

    source: str
    canonical: str
    kind: Kind
    fallbacks: tuple[str, ...] = ()

    @property
    def feeds(self) -> tuple[str, ...]:
        return (self.source, *self.fallbacks)


# The leaf of a flattened object that carries the object's value when it is one.
_VALUE_LEAVES = ("name", "value", "label")


@dataclass(frozen=True)
class NormalizePlan:
    """How one source object becomes one canonical entity (built once per object per sync)."""

    entity: str
    source_object: str
    fields: tuple[FieldPlan, ...]
    id_fields: tuple[str, ...]  # source fields forming the record's id (empty: content hash)
    schema_fingerprint: str
    mapping_version: int
    confidences: dict[str, float] = field(default_factory=dict)
    tags_field: str | None = None  # the entity's JSON field that tag columns are collected into
    deleted_field: str | None = None  # a source field whose true marks a deleted record (ADR 0019)
    # Columns a person excluded in the mapping editor: not even in `_extras` (docs/adr/0027).
    excluded: frozenset[str] = frozenset()
    # Canonical fields a person's mapping change took away from this object: sent empty, so the
    # stored records do not keep the old mapping's values (the DCL keeps fields a batch lacks).
    cleared: tuple[tuple[str, Kind], ...] = ()
    # The source columns the mapping maps (a `parent` fallback of a value leaf is not one: it also
    # stays in `_extras`). None: every column a field plan reads.
    mapped: frozenset[str] | None = None

    @property
    def mapped_sources(self) -> frozenset[str]:
        if self.mapped is not None:
            return self.mapped
        return frozenset(c for f in self.fields for c in f.feeds)


@dataclass(frozen=True)
class Rejected:
    """A record that cannot land: why, where, and the record as read."""

    position: int | None  # line number for files; None when the source gives none
    source_id: str
    reason: str
    raw: dict[str, Any]


@dataclass
class NormalizedPage:
    table: pa.Table  # wire columns (see batches.py)
    rejected: list[Rejected]
    read: int


def build_plan(
    *,
    entity: str,
    source_object: str,
    mapping_fields: dict[str, str | None],
    entity_fields: dict[str, str],
    id_fields: tuple[str, ...],
    fingerprint: str,
    mapping_version: int,
    confidences: dict[str, float] | None = None,
    deleted_field: str | None = None,
    excluded: frozenset[str] | set[str] | tuple[str, ...] = (),
    cleared: frozenset[str] | set[str] | tuple[str, ...] = (),
) -> NormalizePlan:
    """`mapping_fields`: source field → canonical field; `entity_fields`: canonical field → type name.

    A mapping onto a field the entity does not have is ignored (never invent columns). Two or more
    source fields mapped onto one canonical field all feed it in the mapping's order (its rows' order:
    the source's column order when the mapping version was written, aam/services.py): the first good
    value of a record wins (docs/adr/0031-coalesce-source-columns.md).
    An entity with a JSON `tags` field collects the source's tag columns into it (tags.py); a single
    tag column mapped onto `tags` itself is collected like the others. `excluded` columns travel
    nowhere (not in `_extras`); `cleared` canonical fields the mapping no longer feeds are sent empty.
    """
    tags_field = "tags" if "tags" in entity_fields and kind_for(entity_fields["tags"]) is Kind.JSON else None
    feeders: dict[str, list[str]] = {}
    for source, canonical in mapping_fields.items():
        if not canonical or canonical not in entity_fields:
            continue
        if canonical == tags_field and tag_key(source) is not None:
            continue
        feeders.setdefault(canonical, []).append(source)
    plans: list[FieldPlan] = []
    mapped: set[str] = set()
    for canonical, sources in feeders.items():
        feeds: list[str] = []
        for source in sources:
            mapped.add(source)
            feeds.append(source)
            parent, _, leaf = source.rpartition(".")
            if parent and leaf.lower() in _VALUE_LEAVES and not mapping_fields.get(parent) and parent not in feeds:
                feeds.append(parent)
        plans.append(
            FieldPlan(feeds[0], canonical, kind_for(entity_fields[canonical]), fallbacks=tuple(feeds[1:]))
        )
    taken = set(feeders)
    conf = {}
    for canonical, sources in feeders.items():
        # the field's confidence is its first column's (the one that feeds most records, usually)
        source = sources[0]
        if confidences and source in confidences:
            conf[canonical] = float(confidences[source])
        elif confidences and canonical in confidences:
            conf[canonical] = float(confidences[canonical])
    emptied = tuple(
        (name, kind_for(entity_fields[name]))
        for name in sorted(cleared)
        if name in entity_fields and name not in taken and name != "id" and name != tags_field
    )
    return NormalizePlan(
        entity=entity,
        source_object=source_object,
        fields=tuple(plans),
        id_fields=tuple(id_fields),
        schema_fingerprint=fingerprint,
        mapping_version=int(mapping_version),
        confidences=conf,
        tags_field=tags_field,
        deleted_field=deleted_field,
        excluded=frozenset(excluded),
        cleared=emptied,
        mapped=frozenset(mapped),
    )


# --- pages → Arrow -----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _column(values: list[Any] | tuple[Any, ...]) -> pa.Array:
    try:
        arr = pa.array(values)  # one C pass for the usual case: every value of one type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        arr = None
    if arr is not None and not (pa.types.is_nested(arr.type) or pa.types.is_binary(arr.type)):
        return arr
    values = [_jsonable(v) for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        # Mixed types in one field (a MongoDB collection, say): strings, coerced later.
        return pa.array([None if v is None else _as_text(v) for v in values], type=pa.string())


def _as_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Python records → an Arrow table, column by column; every key of any record is a column."""
    if records:
        first = list(records[0])
        # Files and SQL rows: every record has the same keys in the same order; transpose in C.
        if all(list(r) == first for r in records):
            columns = zip(*(r.values() for r in records), strict=True)
            return pa.table({name: _column(col) for name, col in zip(first, columns, strict=True)})
    names: dict[str, None] = {}
    for record in records:
        for key in record:
            names.setdefault(key, None)
    return pa.table({name: _column([r.get(name) for r in records]) for name in names})


def page_table(page: Any) -> pa.Table:
    """A driver page as Arrow: a driver may hand over `page.table` (columnar) instead of records."""
    table = getattr(page, "table", None)
    if table is not None:
        return table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
    return records_to_table(list(page.records or []))


# --- normalization -----------------------------------------------------------------------------


def _source_ids(table: pa.Table, plan: NormalizePlan) -> pa.Array:
    present = [f for f in plan.id_fields if f in table.column_names]
    if present and len(present) == len(plan.id_fields):
        parts = [pc.utf8_trim_whitespace(pc.cast(table[f].combine_chunks(), pa.string())) for f in present]
        if len(parts) == 1:
            ids = parts[0]
        else:
            ids = pc.binary_join_element_wise(*parts, "|", null_handling="replace", null_replacement="")
        return pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)
    # No primary key: the record's content is its identity (identical lines are one record).
    rows = table.to_pylist()
    return pa.array(
        [
            hashlib.blake2b(json.dumps(r, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()
            for r in rows
        ],
        type=pa.string(),
    )


def _quality_flags(
    columns: dict[str, pa.Array], entity: str, n: int, overruled: dict[str, pa.Array] | None = None
) -> pa.Array:
    flags: list[tuple[pa.Array, str]] = []
    for name, mask in (overruled or {}).items():
        # a column of the field held a value that cannot be the field; a later column's value fed it
        flags.append((mask, f"invalid_alternative:{name}"))
    for name in REQUIRED_FIELDS.get(entity, ()):
        col = columns.get(name)
        flags.append((pa.array([True] * n) if col is None else pc.is_null(col), f"missing:{name}"))
    email = columns.get("email")
    if email is not None:
        bad = pc.invert(pc.match_substring_regex(email, _EMAIL_RE))
        flags.append((pc.fill_null(bad, False), "invalid:email"))
    for money in ("amount", "billed_cost", "effective_cost", "annual_revenue"):
        col = columns.get(money)
        if col is not None:
            flags.append((pc.fill_null(pc.less(col, pa.scalar(0, col.type)), False), f"negative:{money}"))
    probability = columns.get("probability")
    if probability is not None:
        out = pc.or_(
            pc.less(probability, pa.scalar(0, probability.type)),
            pc.greater(probability, pa.scalar(100, probability.type)),
        )
        flags.append((pc.fill_null(out, False), "out_of_range:probability"))
    acc = None
    for mask, flag in flags:
        # An empty page (a header-only file) has null-typed columns, and so null-typed masks.
        if len(mask) == 0 or pa.types.is_null(mask.type) or not pc.any(mask).as_py():
            continue
        part = pc.if_else(mask, flag, pa.scalar(None, pa.string()))
        if acc is None:
            acc = part
        else:
            both = pc.binary_join_element_wise(acc, part, ",")
            acc = pc.if_else(pc.is_null(acc), part, pc.if_else(pc.is_null(part), acc, both))
    return pa.nulls(n, pa.string()) if acc is None else acc


def _extras(
    table: pa.Table, plan: NormalizePlan, keep: pa.Array | None, collected: frozenset[str] = frozenset()
) -> pa.Array | None:
    """JSON of the source fields the mapping leaves unmapped (tag columns collected into `tags` excepted:
    their values travel there, keyed by tag; excluded columns travel nowhere)."""
    unmapped = [
        c
        for c in table.column_names
        if c not in plan.mapped_sources and c not in collected and c not in plan.excluded and not c.startswith("__")
    ]
    if not unmapped:
        return None
    sub = table.select(unmapped)
    if keep is not None:
        sub = sub.filter(keep)
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in sub.schema.types):
        return _extras_of_text(sub)
    out = []
    for row in sub.to_pylist():
        row = {k: v for k, v in row.items() if v is not None and v != ""}
        out.append(json.dumps(row, sort_keys=True, default=str) if row else None)
    return pa.array(out, type=pa.string())


def _extras_of_text(sub: pa.Table) -> pa.Array:
    """`_extras` of text columns (every CSV page), built column by column: the JSON objects json.dumps
    gave record by record, without the Python step per record (for a cost export with a hundred
    unmapped columns that step was most of the normalization's time). NUL characters are dropped."""
    return json_objects({name: sub[name].combine_chunks().cast(pa.string()) for name in sub.column_names})


def _delete_ops(table: pa.Table, plan: NormalizePlan) -> pa.Array | None:
    """`_op` of a page whose source marks deleted records in a field (None when none is marked):
    "delete" where the field is true, null (an upsert) elsewhere."""
    if not plan.deleted_field or plan.deleted_field not in table.column_names:
        return None
    text = pc.utf8_lower(pc.cast(table[plan.deleted_field].combine_chunks(), pa.string()))
    flag = pc.fill_null(pc.equal(text, "true"), False)
    if not pc.any(flag).as_py():
        return None
    return pc.if_else(flag, pa.scalar("delete", pa.string()), pa.scalar(None, pa.string()))


def normalize_page(table: pa.Table, plan: NormalizePlan, *, first_position: int = 1) -> NormalizedPage:
    """Coerce a page to canonical columns; records with a value that cannot be coerced, or without an
    id, are rejected with the reason (they are quarantined by the caller, never dropped)."""
    n = table.num_rows
    ids = _source_ids(table, plan)
    columns: dict[str, pa.Array] = {}
    errors: dict[int, list[str]] = {}
    overruled: dict[str, pa.Array] = {}
    for fp in plan.fields:
        fed = _coalesced(table, fp)
        if fed is None:
            continue  # the source stopped sending these columns: null, drift detection reports it
        columns[fp.canonical], field_errors, bad = fed
        if bad is not None:
            overruled[fp.canonical] = bad
        for row, reason in field_errors.items():
            errors.setdefault(row, []).append(reason)
    closed = _closed_from_status(table, plan, columns)
    if closed is not None:
        columns["is_closed"] = closed
    collected = _collect_tags(table, plan, columns)
    for name, kind in plan.cleared:  # after the derived ones: a cleared field they fill keeps their values
        columns.setdefault(name, pa.nulls(n, ARROW_TYPES[kind]))
    if "id" not in columns:
        columns["id"] = ids
    missing_id = pc.is_null(ids)
    if pc.any(missing_id).as_py():
        for row in pc.indices_nonzero(missing_id).to_pylist():
            errors.setdefault(row, []).append("record has no source id: " + ", ".join(plan.id_fields or ("content",)))
    positions = pa.array(range(first_position, first_position + n), type=pa.int64())
    keep = None
    rejected: list[Rejected] = []
    if errors:
        bad_rows = sorted(errors)
        raws = table.take(pa.array(bad_rows)).to_pylist()
        id_list = ids.take(pa.array(bad_rows)).to_pylist()
        for row, raw, sid in zip(bad_rows, raws, id_list, strict=True):
            rejected.append(
                Rejected(
                    position=first_position + row,
                    source_id=sid or "",
                    reason="; ".join(errors[row]),
                    raw={k: _jsonable_raw(v) for k, v in raw.items()},
                )
            )
        mask = [True] * n
        for row in bad_rows:
            mask[row] = False
        keep = pa.array(mask)
    arrays = {"_source_id": ids, "_position": positions, **columns}
    arrays["_dq"] = _quality_flags(columns, plan.entity, n, overruled)
    ops = _delete_ops(table, plan)
    if ops is not None:
        arrays["_op"] = ops
    if keep is not None:
        arrays = {k: v.filter(keep) for k, v in arrays.items()}
    extras = _extras(table, plan, keep, collected)
    if extras is not None:
        arrays["_extras"] = extras
    out = pa.table(arrays)
    return NormalizedPage(table=out, rejected=rejected, read=n)


def _coalesced(table: pa.Table, fp: FieldPlan) -> tuple[pa.Array, dict[int, str], pa.Array | None] | None:
    """The field's values from its columns in order, the first good value of a record winning; the
    errors of records no column gave a good value; and a mask of the records that landed although a
    column before the winning one held a value that cannot be the field (None: no such record).

    A value that cannot be coerced never hides a later column's good value, and a later column's
    bad value never touches a record an earlier column already filled. A record with no good value
    and a bad one is rejected as before, with the reasons of every column that had a bad value.
    None when the page carries none of the field's columns.
    """
    values: pa.Array | None = None
    errors: dict[int, str] = {}
    for name in fp.feeds:
        if name not in table.column_names:
            continue
        result = coerce_column(table[name], fp.kind, field_name=fp.canonical)
        if values is None:
            values, errors = result.values, dict(result.errors)
            continue
        empty = _blank(values)
        if not pc.any(empty).as_py():
            break
        values = pc.if_else(empty, pc.if_else(_blank(result.values), values, result.values), values)
        if result.errors:
            empty_rows = empty.to_pylist()
            for row, why in result.errors.items():
                if empty_rows[row]:
                    errors[row] = f"{errors[row]}; {why}" if row in errors else why
    if values is None:
        return None
    if len(fp.feeds) > 1 and pa.types.is_string(values.type):
        values = pc.if_else(_blank(values), pa.scalar(None, values.type), values)
    if not errors:
        return values, errors, None
    filled = pc.is_valid(values).to_pylist()
    rescued = [row for row in errors if filled[row]]
    if not rescued:
        return values, errors, None
    mask = [False] * len(values)
    for row in rescued:
        mask[row] = True
        del errors[row]
    return values, errors, pa.array(mask)


def _blank(values: pa.Array) -> pa.Array:
    """Where a record has no value in a column of a coalesced field: null, or text of spaces only (the
    coercion keeps such text in a field fed by one column; here it must not win over a real value)."""
    if len(values) == 0 or not pa.types.is_string(values.type):
        return pc.is_null(values)
    return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)


_STATUS_COLUMN = re.compile(r"state|status", re.I)


def _closed_from_status(table: pa.Table, plan: NormalizePlan, columns: dict[str, pa.Array]) -> pa.Array | None:
    """A deal's status column mapped to `is_won` (Dynamics' statecode: 0 open, 1 won, 2 lost) says
    whether the deal is closed too, which a boolean `is_won` alone cannot: won and lost are both "not
    won", and lost deals would count as open pipeline. When no column feeds `is_closed`, it is derived
    from the same status, coerced as `is_closed` (open → false, any other state → true). Only a column
    named like a state/status whose values are all state codes or words qualifies (a 0/1 `IsWon` flag
    says nothing about open versus lost)."""
    if "is_won" not in columns or "is_closed" in columns:
        return None
    source = next((f.source for f in plan.fields if f.canonical == "is_won"), None)
    if source is None or source not in table.column_names:
        return None
    if not _STATUS_COLUMN.search(source) or not is_deal_status(table[source]):
        return None
    return coerce_column(table[source], Kind.BOOLEAN, field_name="is_closed").values


def _collect_tags(table: pa.Table, plan: NormalizePlan, columns: dict[str, pa.Array]) -> frozenset[str]:
    """Fills `columns[plan.tags_field]` from the page's tag columns (one mapped onto another field, say
    `resourceTags/user:Owner` → owner, is still a tag); returns the source columns whose values now travel
    there only.

    When the mapping also fills `tags` from a column of its own (a FOCUS `Tags` JSON), that value wins
    where it has tags and the tag columns fill the rest; they then also stay in `_extras`, so no raw
    value is lost either way.
    """
    if plan.tags_field is None:
        return frozenset()
    found = tag_columns(table.column_names)
    if not found:
        return frozenset()
    tags = collect_tags(table, found)
    mapped = columns.get(plan.tags_field)
    if mapped is None:
        columns[plan.tags_field] = tags
        return frozenset(found.values())
    empty = pc.fill_null(pc.is_in(pc.utf8_trim_whitespace(mapped), pa.array(["", "{}", "[]", "null"])), True)
    columns[plan.tags_field] = pc.if_else(empty, tags, mapped)
    return frozenset()


def _jsonable_raw(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def wire_schema(plan: NormalizePlan) -> pa.Schema:
    """The Arrow schema of the batches this plan produces (extras, and tags collected from tag columns,
    may be absent)."""
    fields = [pa.field("_source_id", pa.string()), pa.field("_position", pa.int64())]
    fields += [pa.field(f.canonical, ARROW_TYPES[f.kind]) for f in plan.fields]
    fields += [pa.field(name, ARROW_TYPES[kind]) for name, kind in plan.cleared]
    return pa.schema(fields + [pa.field("_dq", pa.string())])
