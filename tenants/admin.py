"""The tenant registry in the admin: platform staff on the public host only.

On a tenant's host these models are neither listed nor viewable nor changeable, whoever asks (a
tenant's own superuser included): re-pointing another tenant's domain from there would hand that
tenant's host to the attacker. The role backend refuses the same permissions (autonomos/core/roles.py);
this is the admin's own, independent check.
"""

from django.contrib import admin

from autonomos.core.roles import is_platform_staff

from .models import Domain, Tenant


class PlatformOnlyAdmin(admin.ModelAdmin):
    """Every admin permission requires platform staff on the public schema."""

    def _platform(self, request) -> bool:
        return is_platform_staff(request.user)

    def has_module_permission(self, request):
        return self._platform(request)

    def has_view_permission(self, request, obj=None):
        return self._platform(request)

    def has_change_permission(self, request, obj=None):
        return self._platform(request)

    def has_add_permission(self, request, *args):
        return self._platform(request)

    def has_delete_permission(self, request, obj=None):
        return self._platform(request)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0

    def has_view_permission(self, request, obj=None):
        return is_platform_staff(request.user)

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


@admin.register(Tenant)
class TenantAdmin(PlatformOnlyAdmin):
    list_display = ("slug", "name", "tenant_id", "schema_name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("tenant_id", "schema_name", "created_at")
    inlines = [DomainInline]

    def has_delete_permission(self, request, obj=None):
        # Offboarding is `manage.py tenant_delete`: it refuses while work runs for the tenant, can export
        # its data first, and says what it removed (tenants/services.py). The admin has no such steps.
        return False


@admin.register(Domain)
class DomainAdmin(PlatformOnlyAdmin):
    list_display = ("domain", "tenant", "is_primary")
