from django.db.models import QuerySet

from .models import Tenant


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.exclude(schema_name="public").order_by("slug")


def tenant_get(*, slug: str) -> Tenant:
    return Tenant.objects.get(slug=slug)
