"""Reads of canonical values: which source columns are value-mapped (from the active field
mappings), the value maps awaiting a person, grouped by field and source, for the review page."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum

from aam.models import ColumnMetadata, FieldMapping, ValueMap
from aam.ontology import get_ontology
from connectors.models import Connection


@dataclass(frozen=True)
class ValueColumn:
    """One source column mapped onto a field with a value set: `field` is the canonical field whose
    values are decided (status and stage_category too), `reads` the canonical column of the source
    table the values are read from (`stage` for the derived fields, the fallback field's for a field
    the source maps no column onto: service_name for a CUR's service_category)."""

    connection_id: int
    vendor: str
    source_object: str
    entity: str
    field: str
    reads: str
    column: str
    source_type: str = "string"


def connection_vendor(connection) -> str:
    """The vendor a connection's values come from: a CSV export names its system (`source_system`),
    else the connection's kind. The value memory is keyed on it."""
    return str((connection.config or {}).get("source_system") or connection.kind or "").lower()


def value_columns(*, connection_ids=None) -> list[ValueColumn]:
    """Every value-mapped column of the tenant's connections (of `connection_ids` when given):
    the active field mappings onto a field with a value set, plus the derived fields of the field
    they derive from (an opportunity's status and stage_category from its stage)."""
    ontology = get_ontology()
    connections = Connection.objects.all()
    if connection_ids is not None:
        connections = connections.filter(pk__in=list(connection_ids))
    vendors = {c.pk: connection_vendor(c) for c in connections}
    rows = (
        FieldMapping.objects.filter(connection_id__in=list(vendors), status=FieldMapping.Status.ACTIVE,
                                    canonical_field__isnull=False)
        .exclude(canonical_entity="")
        .order_by("connection_id", "source_object", "id")
    )
    out: list[ValueColumn] = []
    mapped: dict[tuple[int, str, str], dict[str, FieldMapping]] = {}
    for row in rows:
        if row.canonical_entity not in ontology.entities:
            continue
        mapped.setdefault((row.connection_id, row.source_object, row.canonical_entity), {}).setdefault(
            row.canonical_field, row)
        entity = ontology.entities[row.canonical_entity]
        fields = [f.name for f in entity.value_fields() if f.name == row.canonical_field and f.derived_from is None]
        fields += [f.name for f in entity.derived.values() if f.derived_from == row.canonical_field and f.value_set]
        for name in fields:
            out.append(_column(row, vendors[row.connection_id], name))
    # a field with a fallback that a source maps no column onto: its values are the fallback's
    # (a CUR's service_category from lineItem/ProductCode, mapped onto service_name)
    for (_, _, entity_name), by_field in mapped.items():
        for f in ontology.entities[entity_name].fields.values():
            if f.fallback and f.value_set is not None and f.name not in by_field and f.fallback in by_field:
                row = by_field[f.fallback]
                out.append(_column(row, vendors[row.connection_id], f.name))
    return out


def _column(row: FieldMapping, vendor: str, name: str) -> ValueColumn:
    return ValueColumn(
        connection_id=row.connection_id, vendor=vendor, source_object=row.source_object,
        entity=row.canonical_entity, field=name, reads=row.canonical_field, column=row.source_field,
        source_type=row.source_type or "string",
    )


def fallback_sources(columns: list[ValueColumn]) -> list[tuple[int, str, str, str]]:
    """(connection, source object, entity, field) of the value fields among `columns` (value_columns())
    read from their fallback field's column (the source maps no column onto the field itself)."""
    return sorted({(c.connection_id, c.source_object, c.entity, c.field) for c in columns
                   if c.reads != c.field and not _is_derived(c)})


def _is_derived(column: ValueColumn) -> bool:
    entity = get_ontology().entities.get(column.entity)
    return entity is not None and column.field in entity.derived


def connection_currencies() -> dict[int, str]:
    """{connection: its currency of amounts that carry none} (Connection.currency, where set)."""
    return dict(Connection.objects.exclude(currency="").values_list("pk", "currency"))


def column_metadata(*, connection_id: int, source_object: str) -> dict[str, ColumnMetadata]:
    rows = ColumnMetadata.objects.filter(connection_id=connection_id, source_object=source_object)
    return {m.column: m for m in rows}


@dataclass
class ValueGroup:
    """The value maps of one field of one source, for the review page."""

    connection: Connection
    source_object: str
    entity: str
    field: str
    column: str
    free_text: bool = False
    note: str = ""
    choices: list[str] = field(default_factory=list)
    values: list[ValueMap] = field(default_factory=list)
    pending: int = 0
    records: int = 0


def value_map_list(*, status: str | None = None, connection_id: int | None = None, entity: str | None = None,
                   field_name: str | None = None) -> QuerySet[ValueMap]:
    qs = ValueMap.objects.select_related("connection")
    if status:
        qs = qs.filter(status=status)
    if connection_id:
        qs = qs.filter(connection_id=connection_id)
    if entity:
        qs = qs.filter(entity=entity)
    if field_name:
        qs = qs.filter(field=field_name)
    return qs.order_by("connection_id", "source_object", "entity", "field", "-record_count", "id")


def value_groups(*, status: str | None = "pending", connection_id: int | None = None,
                 limit: int = 500) -> list[ValueGroup]:
    """Value maps grouped by (source, field), the largest record counts first, and the free-text columns."""
    from .vocab import choices

    groups: dict[tuple, ValueGroup] = {}
    for vm in value_map_list(status=status, connection_id=connection_id)[:limit]:
        key = (vm.connection_id, vm.source_object, vm.entity, vm.field)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ValueGroup(connection=vm.connection, source_object=vm.source_object,
                                             entity=vm.entity, field=vm.field, column=vm.column,
                                             choices=choices(vm.entity, vm.field))
        group.values.append(vm)
        group.pending += vm.status == ValueMap.Status.PENDING
        group.records += vm.record_count
    return list(groups.values())


def free_text_columns(*, connection_id: int | None = None) -> QuerySet[ColumnMetadata]:
    qs = ColumnMetadata.objects.filter(free_text=True).select_related("connection")
    return qs.filter(connection_id=connection_id) if connection_id else qs


def value_counts() -> dict[str, int]:
    """{status: distinct values} and the records behind the pending ones."""
    rows = ValueMap.objects.values("status").annotate(n=Count("id"), records=Sum("record_count"))
    counts = {s: 0 for s in ValueMap.Status.values}
    counts["pending_records"] = 0
    for row in rows:
        counts[row["status"]] = row["n"]
        if row["status"] == ValueMap.Status.PENDING:
            counts["pending_records"] = int(row["records"] or 0)
    counts["drift"] = ValueMap.objects.filter(Q(drift=True)).count()
    return counts
