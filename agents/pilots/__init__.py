"""The pilots: pure functions from unified-view rows to metrics and findings.

They never touch the database, Redis or the clock (today is passed in), so every number can be
checked by hand against a small dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PilotResult:
    metrics: dict = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
