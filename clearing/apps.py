from django.apps import AppConfig


class ClearingConfig(AppConfig):
    name = "clearing"
    default_auto_field = "django.db.models.BigAutoField"
