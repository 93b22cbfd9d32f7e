"""The tenant's mapping memory taught by a person's decision (one place for the review queue, drift
reviews and the mapping editor): the engine proposes an approved mapping again for the same field and
never proposes a rejected one for a similar field (docs/adr/0006)."""

from __future__ import annotations

from connectors.models import Connection

from .mapping.memory import memory_key
from .mapping.normalize import parse_name
from .models import FieldMapping, MappingMemory


def memory_teach(
    *, connection: Connection, row: FieldMapping, canonical_field: str | None, approved: bool, user
) -> MappingMemory:
    """Remember a person's decision on one source field (`canonical_field` None + approved: it has no
    counterpart)."""
    memory = MappingMemory(
        source_kind=((connection.config or {}).get("source_system") or connection.kind)[:32],
        source_object=row.source_object,
        field_name=row.source_field,
        normalized_name=memory_key(parse_name(row.source_field))[:512],
        field_type=row.source_type,
        value_signature=row.value_signature,
        canonical_entity=row.canonical_entity,
        canonical_field=canonical_field,
        decision=MappingMemory.Decision.APPROVED if approved else MappingMemory.Decision.REJECTED,
        decided_by=user.get_username() if user is not None and getattr(user, "pk", None) else "",
    )
    memory.full_clean()
    memory.save()
    return memory
