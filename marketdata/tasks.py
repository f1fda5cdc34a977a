"""The candle roll-up as Celery tasks: enqueued by the matcher after a batch with trades, and
swept every few seconds in case an enqueue was lost (the roll-up is idempotent)."""

from __future__ import annotations

from typing import Any

import redis
from django.db import OperationalError
from django.db.models import Max

from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis
from marketdata.models import CandleCursor
from marketdata.services import candles_roll
from orders.models import Market, Trade


def _queued_key(market_id: int) -> str:
    return f"candles:queued:{market_id}"


def candles_roll_enqueue(market_id: int, client: redis.Redis | None = None) -> None:
    """Enqueue a roll-up of the market unless one is already queued (call after commit)."""
    if (client or get_redis()).set(_queued_key(market_id), 1, nx=True, ex=30):
        roll_candles.delay(market_id)


@shared_task(
    bind=True,
    name="marketdata.roll_candles",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=20,
)
def roll_candles(self: Any, market_id: int) -> int:
    """Roll the market's new trades into its candles (marketdata.services.candles_roll)."""
    client = get_redis()
    client.delete(_queued_key(market_id))  # a trade committed from now on enqueues a new run
    try:
        return candles_roll(market_id=market_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 0.1, 5)) from exc


@shared_task(name="marketdata.roll_candles_sweep", ignore_result=True)
def roll_candles_sweep() -> int:
    """Enqueue the roll-up of every market whose candles are behind its trades."""
    newest = {
        mid: Trade.objects.filter(market_id=mid).aggregate(top=Max("id"))["top"] or 0
        for mid in Market.objects.values_list("id", flat=True)
    }  # one index probe per market (trade_market_id), never a scan
    done = dict(CandleCursor.objects.values_list("market_id", "last_trade_id"))
    behind = [mid for mid, top in newest.items() if top > done.get(mid, 0)]
    for market_id in behind:
        candles_roll_enqueue(market_id)
    return len(behind)


__all__ = ["candles_roll_enqueue", "roll_candles", "roll_candles_sweep"]
