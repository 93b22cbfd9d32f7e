from django.apps import AppConfig


class MoneyConfig(AppConfig):
    name = "tenants.money"
    label = "money"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Money: reporting currency and FX rates"
