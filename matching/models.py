from __future__ import annotations

from django.db import models


class MarketEngineState(models.Model):
    """What the matcher has applied for one market, written in the same transaction as each
    batch's trades and order updates (DESIGN.md, "Recovery")."""

    market = models.OneToOneField(
        "orders.Market", on_delete=models.PROTECT, related_name="engine_state"
    )
    # The last applied Redis stream entry id ("<ms>-<seq>"); entries at or below it are skipped.
    last_stream_id = models.CharField(max_length=40, default="0-0")
    last_seq = models.BigIntegerField(default=0)  # the engine's per-market event sequence
    update_id = models.BigIntegerField(default=0)  # the book update id (depth stream)
    last_trade_price_ticks = models.BigIntegerField(default=0)
    # Fencing token of the matcher that wrote the last batch; a batch from a lower token (a
    # deposed primary) is refused.
    fence = models.BigIntegerField(default=0)
    # The shard whose matcher may write this market's batches. Moving a market to another shard
    # (orders.markets) changes it in the same transaction as Market.shard, under this row's lock:
    # a batch of the old shard's matcher then matches no row, so nothing is applied twice.
    shard = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.market_id}@{self.last_seq}"
