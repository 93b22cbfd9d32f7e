from django.contrib import admin
from django.db import connection

from .models import Domain, Tenant


class PublicOnlyAdmin(admin.ModelAdmin):
    """Tenant management is for platform staff on the public host only."""

    def has_module_permission(self, request):
        return connection.schema_name == "public" and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return connection.schema_name == "public" and super().has_view_permission(request, obj)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(PublicOnlyAdmin):
    list_display = ("slug", "name", "tenant_id", "schema_name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("tenant_id", "schema_name", "created_at")
    inlines = [DomainInline]


@admin.register(Domain)
class DomainAdmin(PublicOnlyAdmin):
    list_display = ("domain", "tenant", "is_primary")
