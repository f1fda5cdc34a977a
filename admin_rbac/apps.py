from django.apps import AppConfig


class AdminRbacConfig(AppConfig):
    name = "admin_rbac"
    default_auto_field = "django.db.models.BigAutoField"
