from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the wallet's Celery tasks in every process (services enqueue them by name).
        from . import tasks  # noqa: F401
