"""Candles: the klines of every market and interval, rolled up from the trades by the worker
(marketdata.candles), so /api/v3/klines never scans the trade history."""

from __future__ import annotations

from django.db import models

from exchange_site.money import AmountField
from orders.models import Market


class Candle(models.Model):
    """One kline: the trades of `market` with times in [open_time, next open) for `interval`."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+", db_index=False)
    interval = models.CharField(max_length=3)  # "1s" .. "1M" (marketdata.selectors)
    open_time = models.BigIntegerField()  # ms since the epoch, UTC
    open = AmountField()
    high = AmountField()
    low = AmountField()
    close = AmountField()
    volume = AmountField()  # base
    quote_volume = AmountField()
    count = models.IntegerField()
    taker_buy_volume = AmountField()
    taker_buy_quote_volume = AmountField()
    first_trade_id = models.BigIntegerField()
    last_trade_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("market", "interval", "open_time"), name="candle_market_interval_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market_id} {self.interval} {self.open_time}"


class CandleCursor(models.Model):
    """The last trade (orders.Trade.id) of the market already in its candles. Advanced in the
    transaction that adds the trades, so a repeated or concurrent roll-up never counts one
    twice (a market's trade ids grow in commit order: one matcher commits its batches in turn)."""

    market = models.OneToOneField(
        Market, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    last_trade_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.market_id} @ {self.last_trade_id}"
