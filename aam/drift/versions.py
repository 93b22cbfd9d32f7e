"""Mapping versions written by drift repairs: applied repairs, pending rows for queued ones, and the
fields a pending removal or rename keeps in the mapping (`holds`)."""

from __future__ import annotations

from aam.models import FieldMapping
from aam.selectors import drift_held_fields
from connectors.models import Connection

from .repair import Repair


def holds(repair: Repair) -> bool:
    """A queued repair that keeps a field gone from the source in the mapping."""
    return repair.change.kind in ("renamed", "removed") and not repair.change.swap and repair.action in ("move", "drop")


def new_row(connection, object_name: str, entity: str, repair: Repair, *, status: str) -> FieldMapping:
    return FieldMapping(
        connection=connection,
        source_object=object_name,
        source_field=repair.source_field,
        source_type=repair.field_type,
        value_signature=repair.value_signature,
        canonical_entity=entity,
        canonical_field=repair.canonical_field,
        confidence=repair.confidence,
        method=repair.method if repair.method in FieldMapping.Method.values else FieldMapping.Method.NONE,
        status=status,
        explanation=("drift repair: " + repair.explanation)[:2000],
    )


def version_write(
    *, connection: Connection, object_name: str, latest: list[FieldMapping], rows: list[FieldMapping]
) -> int:
    """Store `rows` as the next mapping version of the object; the rows in force become superseded."""
    version = latest[0].version + 1
    FieldMapping.objects.filter(pk__in=[r.pk for r in latest], status=FieldMapping.Status.ACTIVE).update(
        status=FieldMapping.Status.SUPERSEDED
    )
    for row in rows:
        row.pk = None
        row.connection = connection
        row.source_object = object_name
        row.version = version
        row.full_clean(validate_unique=False, validate_constraints=False)
        row.save()
    return version


def _signature(rows) -> set[tuple]:
    return {(r.source_field, r.canonical_field, r.status, r.source_type) for r in rows}


def write_version(connection, obj, latest, repairs: list[Repair], decisions: dict[int, str], snaps) -> int | None:
    """The next mapping version with the applied repairs, pending rows for queued ones, held fields kept."""
    present = {s.name for s in snaps}
    by_field = {r.source_field: r for r in latest}
    entity = next((r.canonical_entity for r in latest if r.canonical_entity), "")
    held = drift_held_fields(connection=connection, source_object_name=obj.name)
    held |= {r.change.field for r in repairs if decisions[id(r)] == "queue" and holds(r)}
    out: dict[str, FieldMapping] = {
        name: row.carried_forward() for name, row in by_field.items() if name in present or name in held
    }
    for repair in repairs:
        decision = decisions[id(repair)]
        name = repair.source_field
        if decision == "suppress":
            continue
        if decision == "apply":
            if repair.action == "drop":
                out.pop(repair.change.field, None)
            elif repair.action == "retype" and name in out:
                out[name] = by_field[name].carried_forward(
                    source_type=repair.field_type or by_field[name].source_type,
                    value_signature=repair.value_signature or by_field[name].value_signature,
                    explanation=f"drift repair: {repair.explanation}"[:2000],
                )
            else:  # move, swap, map, unmap
                out[name] = new_row(connection, obj.name, entity, repair, status=FieldMapping.Status.ACTIVE)
            continue
        # Queued: the mapping in force stays (held fields included); a field new to the mapping gets a
        # pending row (or an unmapped one) so that mapping_ensure does not map it behind the reviewer.
        if repair.action in ("move", "map"):
            out[name] = new_row(connection, obj.name, entity, repair, status=FieldMapping.Status.PENDING)
        elif repair.action == "unmap" or (repair.action == "drop" and repair.change.kind == "renamed"):
            out.setdefault(name, unmapped_row(connection, obj.name, entity, repair))
    if _signature(out.values()) == _signature(latest):
        return None
    return version_write(connection=connection, object_name=obj.name, latest=latest, rows=list(out.values()))


def unmapped_row(connection, object_name: str, entity: str, repair: Repair) -> FieldMapping:
    return FieldMapping(
        connection=connection,
        source_object=object_name,
        source_field=repair.source_field,
        source_type=repair.field_type,
        value_signature=repair.value_signature,
        canonical_entity=entity,
        canonical_field=None,
        confidence=0.0,
        method=FieldMapping.Method.NONE,
        status=FieldMapping.Status.ACTIVE,
        explanation="drift: awaiting review",
    )
