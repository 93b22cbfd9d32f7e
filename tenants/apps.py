from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import schema  # noqa: F401 - registers the OpenAPI auth extensions
        from .caching import connect_signals
        from .members.models import Member
        from .signals import schema_pre_drop

        # A member's role or token version is part of the cached user.
        connect_signals(user_models=[Member])
        schema_pre_drop.connect(_schema_pre_drop, dispatch_uid="tenants-offboarding-schema-drop")


def _schema_pre_drop(sender, tenant, **_kwargs) -> None:
    from .offboarding import on_schema_drop

    on_schema_drop(tenant)
