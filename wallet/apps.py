from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clearing.invariants import HOLD_CHECKS

        # Register the wallet's Celery tasks in every process (services enqueue them by name).
        from . import tasks  # noqa: F401
        from .invariants import withdrawal_hold_problems

        # Locked funds are the holds of open orders and of pending withdrawals: reconcile checks
        # the withdrawals' side through this, in its one snapshot.
        if withdrawal_hold_problems not in HOLD_CHECKS:
            HOLD_CHECKS.append(withdrawal_hold_problems)
