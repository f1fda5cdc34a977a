from __future__ import annotations

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis
from matching.engine import CancelOrder
from matching.engine.commands import Command
from matching.stream import commands_enqueue

from .models import OPEN_STATUSES, Order
from .services import order_command

log = structlog.get_logger(__name__)


@shared_task(name="orders.stream_sweep", ignore_result=True)
def stream_sweep() -> int:
    """Re-enqueue what the streams may have lost (Redis flushed or restarted without
    persistence): PENDING_NEW orders and open orders with a cancel request, older than
    STREAM_SWEEP_AGE_S. The matcher drops places it has applied and ignores cancels of finished
    orders, so a repeat is harmless. Returns the number of commands re-enqueued."""
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_SWEEP_AGE_S)
    by_symbol: dict[str, list[tuple[Command, str | None]]] = {}
    pending = Order.objects.filter(status=Order.Status.PENDING_NEW, created_at__lte=cutoff)
    for order in pending.select_related("market").order_by("id")[: settings.STREAM_SWEEP_LIMIT]:
        by_symbol.setdefault(order.market.symbol, []).append(
            (order_command(order, order.market), None)
        )
    cancels = Order.objects.filter(status__in=OPEN_STATUSES, cancel_requested_at__lte=cutoff)
    for order in cancels.select_related("market").order_by("id")[: settings.STREAM_SWEEP_LIMIT]:
        by_symbol.setdefault(order.market.symbol, []).append(
            (CancelOrder(order.id, order.user_id), None)
        )
    client = get_redis()
    for symbol, items in by_symbol.items():
        commands_enqueue(client, symbol, items)
        log.warning("stream_sweep.reenqueued", symbol=symbol, commands=len(items))
    return sum(len(items) for items in by_symbol.values())
