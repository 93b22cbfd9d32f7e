"""Scoring the engine on case files (`{"source", "object", "entity", "columns", "truth", "alternatives"?}`)
and timing it on a generated wide source. Used by `manage.py map_schema --eval` and the tests."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aam.mapping.engine import map_source
from aam.mapping.types import MappingResult

# Cases written for issue 16 (part 7) from vendor documentation: objects and vendors the seed memory and
# the shared dev set never held (benchmarks/cases/mapping/README.md).
CASES_DIR = Path(__file__).resolve().parent / "cases" / "mapping"


def shared_dev_dir() -> Path | None:
    """The shared mapping eval's dev set: `AUTONOMOS_EVAL_DIR` (default `../shared/eval` beside the repo)
    + `mapping/dev`, or None when it is not there (benchmarks only; the product never reads it)."""
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
    base = os.environ.get("AUTONOMOS_EVAL_DIR") or str(default)
    candidate = Path(base) / "mapping" / "dev"
    return candidate if candidate.is_dir() else None


class CaseError(ValueError):
    """A case file that cannot be read or does not have the expected shape."""


def load_case(path: Path | str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            case = json.load(fh)
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(case, dict) or not isinstance(case.get("columns"), list) or not case["columns"]:
        raise CaseError(f"{path}: a case needs a non-empty 'columns' list")
    for i, col in enumerate(case["columns"]):
        if not isinstance(col, dict) or not isinstance(col.get("name"), str) or not col["name"].strip():
            raise CaseError(f"{path}: column {i} needs a 'name'")
        if "samples" in col and not isinstance(col["samples"], list):
            raise CaseError(f"{path}: samples of column {col['name']!r} must be a list")
    for key in ("source", "object"):
        if key in case and case[key] is not None and not isinstance(case[key], str):
            raise CaseError(f"{path}: '{key}' must be a string")
    return case


def map_case(case: dict[str, Any], *, use_memory: bool = True, tenant=None, use_llm: bool = False) -> MappingResult:
    # The case's own `entity` is the truth being measured, never a hint.
    return map_source(
        columns=case["columns"],
        object_name=case.get("object"),
        source_kind=case.get("source"),
        tenant=tenant,
        use_llm=use_llm,
        use_memory=use_memory,
    )


def result_json(result: MappingResult) -> dict[str, Any]:
    return {
        "entity": result.entity,
        "entity_confidence": result.entity_confidence,
        "mappings": [
            {
                "source_field": m.source_field,
                "canonical_field": m.canonical_field,
                "confidence": m.confidence,
                "method": m.method,
                "decision": m.decision,
            }
            for m in result.mappings
        ],
    }


@dataclass
class CaseScore:
    name: str
    entity: str | None
    expected_entity: str | None
    fields: int = 0
    correct: int = 0
    auto: int = 0
    auto_correct: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def entity_ok(self) -> bool:
        return self.entity == self.expected_entity


@dataclass
class EvalReport:
    cases: list[CaseScore]

    def _sum(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.cases)

    @property
    def entity_accuracy(self) -> float:
        return sum(c.entity_ok for c in self.cases) / max(len(self.cases), 1)

    @property
    def field_accuracy(self) -> float:
        return self._sum("correct") / max(self._sum("fields"), 1)

    @property
    def auto_precision(self) -> float:
        return self._sum("auto_correct") / max(self._sum("auto"), 1)

    @property
    def auto_share(self) -> float:
        return self._sum("auto") / max(self._sum("fields"), 1)

    @property
    def correct_auto_share(self) -> float:
        """Share of all fields decided automatically and rightly: what a human no longer has to look at."""
        return self._sum("auto_correct") / max(self._sum("fields"), 1)

    def summary(self) -> dict[str, float]:
        return {
            "cases": len(self.cases),
            "fields": self._sum("fields"),
            "entity_accuracy": round(self.entity_accuracy, 4),
            "field_accuracy": round(self.field_accuracy, 4),
            "auto_precision": round(self.auto_precision, 4),
            "auto_share": round(self.auto_share, 4),
            "correct_auto_share": round(self.correct_auto_share, 4),
        }


def score_case(name: str, case: dict[str, Any], result: MappingResult, seconds: float = 0.0) -> CaseScore:
    """A field is correct when the proposal (auto or review) equals the truth or an accepted
    alternative; a null truth is correct only when the field is left unmapped."""
    truth: dict[str, str | None] = case.get("truth") or {}
    alternatives: dict[str, list[str]] = case.get("alternatives") or {}
    score = CaseScore(name=name, entity=result.entity, expected_entity=case.get("entity"), seconds=seconds)
    for m in result.mappings:
        if m.source_field not in truth:
            continue
        expected = truth[m.source_field]
        predicted = m.canonical_field if m.decision != "unmapped" else None
        ok = predicted == expected or (predicted is not None and predicted in alternatives.get(m.source_field, []))
        score.fields += 1
        score.correct += ok
        if m.decision == "auto":
            score.auto += 1
            score.auto_correct += ok
        if not ok:
            score.errors.append(
                f"{m.source_field}: expected {expected}, got {predicted} ({m.decision}, {m.confidence:.2f}, {m.method})"
            )
    return score


def evaluate_dir(directory: Path | str, *, use_memory: bool = True) -> EvalReport:
    paths = sorted(Path(directory).glob("*.json"))
    if not paths:
        raise CaseError(f"no *.json case files in {directory}")
    scores = []
    for path in paths:
        case = load_case(path)
        start = time.perf_counter()
        result = map_case(case, use_memory=use_memory)
        scores.append(score_case(path.name, case, result, time.perf_counter() - start))
    return EvalReport(cases=scores)


_WORDS = (
    "account contact deal amount stage region cost usage tier score owner status notes budget renewal health "
    "segment partner vendor sku zone product plan seats invoice discount margin channel campaign priority "
    "industry revenue employees city country email phone website created updated close probability"
).split()


def generate_wide_source(n: int = 300, *, seed: int = 7) -> list[dict[str, Any]]:
    """A wide, messy source: vendor-styled names (camel, snake, `__c`, `hs_`, dotted) with varied samples."""
    rnd = random.Random(seed)
    styles = (
        lambda w: "_".join(w),
        lambda w: "".join(x.title() for x in w),
        lambda w: "".join(w),
        lambda w: "".join(x.title() for x in w) + "__c",
        lambda w: "hs_" + "_".join(w),
        lambda w: "properties." + ".".join(w),
        lambda w: " ".join(x.title() for x in w),
    )
    kinds = {
        "string": lambda: [rnd.choice(["Acme Corp", "Globex", "north", "Gold tier", "n/a"]) for _ in range(5)],
        "number": lambda: [round(rnd.uniform(0, 10_000), 2) for _ in range(5)],
        "integer": lambda: [rnd.randint(0, 500) for _ in range(5)],
        "datetime": lambda: [f"2024-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T10:00:00Z" for _ in range(5)],
        "boolean": lambda: [rnd.choice([True, False]) for _ in range(5)],
        "email": lambda: [f"user{rnd.randint(1, 99)}@example.com" for _ in range(5)],
    }
    columns = []
    for i in range(n):
        words = rnd.sample(_WORDS, rnd.randint(1, 3))
        name = f"{styles[i % len(styles)](words)}{i}"
        kind = rnd.choice(list(kinds))
        columns.append({"name": name, "type": "string" if kind == "email" else kind, "samples": kinds[kind]()})
    return columns


def time_wide_source(n: int = 300, *, repeats: int = 5) -> dict[str, float]:
    """Seconds to map a generated n-column source: the first (cold) run and the median of repeats."""
    columns = generate_wide_source(n)
    start = time.perf_counter()
    map_source(columns=columns, object_name="wide_export", use_llm=False)
    cold = time.perf_counter() - start
    runs = []
    for r in range(repeats):
        cols = generate_wide_source(n, seed=100 + r)  # fresh names: no per-name cache helps
        start = time.perf_counter()
        map_source(columns=cols, object_name="wide_export", use_llm=False)
        runs.append(time.perf_counter() - start)
    return {
        "columns": n,
        "cold_seconds": round(cold, 4),
        "median_seconds": round(statistics.median(runs), 4),
        "max_seconds": round(max(runs), 4),
    }
