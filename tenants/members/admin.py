"""Users of a tenant in its admin: their role beside them, no Django superuser or per-user permission
switches (the role is the only permission a tenant user has: autonomos/core/roles.py)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from autonomos.core.roles import on_public_schema

from .models import Member


class MemberInline(admin.StackedInline):
    model = Member
    can_delete = False
    fields = ("role",)
    verbose_name = "role in this tenant"
    verbose_name_plural = "role in this tenant"


class TenantUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("is_active", "member__role")
    _tenant_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")

    @admin.display(description="role", ordering="member__role")
    def role(self, obj) -> str:
        member = getattr(obj, "member", None)
        return member.get_role_display() if member else ("Admin" if obj.is_superuser else "Viewer")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member")

    def get_fieldsets(self, request, obj=None):
        if on_public_schema() or obj is None:
            return super().get_fieldsets(request, obj)
        return self._tenant_fieldsets

    def get_inlines(self, request, obj):
        return [] if on_public_schema() else [MemberInline]

    def get_list_filter(self, request):
        return ("is_staff", "is_superuser", "is_active") if on_public_schema() else self.list_filter

    def get_list_display(self, request):
        return ("username", "email", "is_superuser", "is_active") if on_public_schema() else self.list_display


user_model = get_user_model()
if admin.site.is_registered(user_model):
    admin.site.unregister(user_model)
admin.site.register(user_model, TenantUserAdmin)
