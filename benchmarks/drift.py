"""The drift benchmark: the scenario suite (hand-written + generated from every demo file) under the
`auto` policy, measured against the truth of each scenario. Run by `manage.py bench_drift`.

Figures:
- drifts detected with the right kind: expected changes found as exactly that change (kind, fields);
- renames repaired automatically and correctly: renames (swaps included) applied without a human and
  leaving the canonical field on the new name; reported separately for an export of the same
  records (the usual case: a column renamed in place) and for a later export of other records
  (names only: by design these wait for a human unless the memory knows the name);
- wrong automatic repairs: applied repairs that contradict the truth (target 0);
- false drift alarms: changes reported on an unchanged schema (re-sync, reordered, other records).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from benchmarks.drift_scenarios import (
    Scenario,
    ScenarioResult,
    chain,
    core_scenarios,
    generated_scenarios,
    run_scenario,
    second_page,
)


@dataclass
class Figures:
    expected_changes: int = 0
    detected_right: int = 0
    renames: int = 0
    renames_auto_correct: int = 0
    later_renames: int = 0
    later_renames_auto_correct: int = 0
    wrong_auto: list[str] = field(default_factory=list)
    quiet_checks: int = 0
    false_alarms: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    renames_left: list[str] = field(default_factory=list)  # renames left to a human (not wrong)
    scenarios: int = 0
    seconds: float = 0.0

    def share(self, a: int, b: int) -> str:
        return f"{a / b:.1%} ({a}/{b})" if b else "n/a"

    def lines(self) -> list[str]:
        return [
            f"scenarios run                          {self.scenarios} in {self.seconds:.1f}s "
            f"({1000 * self.seconds / max(self.scenarios, 1):.0f} ms each, baseline + edit + check)",
            f"drifts detected with the right kind    {self.share(self.detected_right, self.expected_changes)}",
            f"renames repaired automatically, right  {self.share(self.renames_auto_correct, self.renames)}"
            "   (same records, renamed in place)",
            f"  … in a later export of other records {self.share(self.later_renames_auto_correct, self.later_renames)}"
            "   (no shared records: names + the engine's own reading)",
            f"wrong automatic repairs                {len(self.wrong_auto)}",
            f"false drift alarms (unchanged schema)  {len(self.false_alarms)} in {self.quiet_checks} checks",
        ]


def _renames(s: Scenario) -> list[tuple[str, str]]:
    return [(f, n) for k, f, n in s.expect if k == "renamed" and n]


def _score(fig: Figures, r: ScenarioResult, *, later: bool) -> None:
    s = r.scenario
    fig.scenarios += 1
    found = set(r.changes)
    for change in s.expect:
        fig.expected_changes += 1
        if change in found:
            fig.detected_right += 1
        else:
            fig.missed.append(f"{s.name}: {change} not found (got {sorted(found)})")
    if not s.expect:
        fig.quiet_checks += 1
        fig.false_alarms += [f"{s.name}: {c}" for c in r.changes]
    applied = {(e.field, e.new_field) for e in r.auto_applied() if e.kind == "renamed"}
    for old, new in _renames(s):
        right = (old, new) in applied and r.after.get(new) == s.outcome.get(new) is not None
        if not right:
            event = next((e for e in r.events if (e.field, e.new_field) == (old, new)), None)
            why = (
                f"{event.status} at {event.repair_confidence:.2f}: {event.explanation[:160]}" if event else "not paired"
            )
            fig.renames_left.append(f"{s.name}: {why}")
        if later:
            fig.later_renames += 1
            fig.later_renames_auto_correct += right
        else:
            fig.renames += 1
            fig.renames_auto_correct += right
    fig.wrong_auto += [f"{s.name}: {w}" for w in r.wrong_auto_repairs()]


def _baseline_mappings(demo_dir: Path, work_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The mapping every demo file gets on its first sync (what renames are measured against)."""
    from benchmarks.drift_scenarios import unchanged
    from connectors.demo import DEMO_SYSTEMS

    mapped = {}
    for system in DEMO_SYSTEMS:
        for file in system.files:
            probe = Scenario(f"probe_{system.subdir}_{file}", system.subdir, file, unchanged, ())
            result = run_scenario(probe, demo_dir=demo_dir, work_dir=work_dir)
            mapped[(system.subdir, file)] = dict(result.before)
    return mapped


def run_benchmark(*, progress: Callable[[int, int, str], None] | None = None, limit: int | None = None) -> Figures:
    """Run the suite inside the current tenant; everything it writes is rolled back."""
    from connectors.demo import generate

    root = Path(settings.DATA_DIR) / "bench-drift"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    fig = Figures()
    try:
        demo_dir = work / "demo"
        generate(demo_dir, seed=11)
        with transaction.atomic():
            mapped = _baseline_mappings(demo_dir, work / "probe")
            suite = [(s, False) for s in core_scenarios()]
            generated = generated_scenarios(demo_dir, mapped)
            suite += [(s, False) for s in generated]
            suite += [
                (
                    Scenario(
                        s.name.replace("gen_rename_", "gen_later_rename_"),
                        s.system,
                        s.file,
                        chain(second_page, s.edit),
                        s.expect,
                        outcome=s.outcome,
                    ),
                    True,
                )
                for s in generated
                if s.name.startswith("gen_rename_")
            ]
            if limit:
                suite = suite[:limit]
            started = time.perf_counter()
            for i, (scenario, later) in enumerate(suite, 1):
                result = run_scenario(scenario, demo_dir=demo_dir, work_dir=work / "runs", name_suffix=f"#{i}")
                _score(fig, result, later=later)
                if progress:
                    progress(i, len(suite), scenario.name)
            fig.seconds = time.perf_counter() - started
            transaction.set_rollback(True)  # a benchmark leaves no connections, mappings or reviews behind
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return fig
