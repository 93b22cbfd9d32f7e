"""What a pipeline run tells: one `StepInfo` per step it ran (rows, seconds), gathered in `RunInfo`;
a step that fails is raised once as `PipelineStepFailed` with the step's info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepInfo:
    # "read" (read, normalize, publish), "consume" (write to DuckDB), "deletes" (what the source no
    # longer has), "changes" (inserted, updated, deleted per object), "values" (canonical values),
    # "materialize" (views + PostgreSQL)
    step: str
    connection_id: int | None = None
    rows: int = 0
    seconds: float = 0.0
    ok: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "connection_id": self.connection_id, "rows": self.rows,
                "seconds": round(self.seconds, 3), "ok": self.ok, "details": self.details}


@dataclass
class RunInfo:
    trigger: str
    full: bool = False
    steps: list[StepInfo] = field(default_factory=list)

    def step(self, name: str, connection_id: int | None = None) -> StepInfo | None:
        """The last info of step `name` (of `connection_id`, for the read step)."""
        for info in reversed(self.steps):
            if info.step == name and (connection_id is None or info.connection_id == connection_id):
                return info
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "full": self.full, "steps": [s.as_dict() for s in self.steps]}


class PipelineStepFailed(Exception):
    """Step `step` of a run failed with `exception`; `step_info` says how far it got."""

    def __init__(self, step: str, exception: BaseException, step_info: StepInfo) -> None:
        self.step = step
        self.exception = exception
        self.step_info = step_info
        super().__init__(f"{step} failed: {exception.__class__.__name__}: {exception}")
