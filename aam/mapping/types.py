"""Plain data types of the mapping engine (no Django)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Decision = Literal["auto", "review", "unmapped"]
Method = Literal["memory", "heuristic", "llm", "none"]
SOURCE_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "json")


@dataclass(frozen=True)
class Column:
    """One source column as the engine sees it: a name, a declared type and a few sample values."""

    name: str
    type: str = "string"
    samples: tuple[Any, ...] = ()

    @classmethod
    def coerce(cls, value: Any, *, max_samples: int = 8) -> Column:
        """Build from a dict (`{"name", "type", "samples"}`), a SourceField-like object or a bare name."""
        if isinstance(value, Column):
            return value
        if isinstance(value, str):
            return cls(name=value)
        if isinstance(value, Mapping):
            name, ftype, samples = value.get("name"), value.get("type"), value.get("samples")
        else:
            name, ftype, samples = (
                getattr(value, "name", None),
                getattr(value, "type", None),
                getattr(value, "samples", None),
            )
        if not isinstance(name, str) or not name.strip():
            raise ValueError("every column needs a non-empty name")
        ftype = ftype if isinstance(ftype, str) and ftype in SOURCE_TYPES else "string"
        if samples is None:
            samples = ()
        elif not isinstance(samples, (list, tuple)):
            samples = (samples,)
        return cls(name=name, type=ftype, samples=tuple(samples)[:max_samples])


@dataclass
class FieldProposal:
    source_field: str
    canonical_field: str | None
    confidence: float
    method: Method
    decision: Decision
    explanation: str = ""
    # The column whose field this one feeds too, on the records that column leaves empty (memory says
    # the two are filled on different records, docs/adr/0031): the one case where two columns of an
    # object are mapped onto one canonical field.
    feeds_with: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MappingResult:
    entity: str | None
    entity_confidence: float
    mappings: list[FieldProposal] = field(default_factory=list)
    entity_scores: dict[str, float] = field(default_factory=dict)
    llm_used: bool = False
    notes: list[str] = field(default_factory=list)

    def proposal(self, source_field: str) -> FieldProposal | None:
        return next((m for m in self.mappings if m.source_field == source_field), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "entity_confidence": self.entity_confidence,
            "mappings": [m.as_dict() for m in self.mappings],
        }
