"""python manage.py run_agents --tenant <slug> [--agent revops|finops] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from tenants.models import Tenant

from ...models import Job
from ...routing import DOMAINS


class Command(BaseCommand):
    help = "Run the agents over a tenant's unified views now (in this process) and print their results."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--agent", choices=DOMAINS, action="append",
                            help="run only this pilot (repeatable); all by default")
        parser.add_argument("--json", action="store_true", help="print the runs as JSON")

    def handle(self, *args, **opts):
        from ...services import job_claim, job_create, job_finish
        from ...services.runs import agents_run

        tenant = Tenant.objects.filter(slug=opts["tenant"]).exclude(schema_name="public").first()
        if tenant is None:
            raise CommandError(f"no tenant '{opts['tenant']}'")
        with tenant_context(tenant):
            # Recorded as a job so the run shows up in the history like one started from the API.
            job = job_create(kind=Job.Kind.AGENTS, params={"agents": opts["agent"] or [], "source": "command"},
                             step="started from the command line")
            job = job_claim(job_id=job.pk)
            try:
                runs = agents_run(tenant=tenant, agents=opts["agent"], job=job)
            except Exception as exc:
                job_finish(job=job, status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
                raise CommandError(f"agents could not run: {type(exc).__name__}: {exc}") from exc
            failed = [r for r in runs if r.status == "failed"]
            ran = [r for r in runs if r.status == "succeeded"]
            status = (Job.Status.FAILED if failed and not ran else Job.Status.PARTIAL if failed
                      else Job.Status.SUCCEEDED if ran else Job.Status.SKIPPED)
            job_finish(job=job, status=status, step=", ".join(f"{r.agent} {r.status}" for r in runs),
                       result={"runs": [{"agent": r.agent, "run_id": r.pk, "status": r.status} for r in runs]})
            if opts["json"]:
                self.stdout.write(json.dumps([{"agent": r.agent, "run_id": r.pk, "status": r.status,
                                               "skipped_reason": r.skipped_reason, "error": r.error,
                                               "metrics": r.metrics, "findings": r.findings,
                                               "narrative": r.narrative} for r in runs], default=str, indent=2))
            else:
                for r in runs:
                    head = f"{r.agent}: {r.status} (run #{r.pk})"
                    self.stdout.write(self.style.SUCCESS(head) if r.status == "succeeded" else head)
                    if r.skipped_reason or r.error:
                        self.stdout.write(f"  {r.skipped_reason or r.error}")
                    if r.narrative:
                        self.stdout.write(f"  {r.narrative}")
                    self.stdout.write(f"  {len(r.findings)} findings")
        if failed:
            raise CommandError(f"{len(failed)} agent(s) failed: " + "; ".join(f"{r.agent}: {r.error}" for r in failed))
