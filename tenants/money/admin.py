"""The reporting currency and the FX rates in a tenant's admin. The role decides (RoleBackend): an
admin changes the reporting currency, everyone else sees it; rates come from `manage.py fx_load`."""

from django import forms
from django.contrib import admin

from autonomos.core.roles import on_public_schema

from .models import FxRate, ReportingSettings
from .rates import is_iso4217


class ReportingSettingsForm(forms.ModelForm):
    class Meta:
        model = ReportingSettings
        fields = ("currency",)

    def clean_currency(self):
        code = (self.cleaned_data.get("currency") or "").strip().upper()
        if not is_iso4217(code):
            raise forms.ValidationError("Not an ISO 4217 currency code (USD, EUR, GBP, ...).")
        return code


@admin.register(ReportingSettings)
class ReportingSettingsAdmin(admin.ModelAdmin):
    form = ReportingSettingsForm
    list_display = ("currency", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")

    def has_add_permission(self, request):
        # One row per tenant (the public host's platform staff have no tenant rows to add).
        if on_public_schema():
            return False
        return super().has_add_permission(request) and not ReportingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ("day", "currency", "per_eur", "source", "loaded_at")
    list_filter = ("currency",)
    date_hierarchy = "day"
    search_fields = ("currency",)

    def has_add_permission(self, request):
        return False  # rates come from files (manage.py fx_load), never typed in one by one

    def has_change_permission(self, request, obj=None):
        return False
