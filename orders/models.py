from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from exchange_site.money import AmountField


class Market(models.Model):
    """A spot market BASEQUOTE with its filters, fees, risk limits and trading state."""

    class Status(models.TextChoices):
        TRADING = "TRADING"
        CANCEL_ONLY = "CANCEL_ONLY"
        HALT = "HALT"

    symbol = models.CharField(max_length=32, unique=True)
    base = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    quote = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    tick_size = AmountField()
    step_size = AmountField()
    min_price = AmountField()
    max_price = AmountField()
    min_qty = AmountField()
    max_qty = AmountField()
    min_notional = AmountField()
    max_notional = AmountField()
    # Fee rates as fractions (0.001 = 0.1 %): the rates in force at the matcher's committed
    # stream position. Changed only through MarketFeeChange (orders.markets.market_fees_change),
    # which the matcher applies in stream order.
    maker_fee = AmountField()
    taker_fee = AmountField()
    # The effective trading state, the one the API, exchangeInfo and the engine use: the most
    # restrictive of `operator_status`, the global state (GlobalTradingState) and an active
    # circuit breaker. Written only by orders.markets.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRADING)
    # The state operators set for this market on the kill-switch page.
    operator_status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.TRADING
    )
    # Price band: a limit price may differ from the reference price by at most this percentage
    # (0 disables the band).
    price_band_pct = AmountField(default=0)
    # Per-user limits: open orders in this market (NULL: the MAX_OPEN_ORDERS_PER_MARKET setting)
    # and new orders per `user_order_rate_window_s` seconds (0: no limit).
    max_open_orders = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    user_order_rate_limit = models.PositiveIntegerField(default=0)
    user_order_rate_window_s = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)]
    )
    # Circuit breaker: when the trade price moves more than `breaker_move_pct` percent within
    # `breaker_window_s` seconds, the market is CANCEL_ONLY until `breaker_until` (now +
    # `breaker_cooldown_s`). 0 disables it.
    breaker_move_pct = AmountField(default=0)
    breaker_window_s = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    breaker_cooldown_s = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1)])
    breaker_until = models.DateTimeField(null=True, blank=True)
    # Matcher shard that owns this market's stream.
    shard = models.PositiveSmallIntegerField(default=0)
    # Bumped by a trigger on every change of the row (orders migration 0007): the order path's
    # per-process copy of a market is checked against it in the acceptance statement.
    config_version = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("symbol",)
        constraints = [
            models.CheckConstraint(condition=models.Q(tick_size__gt=0), name="market_tick_gt_0"),
            models.CheckConstraint(condition=models.Q(step_size__gt=0), name="market_step_gt_0"),
            models.CheckConstraint(
                condition=models.Q(
                    maker_fee__gte=0, taker_fee__gte=0, maker_fee__lt=1, taker_fee__lt=1
                ),
                name="market_fee_range",
            ),
        ]
        permissions = [
            ("operate_kill_switch", "Can set trading states and cancel all orders of a market"),
            ("change_market_risk", "Can change a market's risk limits"),
            ("change_market_fees", "Can schedule a market's fee change"),
            ("change_market_engine_fields", "Can change symbol, assets, tick, step or shard"),
        ]

    def __str__(self) -> str:
        return self.symbol


