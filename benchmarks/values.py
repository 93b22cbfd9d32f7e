"""The value engine on case files: the `map_values` command's case reader and output, and the
`bench_values` scorer (value accuracy, precision of `auto`, correct `auto` share, per case lines).

Case format: the eval README's (`{"source", "object", "entity", "field", "column", "type",
"metadata"?, "values": [{"raw", "count"}], "truth"?, "alternatives"?}`); a blind case has no truth.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aam.values.engine import map_column
from aam.values.types import ColumnResult, ColumnValues, raw_key

MAX_CASE_BYTES = 20 * 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
OWN_CASES = REPO / "benchmarks" / "cases" / "values"


class CaseError(ValueError):
    """The case file cannot be read as a value case; the message says why."""


def eval_dir() -> Path:
    """The eval's dev folder: AUTONOMOS_EVAL_DIR (default ../shared/eval relative to the repo)."""
    base = Path(os.environ.get("AUTONOMOS_EVAL_DIR") or (REPO.parent / "shared" / "eval"))
    return base / "values" / "dev"


def load_case(path: str | Path) -> dict:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CASE_BYTES:
            raise CaseError(f"{p}: larger than {MAX_CASE_BYTES // (1024 * 1024)} MB")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise CaseError(f"{p}: is a folder, not a case file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{p}: cannot be read ({exc.__class__.__name__})") from None
    try:
        case = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(f"{p}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return validate_case(case, name=str(p))


def validate_case(case: Any, *, name: str = "case") -> dict:
    if not isinstance(case, dict):
        raise CaseError(f"{name}: a case is a JSON object")
    for key in ("entity", "field"):
        if not isinstance(case.get(key), str) or not case[key]:
            raise CaseError(f"{name}: '{key}' must be a non-empty string")
    for key in ("source", "object", "column", "type"):
        if key in case and not isinstance(case[key], str):
            raise CaseError(f"{name}: '{key}' must be a string")
    if "metadata" in case and case["metadata"] is not None and not isinstance(case["metadata"], dict):
        raise CaseError(f"{name}: 'metadata' must be an object")
    values = case.get("values")
    if not isinstance(values, list):
        raise CaseError(f"{name}: 'values' must be a list of {{raw, count}}")
    for i, v in enumerate(values):
        if not isinstance(v, dict) or "raw" not in v:
            raise CaseError(f"{name}: values[{i}] must be an object with 'raw' (and 'count')")
    from aam.ontology import get_ontology

    if get_ontology().value_set(case["entity"], case["field"]) is None:
        raise CaseError(f"{name}: {case['entity']}.{case['field']} has no canonical value set")
    return case


def column_of(case: dict) -> ColumnValues:
    return ColumnValues(
        source=case.get("source") or "",
        object=case.get("object") or "",
        entity=case["entity"],
        field=case["field"],
        column=case.get("column") or "",
        type=case.get("type") or "string",
        metadata=case.get("metadata"),
        values=tuple((v["raw"], _count(v.get("count", 1))) for v in case["values"]),
    )


def _count(n) -> int:
    try:
        return int(n) if not isinstance(n, bool) else 1
    except (TypeError, ValueError):
        return 1


def result_json(result: ColumnResult) -> dict:
    out: dict[str, Any] = {"values": [d.as_dict() for d in result.decisions]}
    if result.free_text:
        out["free_text"] = True
    if result.note:
        out["note"] = result.note
    return out


def map_case(case: dict, **kwargs) -> ColumnResult:
    return map_column(column_of(case), **kwargs)


# --- scoring ----------------------------------------------------------------------------------


def _correct(got, truth, alts) -> bool:
    for want in [truth, *alts]:
        if want is None:
            if got is None:
                return True
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            if isinstance(got, (int, float)) and not isinstance(got, bool) and abs(got - want) <= 1e-6:
                return True
        elif got == want:
            return True
    return False


@dataclass
class CaseScore:
    name: str
    values: int = 0
    correct: int = 0
    auto: int = 0
    auto_correct: int = 0
    ms: float = 0.0
    wrong: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.name}: values {self.correct}/{self.values}, auto {self.auto_correct}/{self.auto}, {self.ms:.1f} ms"
        )
        if self.wrong:
            text += (
                "; wrong: " + "; ".join(self.wrong[:6]) + (f" (+{len(self.wrong) - 6})" if len(self.wrong) > 6 else "")
            )
        return text


@dataclass
class Score:
    label: str
    cases: list[CaseScore] = field(default_factory=list)

    @property
    def values(self) -> int:
        return sum(c.values for c in self.cases)

    @property
    def accuracy(self) -> float:
        return sum(c.correct for c in self.cases) / self.values if self.values else 0.0

    @property
    def auto_precision(self) -> float:
        auto = sum(c.auto for c in self.cases)
        return sum(c.auto_correct for c in self.cases) / auto if auto else 0.0

    @property
    def auto_share(self) -> float:
        return sum(c.auto_correct for c in self.cases) / self.values if self.values else 0.0

    def summary(self) -> str:
        return (
            f"{self.label}: cases {len(self.cases)}, values {self.values}, value acc {self.accuracy:.3f}, "
            f"auto precision {self.auto_precision:.3f}, correct auto share {self.auto_share:.3f}"
        )


def score_case(case: dict, name: str, **kwargs) -> CaseScore:
    t0 = time.perf_counter()
    result = map_case(case, **kwargs)
    ms = (time.perf_counter() - t0) * 1000
    pred = {raw_key(d.raw): d for d in result.decisions}
    s = CaseScore(name, ms=ms)
    alts = case.get("alternatives") or {}
    for key, truth in (case.get("truth") or {}).items():
        d = pred.get(key)
        got = d.canonical if d else None
        ok = d is not None and _correct(got, truth, alts.get(key, []))
        s.values += 1
        s.correct += ok
        if d is not None and d.decision == "auto":
            s.auto += 1
            s.auto_correct += ok
        if not ok:
            s.wrong.append(f"{key!r}->{got!r} (want {truth!r}, {d.decision if d else 'missing'})")
    return s


def evaluate_dir(path: str | Path, *, label: str | None = None, **kwargs) -> Score:
    folder = Path(path)
    score = Score(label or str(folder))
    for p in sorted(folder.glob("*.json")):
        case = load_case(p)
        score.cases.append(score_case(case, p.name, **kwargs))
    return score
