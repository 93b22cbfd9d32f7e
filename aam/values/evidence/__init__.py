"""Evidence for the value engine, strongest first: vendor metadata (`metadata`), the tenant's memory
of approved maps (`memory`), standard code lists (`codes`: ISO 3166-1/-2, ISO 4217; `regions`: the
providers' region catalogs; `focus`: FOCUS ServiceCategory/ChargeCategory and the published
service crosswalks), lexical similarity (`lexical`) and numbers (`probability`). Every module answers
with `Candidate`s; the engine fuses them and decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One piece of evidence: `canonical` (None = 'no canonical value applies') with a confidence."""

    canonical: Any
    confidence: float
    evidence: str
    note: str = ""
