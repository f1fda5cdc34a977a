from __future__ import annotations

from django.db import models


class MarketEngineState(models.Model):
    """What the matcher has applied for one market, written in the same transaction as each
    batch's trades and order updates (docs/architecture.md, "Recovery")."""

    market = models.OneToOneField(
        "orders.Market", on_delete=models.PROTECT, related_name="engine_state"
    )
    # The last applied Redis stream entry id ("<ms>-<seq>"); entries at or below it are skipped.
    # Only meaningful within `stream_epoch`: a stream recreated after a Redis loss gets a new
    # epoch, and ids of different epochs are never compared.
    last_stream_id = models.CharField(max_length=40, default="0-0")
    stream_epoch = models.CharField(max_length=32, default="", blank=True)
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


class EngineRequest(models.Model):
    """A command that no order row can recreate (amend, market state, cancel-all), written in
    the transaction that requests it, so the stream sweep can re-enqueue it after a Redis loss.

    The matcher sets `applied_at` in the batch transaction that applies it, and skips a repeat
    whose request is already applied (docs/architecture.md, "Recovery").
    """

    market = models.ForeignKey("orders.Market", on_delete=models.PROTECT, related_name="+")
    rid = models.CharField(max_length=32, unique=True)  # the stream entry's request id
    body = models.TextField()  # matching.stream.command_encode(command, rid)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=("created_at",),
                condition=models.Q(applied_at__isnull=True),
                name="enginerequest_unapplied",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market_id}:{self.rid}"
