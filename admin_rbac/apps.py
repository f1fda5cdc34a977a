from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AdminRbacConfig(AppConfig):
    name = "admin_rbac"
    verbose_name = "Back office"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .roles import roles_sync

        # Connected after django.contrib.auth's create_permissions (auth is listed first), so the
        # permissions of the app being migrated exist when this runs.
        post_migrate.connect(roles_sync, dispatch_uid="admin_rbac.roles_sync")
