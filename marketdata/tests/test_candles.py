"""The candle roll-up: klines read from candles equal an aggregation of the trades, whatever the
batching, repetition or concurrency of the roll-up."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exchange_site.binance.times import to_ms
from marketdata import selectors
from marketdata.models import Candle, CandleCursor
from marketdata.services import candles_roll
from marketdata.tasks import roll_candles_sweep
from orders.models import Market, Trade
from orders.tests.factories import trade_make
from tests.threads import threads_run

INTERVALS = ("1s", "1m", "5m", "1h", "4h", "1d", "3d", "1w", "1M")


def _trades(market: Market, n: int, seed: int) -> None:
    """n trades over the last ~40 days, in time order (ids follow time, as the matcher's do)."""
    rng = random.Random(seed)
    start = timezone.now() - timedelta(days=40)
    at = start
    for _ in range(n):
        at += timedelta(milliseconds=rng.choice([1, 400, 70_000, 3_600_000, 30_000_000]))
        trade_make(
            market, price=str(rng.randint(90, 110)), qty=str(Decimal(rng.randint(1, 50)) / 10),
            at=min(at, timezone.now() - timedelta(seconds=1)), is_buyer_maker=rng.random() < 0.5,
        )  # fmt: skip


def _expected(market: Market, interval: str) -> list[list[object]]:
    """The candles with trades, aggregated here from the trade rows."""
    buckets: dict[int, list[Trade]] = {}
    for t in Trade.objects.filter(market=market).order_by("id"):
        buckets.setdefault(selectors.kline_bucket(interval, to_ms(t.created_at)), []).append(t)
    out = []
    for open_ms, ts in sorted(buckets.items()):
        taker_buys = [t for t in ts if not t.is_buyer_maker]
        out.append([
            open_ms, ts[0].price, max(t.price for t in ts), min(t.price for t in ts), ts[-1].price,
            sum(t.qty for t in ts), sum(t.quote_qty for t in ts), len(ts),
            sum((t.qty for t in taker_buys), Decimal(0)),
            sum((t.quote_qty for t in taker_buys), Decimal(0)),
        ])  # fmt: skip
    return out


def _klines(market: Market, interval: str) -> list[list[object]]:
    rows = selectors.kline_list(
        market_id=market.pk, interval=interval, start_ms=0, end_ms=None, limit=1000,
        now_ms=to_ms(timezone.now()),
    )  # fmt: skip
    if interval in ("1s", "1m", "5m"):  # more than 1000 candles: read every stored one
        rows = selectors._kline_rows(market.pk, interval, 0, to_ms(timezone.now()) + 1)
    return [
        [k.open_time_ms, k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.count,
         k.taker_buy_volume, k.taker_buy_quote_volume]
        for k in rows
        if k.count
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_klines_equal_an_aggregation_of_the_trades(market: Market) -> None:
    _trades(market, 60, seed=3)
    # Small batches: candles spanning batches are merged by the upsert.
    while candles_roll(market_id=market.pk, limit=7, budget_s=0):
        pass
    before = list(Candle.objects.order_by("id").values())
    assert candles_roll(market_id=market.pk) == 0  # nothing new: nothing changes
    assert list(Candle.objects.order_by("id").values()) == before
    # More trades later, rolled by two concurrent runs: each trade counted once.
    last = Trade.objects.filter(market=market).order_by("-id").first()
    assert last is not None
    for i in range(15):
        trade_make(market, price="100", qty="1", at=last.created_at + timedelta(milliseconds=i))
    # Not rolled up yet: klines add the trades after the cursor (the last moments' trades).
    for interval in ("1h", "4h", "1M"):
        assert _klines(market, interval) == _expected(market, interval), interval

    def roll(_: int) -> None:
        candles_roll(market_id=market.pk, limit=4)

    threads_run(roll, 2)
    assert (
        CandleCursor.objects.get(market=market).last_trade_id
        == (Trade.objects.filter(market=market).order_by("-id").values_list("id", flat=True)[0])
    )
    for interval in INTERVALS:
        assert _klines(market, interval) == _expected(market, interval), interval


@pytest.mark.django_db(transaction=True)
def test_sweep_enqueues_markets_behind(market: Market, redis_client: object) -> None:
    assert roll_candles_sweep() == 0
    trade_make(market, price="100", qty="1", at=timezone.now())
    assert roll_candles_sweep() == 1
