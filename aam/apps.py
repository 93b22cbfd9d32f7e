from django.apps import AppConfig


class AamConfig(AppConfig):
    name = "aam"
    default_auto_field = "django.db.models.BigAutoField"
