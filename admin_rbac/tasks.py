from __future__ import annotations

from exchange_site.celery_typing import shared_task

from .behaviour import flags_refresh


@shared_task(name="admin_rbac.flags_scan", ignore_result=True)
def flags_scan() -> int:
    """Refresh the abnormal-behaviour flags (admin_rbac.behaviour)."""
    return flags_refresh()
