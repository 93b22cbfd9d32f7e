"""Score the value engine over folders of cases (the code is in benchmarks/values.py).

    python manage.py bench_values [DIR ...] [--quiet]

Without DIR: the eval's dev folder when present (AUTONOMOS_EVAL_DIR, default ../shared/eval) and our
own cases in benchmarks/cases/values/ (vendors and exports not in the dev set).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from benchmarks.values import OWN_CASES, CaseError, eval_dir, evaluate_dir


class Command(BaseCommand):
    help = "Score the value-mapping engine: value accuracy, precision of auto, correct auto share."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument(
            "dirs", nargs="*", help="folders of case files (default: the eval dev set and our own cases)"
        )
        parser.add_argument("--quiet", action="store_true", help="only the summary lines")

    def handle(self, *args, **opts):
        dirs = [(d, d) for d in opts["dirs"]]
        if not dirs:
            dev = eval_dir()
            if dev.is_dir():
                dirs.append((str(dev), "eval dev"))
            else:
                self.stdout.write(f"eval dev set not found at {dev}: skipped")
            dirs.append((str(OWN_CASES), "own cases (unseen vendors)"))
        summaries = []
        for path, label in dirs:
            try:
                score = evaluate_dir(path, label=label)
            except CaseError as exc:
                raise CommandError(str(exc), returncode=2) from None
            if not score.cases:
                raise CommandError(f"no case files in {path}", returncode=2)
            if not opts["quiet"]:
                for c in score.cases:
                    self.stdout.write(c.line())
            summaries.append(score.summary() + f", {sum(c.ms for c in score.cases):.0f} ms in all")
        for s in summaries:
            self.stdout.write(s)
