"""Map a source schema onto the canonical ontology, or score the engine over a folder of cases.

    python manage.py map_schema CASE.json --json
    python manage.py map_schema --eval DIR [--eval DIR2] [--no-memory] [--columns 300]
    python manage.py map_schema --eval-all   # benchmarks/cases/mapping and the shared dev set when present

No network and no database writes: the engine runs with the global seed memory only (add
`--tenant SLUG` to also search that tenant's approved decisions, which reads its schema).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from benchmarks.mapping import (
    CASES_DIR,
    CaseError,
    evaluate_dir,
    load_case,
    map_case,
    result_json,
    shared_dev_dir,
    time_wide_source,
)


class Command(BaseCommand):
    help = "Map a case file's columns onto the canonical ontology, or benchmark the engine over case folders."

    def add_arguments(self, parser):
        parser.add_argument("case", nargs="?", help="a case file: {source, object, columns: [{name, type, samples}]}")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--eval", action="append", metavar="DIR", help="score every *.json case in DIR")
        parser.add_argument(
            "--eval-all",
            action="store_true",
            help="score benchmarks/cases/mapping and the shared dev set (AUTONOMOS_EVAL_DIR, default ../shared/eval)",
        )
        parser.add_argument("--no-memory", action="store_true", help="heuristics only (no memory retrieval)")
        parser.add_argument("--columns", type=int, default=300, help="width of the generated source to time")
        parser.add_argument("--tenant", help="also search this tenant's mapping memory (reads its schema)")

    def handle(self, *args, **opts):
        if opts["eval_all"]:
            dirs = [str(CASES_DIR)]
            dev = shared_dev_dir()
            if dev is None:
                self.stdout.write("shared dev set not found (AUTONOMOS_EVAL_DIR or ../shared/eval): skipped")
            else:
                dirs.append(str(dev))
            opts["eval"] = [*(opts["eval"] or []), *dirs]
        if not opts["case"] and not opts["eval"]:
            raise CommandError("give a CASE.json file, --eval DIR or --eval-all")
        if opts["case"]:
            self._map_one(opts)
        if opts["eval"]:
            self._evaluate(opts)

    def _map_one(self, opts) -> None:
        try:
            case = load_case(opts["case"])
        except CaseError as exc:
            raise CommandError(str(exc)) from None
        tenant = self._tenant(opts.get("tenant"))
        if tenant is not None:
            from django_tenants.utils import tenant_context

            with tenant_context(tenant):
                result = map_case(case, use_memory=not opts["no_memory"], tenant=tenant)
        else:
            result = map_case(case, use_memory=not opts["no_memory"])
        if opts["json"]:
            self.stdout.write(json.dumps(result_json(result), ensure_ascii=False))
            return
        self.stdout.write(f"entity: {result.entity} ({result.entity_confidence:.2f})")
        for m in result.mappings:
            target = m.canonical_field or "-"
            self.stdout.write(
                f"  {m.source_field:40s} → {target:22s} {m.confidence:5.2f} {m.decision:8s} {m.method:9s} "
                f"{m.explanation[:100]}"
            )

    def _tenant(self, slug: str | None):
        if not slug:
            return None
        from tenants.models import Tenant

        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"no tenant {slug!r}")
        return tenant

    def _evaluate(self, opts) -> None:
        use_memory = not opts["no_memory"]
        for directory in opts["eval"]:
            try:
                report = evaluate_dir(directory, use_memory=use_memory)
            except CaseError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"== {directory} ({'memory + heuristics' if use_memory else 'heuristics only'}, no LLM)")
            self.stdout.write(f"{'case':34s} {'entity':26s} {'fields':>9s} {'auto':>5s} {'auto ok':>8s} {'ms':>6s}")
            for c in report.cases:
                entity = f"{c.entity}{'' if c.entity_ok else ' (expected ' + str(c.expected_entity) + ')'}"
                self.stdout.write(
                    f"{c.name:34s} {entity:26s} {c.correct:4d}/{c.fields:<4d} {c.auto:5d} "
                    f"{c.auto_correct:4d}/{c.auto:<3d} {c.seconds * 1000:6.1f}"
                )
                for err in c.errors:
                    self.stdout.write(f"    miss: {err}")
            s = report.summary()
            self.stdout.write(
                f"entity accuracy {s['entity_accuracy']:.3f} | field accuracy {s['field_accuracy']:.3f} | "
                f"auto precision {s['auto_precision']:.3f} | auto share {s['auto_share']:.3f} | "
                f"correct auto share {s['correct_auto_share']:.3f} | "
                f"{s['cases']} cases, {s['fields']} fields"
            )
        timing = time_wide_source(max(1, opts["columns"]))
        self.stdout.write(
            f"time to map a generated {timing['columns']}-column source: cold {timing['cold_seconds']:.3f} s, "
            f"median {timing['median_seconds']:.3f} s, max {timing['max_seconds']:.3f} s"
        )
