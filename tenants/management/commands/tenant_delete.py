import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name

from tenants import offboarding
from tenants.management.commands.tenant_export import describe_export, human_bytes
from tenants.models import Domain, Tenant
from tenants.offboarding.leftovers import (
    LeftoversRemoved,
    folder_size,
    queued_tasks_remove,
    redis_keys_count,
    tenant_data_dir,
    tenant_id_str,
)
from tenants.services import TenantDeleteRefused, tenant_delete


class Command(BaseCommand):
    help = (
        "Delete a tenant and everything it owns: its schema and domains, its data folder (DuckDB file, "
        "uploads), its Redis keys and its queued tasks; optionally exported first. Refuses while work "
        "runs for the tenant unless --force. (django-tenants' delete_tenant also removes the files, Redis "
        "keys and queued tasks now, but checks nothing and exports nothing: use this one.)"
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="the tenant to delete")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--export", metavar="FILE.zip", help="export the tenant's data to this archive first")
        parser.add_argument("--force", action="store_true", help="delete even while work runs for the tenant")
        parser.add_argument("--leftovers-of", metavar="TENANT_ID",
                            help="remove what a tenant deleted earlier left behind (files, Redis keys, "
                                 "with --schema its queued tasks)")
        parser.add_argument("--schema", help="with --leftovers-of: the deleted tenant's schema name")

    def handle(self, *args, **opts):
        if opts["leftovers_of"]:
            return self._leftovers(opts)
        if not opts["tenant"]:
            raise CommandError("Give --tenant SLUG (or --leftovers-of TENANT_ID).")
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        if tenant.schema_name == get_public_schema_name():
            raise CommandError("The public tenant holds the platform (tenants, staff): it is never deleted.")
        blockers = offboarding.blockers_of(tenant)
        if blockers and not opts["force"]:
            raise CommandError(self._refusal(tenant, blockers))
        self._plan(tenant, blockers, opts)
        self._confirm(tenant.slug, opts)
        try:
            deleted = tenant_delete(tenant=tenant, force=opts["force"],
                                    export_to=Path(opts["export"]) if opts["export"] else None)
        except TenantDeleteRefused as exc:
            raise CommandError(self._refusal(tenant, exc.blockers) if exc.blockers else str(exc)) from exc
        except offboarding.ExportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Deleted tenant {deleted.slug} ({deleted.tenant_id})"))
        if deleted.export is not None:
            self.stdout.write("  export         " + describe_export(deleted.export).replace("\n", "\n  "))
        self.stdout.write(f"  schema         {deleted.schema_name} dropped")
        self.stdout.write(f"  domains        {', '.join(deleted.domains) or 'none'}")
        self._removed(deleted.leftovers)
        if deleted.forced_past:
            self.stdout.write(self.style.WARNING("  forced past:   " + "; ".join(deleted.forced_past)))
        if deleted.left:
            raise CommandError(
                "Not everything was removed:\n  " + "\n  ".join(deleted.left)
                + f"\nOnce that is fixed: manage.py tenant_delete --leftovers-of {deleted.tenant_id} "
                  f"--schema {deleted.schema_name}"
            )

    def _refusal(self, tenant, blockers) -> str:
        return (f"Work is still running for tenant {tenant.slug}; nothing was deleted:\n  " + "\n  ".join(blockers)
                + "\nWait for it to finish (or cancel it), or pass --force.")

    def _plan(self, tenant, blockers, opts) -> None:
        files, size = folder_size(tenant_data_dir(tenant.tenant_id))
        keys = sum(redis_keys_count(tenant.tenant_id).values())
        queued = queued_tasks_remove(schema_name=tenant.schema_name, tenant_id=tenant.tenant_id, dry_run=True)
        domains = ", ".join(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)) or "none"
        self.stdout.write(f"Tenant {tenant.slug} ({tenant.tenant_id}) will be deleted with:")
        self.stdout.write(f"  schema         {tenant.schema_name} (every table, view and audit record in it)")
        self.stdout.write(f"  domains        {domains}")
        self.stdout.write(f"  data folder    {files} files, {human_bytes(size)}")
        self.stdout.write(f"  Redis keys     {keys}")
        self.stdout.write(f"  queued tasks   {queued.removed}")
        if blockers:
            self.stdout.write(self.style.WARNING("  still running (--force): " + "; ".join(blockers)))
        if not opts["export"]:
            self.stdout.write("  no --export: nothing of it is kept")

    def _confirm(self, slug: str, opts) -> None:
        if opts["yes"]:
            return
        if not sys.stdin.isatty():
            raise CommandError("Not deleting without confirmation: pass --yes.")
        answer = input(f"Type the tenant's slug ({slug}) to delete it: ")
        if answer.strip() != slug:
            raise CommandError("Not deleted.")

    def _removed(self, removed: LeftoversRemoved) -> None:
        folder = removed.folder
        if folder is not None:
            what = f"{folder.files} files, {human_bytes(folder.bytes)}" if folder.existed else "none"
            self.stdout.write(f"  data folder    {what} ({folder.path})")
        per_db = ", ".join(f"{url}: {n}" for url, n in removed.redis_keys.items())
        self.stdout.write(f"  Redis keys     {removed.redis_keys_total} ({per_db})")
        self.stdout.write(f"  schedules      {removed.periodic_tasks} periodic tasks")
        queue = removed.queue
        if queue is not None and not queue.skipped:
            self.stdout.write(f"  queued tasks   {queue.removed} removed, {queue.results_removed} results")

    def _leftovers(self, opts) -> None:
        try:
            tenant_id = tenant_id_str(opts["leftovers_of"])
        except ValueError as exc:
            raise CommandError("--leftovers-of takes a tenant id (a UUID).") from exc
        if Tenant.objects.filter(tenant_id=tenant_id).exists():
            raise CommandError("That tenant still exists: delete it with --tenant SLUG.")
        schema = opts["schema"]
        if schema and Tenant.objects.filter(schema_name=schema).exists():
            # Messages without a tenant-id header would be taken for the live tenant's.
            self.stdout.write(self.style.WARNING(
                f"Schema {schema} belongs to a live tenant now: queued tasks are left to the worker, "
                "which drops the deleted tenant's."))
            schema = None
        self._confirm(tenant_id, opts)
        removed = offboarding.leftovers_remove(tenant_id=tenant_id, schema_name=schema)
        self.stdout.write(self.style.SUCCESS(f"Removed what tenant {tenant_id} left behind"))
        self._removed(removed)
        if removed.errors:
            raise CommandError("Not everything was removed:\n  " + "\n  ".join(removed.errors))
