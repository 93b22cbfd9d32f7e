from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "tenants.members"
    label = "members"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Members and roles"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from .services import revoke_tokens_on_deactivation

        pre_save.connect(revoke_tokens_on_deactivation, sender=get_user_model(),
                         dispatch_uid="members-revoke-on-deactivation")
