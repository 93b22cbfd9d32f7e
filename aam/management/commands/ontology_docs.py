"""Write docs/canonical-values.md from the ontology, or check that it is current.

    python manage.py ontology_docs            # (re)write the page
    python manage.py ontology_docs --check    # exit 1 when the page is missing or stale

No database: the page is rendered from aam/ontology.json alone (aam/ontology_docs.py).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aam.ontology import OntologyError, get_ontology
from aam.ontology_docs import DOC_PATH, render_value_docs


class Command(BaseCommand):
    help = "Generate docs/canonical-values.md from the ontology's value sets (--check: fail when stale)."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the ontology")
        parser.add_argument("--out", help=f"the file to write or check (default: {DOC_PATH})")

    def handle(self, *args, **opts):
        path = Path(opts["out"]) if opts["out"] else Path(settings.BASE_DIR) / DOC_PATH
        try:
            text = render_value_docs(get_ontology())
        except OntologyError as exc:
            raise CommandError(f"the ontology is invalid: {exc}", returncode=2) from None
        if opts["check"]:
            try:
                current = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc}", returncode=2) from None
            if current != text:
                state = "missing" if current is None else "stale"
                raise CommandError(
                    f"{path} is {state}: run `manage.py ontology_docs` and commit the result", returncode=1
                )
            self.stdout.write(f"{path} is current")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}", returncode=2) from None
        self.stdout.write(f"wrote {path}")
