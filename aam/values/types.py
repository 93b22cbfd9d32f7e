"""The value-mapping engine's inputs and outputs (docs/adr/0014-canonical-values.md).

A column's distinct values go in (`ColumnValues`), one `ValueDecision` per distinct value comes out.
Never one decision per record: a million deals with seven stages are seven decisions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

AUTO = "auto"  # canonical value set at or above the auto threshold
REVIEW = "review"  # a candidate between the floor and the threshold: a human decides
UNMAPPED = "unmapped"  # nothing credible: a human decides, the view shows it pending
NULL = "null"  # a placeholder (empty, whitespace, N/A, -): no canonical value applies
DECISIONS = (AUTO, REVIEW, UNMAPPED, NULL)


def raw_key(raw: Any) -> str:
    """The text key of a raw value: the string itself, else its JSON text (`21`, `true`, `null`)."""
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class ColumnValues:
    """One source column mapped onto a field with a value set, and its distinct values.

    `source` is the vendor or kind (salesforce, hubspot, dynamics, aws, csv, ...); `type` the vendor's
    type of the column (string, integer, number, boolean); `metadata` what the vendor's API says of the
    column, in one shape: {"options": [{"value", "label"}]} or {"stages": [{"value", "label",
    "probability"?, "is_closed"?, "is_won"?, "forecast_category"?}]}; `values` the distinct raw values
    with their record counts."""

    source: str
    object: str
    entity: str
    field: str
    column: str
    type: str = "string"
    metadata: dict | None = None
    values: tuple[tuple[Any, int], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.entity}.{self.field}"


@dataclass(frozen=True)
class ValueDecision:
    """What one distinct raw value means. `canonical` is a value of the field's value set (a float for
    probability) or None; `label` is the vendor's own label of a code (Dynamics 9 → "Consulting"),
    kept beside the canonical value in the views; `evidence` names what decided (metadata, memory,
    code_list, lexical, semantic, llm, placeholder)."""

    raw: Any
    canonical: Any
    confidence: float
    decision: str
    evidence: str = ""
    label: str | None = None
    count: int = 0

    @property
    def key(self) -> str:
        return raw_key(self.raw)

    def as_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "canonical": self.canonical,
            "confidence": round(float(self.confidence), 4),
            "decision": self.decision,
            "evidence": self.evidence,
            "label": self.label,
        }


@dataclass(frozen=True)
class ColumnResult:
    """The decisions for a column. `free_text` is set when the column has too many distinct values to
    be a picklist (it is then not value-mapped and says so on the field)."""

    column: ColumnValues
    decisions: tuple[ValueDecision, ...] = ()
    free_text: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)
