from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.offboarding import register_blocker

        from . import tasks  # noqa: F401 - registers the job tasks: the services queue them by name

        register_blocker("agents", running_jobs)


def running_jobs(tenant) -> list[str]:
    """The tenant's AOA jobs running now (tenant_delete refuses while there are, unless forced)."""
    from .models import Job

    jobs = Job.objects.filter(status=Job.Status.RUNNING).order_by("pk")[:20]
    return [f"job #{job.pk} ({job.kind}) is running" + (f": {job.step}" if job.step else "") for job in jobs]
