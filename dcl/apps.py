from django.apps import AppConfig


class DclConfig(AppConfig):
    name = "dcl"
    default_auto_field = "django.db.models.BigAutoField"