class GlobalTradingState(models.Model):
    """The exchange-wide kill switch (one row, id 1; no row means TRADING). It overrides the
    markets' own states while more restrictive, without overwriting them."""

    status = models.CharField(
        max_length=16, choices=Market.Status.choices, default=Market.Status.TRADING
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "global trading state"

    def __str__(self) -> str:
        return f"global: {self.status}"


class MarketFeeChange(models.Model):
    """A fee change, in force from the matcher's stream position at which it was applied
    (`applied_seq`: trades with a higher sequence number pay the new rates). Never retroactive:
    the trades up to applied_seq keep the rates they were executed with."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="fee_changes")
    maker_fee = AmountField()
    taker_fee = AmountField()
    previous_maker_fee = AmountField()
    previous_taker_fee = AmountField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    # Set by the matcher in the batch that applied it: the market's engine sequence number at
    # that point (the last event before the new rates) and the commit time.
    applied_seq = models.BigIntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    maker_fee__gte=0, taker_fee__gte=0, maker_fee__lt=1, taker_fee__lt=1
                ),
                name="marketfee_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=("market", "id"),
                condition=models.Q(applied_at__isnull=True),
                name="marketfee_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market_id}: maker {self.maker_fee} taker {self.taker_fee}"


OPEN_STATUSES = ("PENDING_NEW", "NEW", "PARTIALLY_FILLED")


class Order(models.Model):
    """An order from acceptance to its final state. After acceptance only the matcher writes it."""

    class Side(models.TextChoices):
        BUY = "BUY"
        SELL = "SELL"

    class Type(models.TextChoices):
        LIMIT = "LIMIT"
        LIMIT_MAKER = "LIMIT_MAKER"
        MARKET = "MARKET"
        STOP_LOSS = "STOP_LOSS"
        STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
        TAKE_PROFIT = "TAKE_PROFIT"
        TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    class TimeInForce(models.TextChoices):
        GTC = "GTC"
        IOC = "IOC"
        FOK = "FOK"

    class Status(models.TextChoices):
        PENDING_NEW = "PENDING_NEW"  # accepted by the web, not yet applied by the matcher
        NEW = "NEW"
        PARTIALLY_FILLED = "PARTIALLY_FILLED"
        FILLED = "FILLED"
        CANCELED = "CANCELED"
        EXPIRED = "EXPIRED"
        EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"
        REJECTED = "REJECTED"

    class STP(models.TextChoices):
        NONE = "NONE"
        EXPIRE_TAKER = "EXPIRE_TAKER"
        EXPIRE_MAKER = "EXPIRE_MAKER"
        EXPIRE_BOTH = "EXPIRE_BOTH"

    # No single-column FK indexes: order_user_market and order_market_status lead with these
    # columns, and every index costs each matcher update of the row (docs/bench-matcher.md).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    client_order_id = models.CharField(max_length=36)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=20, choices=Type.choices)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices, blank=True)
    price = AmountField(null=True, blank=True)
    stop_price = AmountField(null=True, blank=True)
    quantity = AmountField(null=True, blank=True)  # original base quantity
    quote_order_qty = AmountField(null=True, blank=True)
    stp_mode = models.CharField(max_length=16, choices=STP.choices, default=STP.NONE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_NEW)
    executed_qty = AmountField(default=0)
    cumulative_quote_qty = AmountField(default=0)
    # The funds locked for the order live in clearing.Hold (key "order:<id>"), owned by clearing,
    # so that the matcher (writer of orders) and settlement (writer of holds) never lock one row.
    is_working = models.BooleanField(default=False)  # on the book (false for pending stops)
    # Engine sequence numbers: acceptance, and current queue priority (changes on amend/trigger).
    accepted_seq = models.BigIntegerField(null=True, blank=True)
    priority_seq = models.BigIntegerField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    working_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # The engine seq of the order's final event (done or rejected): every trade of the order has
    # a lower seq, so settlement releases its hold once it has settled every trade below it.
    done_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("user", "client_order_id"),
                condition=models.Q(status__in=OPEN_STATUSES),
                name="order_client_id_unique_open",
            ),
            models.CheckConstraint(
                condition=models.Q(executed_qty__gte=0), name="order_exec_gte_0"
            ),
        ]
        indexes = [
            models.Index(fields=("market", "status"), name="order_market_status"),
            models.Index(fields=("user", "market", "id"), name="order_user_market"),
            # MAX_NUM_ORDERS counts a user's open orders on every placement: read only those.
            models.Index(
                fields=("user", "market"),
                condition=models.Q(status__in=OPEN_STATUSES),
                name="order_user_market_open",
            ),
            # Settlement's release cursor: finished orders of a market in engine order.
            models.Index(
                fields=("market", "done_seq"),
                condition=models.Q(done_seq__isnull=False),
                name="order_market_done_seq",
            ),
        ]
        permissions = [("cancel_user_orders", "Can cancel a user's orders")]

    def __str__(self) -> str:
        return f"{self.id} {self.market_id} {self.side} {self.type} {self.status}"


class Trade(models.Model):
    """One match between a maker and a taker, written by the matcher, settled by clearing."""

    # No single-column index: trade_market_seq_unique and trade_market_id lead with market.
    market = models.ForeignKey(
        Market, on_delete=models.PROTECT, related_name="trades", db_index=False
    )
    seq = models.BigIntegerField()  # the engine's per-market event sequence number
    maker_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+")
    taker_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    price = AmountField()
    qty = AmountField()
    quote_qty = AmountField()
    is_buyer_maker = models.BooleanField()
    # Fees, each charged in the asset its payer receives (buyer: base, seller: quote).
    buyer_fee = AmountField()
    seller_fee = AmountField()
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("market", "seq"), name="trade_market_seq_unique"),
        ]
        indexes = [
            models.Index(fields=("market", "id"), name="trade_market_id"),
            # klines, the 24 h ticker, avgPrice and aggTrades time ranges
            models.Index(fields=("market", "created_at"), name="trade_market_time"),
            models.Index(
                fields=("market", "seq"),
                condition=models.Q(settled_at__isnull=True),
                name="trade_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market_id}#{self.seq} {self.qty}@{self.price}"
