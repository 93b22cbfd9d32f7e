"""Map one column's distinct values onto its canonical value set, the way a sync would.

    python manage.py map_values CASE.json --json

CASE.json is the eval's blind case format (benchmarks/values.py); the metadata in a case stands for
what the driver would fetch. No database and no network: the engine runs without a tenant's memory
and without the LLM. A bad file is a clear error with exit code 2.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from benchmarks.values import CaseError, load_case, map_case, result_json


class Command(BaseCommand):
    help = "Map a case file's column values onto the canonical value set."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument(
            "case", help="a case file: {source, object, entity, field, column, type, metadata?, values}"
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **opts):
        try:
            case = load_case(opts["case"])
        except CaseError as exc:
            raise CommandError(str(exc), returncode=2) from None
        result = map_case(case)
        out = result_json(result)
        if opts["json"]:
            self.stdout.write(json.dumps(out, ensure_ascii=False, default=str))
            return
        if result.free_text:
            self.stdout.write(result.note)
            return
        for d in result.decisions:
            self.stdout.write(
                f"{d.decision:8} {d.confidence:5.2f}  {str(d.raw)[:60]!s:60} -> {d.canonical}  ({d.evidence})"
            )
