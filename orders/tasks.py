from __future__ import annotations

import time
from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from clearing.holds import order_holds_original
from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis
from matching.engine import CancelOrder
from matching.models import EngineRequest
from matching.stream import StreamCommand, command_resend, commands_enqueue, stream_epoch_read

from .mapping import place_command
from .markets import fee_changes_pending, market_breakers_release_due
from .models import OPEN_STATUSES, Order

log = structlog.get_logger(__name__)

# A marker per re-sent command, per stream epoch: re-sent at once in a new epoch (the stream was
# lost), then only after a doubling back-off (an XADD lost while Redis was unreachable). A
# matcher that is merely down or behind still has the originals in its stream.
_MARKER_TTL_S = 86_400


def _marker_key(symbol: str, epoch: str) -> str:
    return f"sweep:sent:{symbol}:{epoch}"


@shared_task(name="orders.stream_sweep", ignore_result=True)
def stream_sweep() -> int:
    """Re-enqueue what the streams may have lost (Redis flushed or restarted without
    persistence): PENDING_NEW orders, open orders with a cancel request and persisted engine
    requests (amends, market states, cancel-alls) not yet applied, older than
    STREAM_SWEEP_AGE_S; each once per stream epoch, then with back-off. The matcher applies a
    place or a request once and ignores cancels of finished orders, so a repeat is harmless.
    Returns the number of commands re-enqueued."""
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_SWEEP_AGE_S)
    limit = settings.STREAM_SWEEP_LIMIT
    # symbol -> [(marker, command or None, persisted body or None, request key or None)]
    found: dict[str, list[tuple[str, StreamCommand | None, str | None, str | None]]] = {}
    pending = Order.objects.filter(status=Order.Status.PENDING_NEW, created_at__lte=cutoff)
    pending_orders = list(pending.select_related("market").order_by("id")[:limit])
    holds = order_holds_original(o.id for o in pending_orders)
    for order in pending_orders:
        found.setdefault(order.market.symbol, []).append(
            (f"p{order.id}", place_command(order, order.market, holds[order.id]), None, None)
        )
    cancels = Order.objects.filter(status__in=OPEN_STATUSES, cancel_requested_at__lte=cutoff)
    for order in cancels.select_related("market").order_by("id")[:limit]:
        found.setdefault(order.market.symbol, []).append(
            (f"c{order.id}", CancelOrder(order.id, order.user_id), None, None)
        )
    # Applied requests are kept a day (for inspection), then deleted.
    EngineRequest.objects.filter(applied_at__lt=timezone.now() - timedelta(days=1)).delete()
    requests = EngineRequest.objects.filter(applied_at__isnull=True, created_at__lte=cutoff)
    for req in requests.select_related("market").order_by("id")[:limit]:
        found.setdefault(req.market.symbol, []).append((f"q{req.rid}", None, req.body, req.rid))
    # Fee changes not yet applied (orders.markets): marked by their change id.
    for symbol, fees in fee_changes_pending(older_than_s=settings.STREAM_SWEEP_AGE_S):
        found.setdefault(symbol, []).append((f"f{fees.change_id}", fees, None, None))
    client = get_redis()
    now = time.time()
    base, cap = settings.STREAM_SWEEP_BACKOFF_S, settings.STREAM_SWEEP_BACKOFF_MAX_S
    total = 0
    for symbol, items in found.items():
        key = _marker_key(symbol, stream_epoch_read(client, symbol))
        marks = client.hmget(key, [m for m, *_ in items])
        due: list[tuple[StreamCommand, str | None]] = []
        resend: list[tuple[str, str]] = []
        update: dict[str, str] = {}
        for (marker, cmd, body, request), mark in zip(items, marks, strict=True):
            sent = 0
            if mark is not None:
                text = mark.decode() if isinstance(mark, bytes) else str(mark)
                sent_s, _, next_s = text.partition(":")
                if float(next_s) > now:
                    continue
                sent = int(sent_s)
            update[marker] = f"{sent + 1}:{now + min(base * 2**sent, cap)}"
            if cmd is not None:
                due.append((cmd, None))
            else:
                assert body is not None and request is not None
                resend.append((body, request))
        if not update:
            continue
        commands_enqueue(client, symbol, due)
        for body, request in resend:
            command_resend(client, symbol, body, request)
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping=update)  # type: ignore[arg-type]
        pipe.expire(key, _MARKER_TTL_S)
        pipe.execute()
        log.warning("stream_sweep.reenqueued", symbol=symbol, commands=len(update))
        total += len(update)
    return total


@shared_task(name="orders.breaker_release", ignore_result=True)
def breaker_release() -> int:
    """Lift the circuit breakers whose cool-down is over (each through the market's stream)."""
    released = market_breakers_release_due()
    for market_id in released:
        log.info("breaker.released", market_id=market_id)
    return len(released)
