from __future__ import annotations

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis
from matching.engine import CancelOrder
from matching.stream import StreamCommand, commands_enqueue

from .markets import fee_changes_pending, market_breakers_release_due
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
    by_symbol: dict[str, list[tuple[StreamCommand, str | None]]] = {}
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
    for symbol, fees in fee_changes_pending(older_than_s=settings.STREAM_SWEEP_AGE_S):
        by_symbol.setdefault(symbol, []).append((fees, None))
    client = get_redis()
    for symbol, items in by_symbol.items():
        commands_enqueue(client, symbol, items)
        log.warning("stream_sweep.reenqueued", symbol=symbol, commands=len(items))
    return sum(len(items) for items in by_symbol.values())


@shared_task(name="orders.breaker_release", ignore_result=True)
def breaker_release() -> int:
    """Lift the circuit breakers whose cool-down is over (each through the market's stream)."""
    released = market_breakers_release_due()
    for market_id in released:
        log.info("breaker.released", market_id=market_id)
    return len(released)
