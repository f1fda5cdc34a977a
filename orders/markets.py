"""Market lifecycle and controls: trading states (the kill switch, global and per market), the
circuit breaker, fee changes and changes of the fields the engine's integer units depend on.

Every change the engine must see travels the market's command stream (docs/architecture.md),
enqueued after the commit, so it takes effect at one point of the stream order:
- a trading state as SetMarketState (the API refuses new orders from the commit on, the engine
  from its stream position on);
- new fee rates as ApplyFees: the matcher charges them to trades after that entry and records
  the point (MarketFeeChange.applied_seq); never retroactive;
- a change of symbol, assets, tick, step or shard as ReloadMarket, allowed only while the market
  is halted with no open order (the safe path: halt, cancel all, change, resume).

The effective state (Market.status) is the most restrictive of the market's operator state, the
global state and an active circuit breaker, so the global kill switch never overwrites the
markets' own states: lifting it restores each market's own.

Every service records its audit entry in its transaction (admin_rbac.services.audit_record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from admin_rbac.services import Actor, audit_diff, audit_record, audit_snapshot
from exchange_site.errors import InvalidInput
from exchange_site.redis import get_redis
from matching.engine import CancelAll, DoneReason, MarketState, SetMarketState
from matching.models import MarketEngineState
from matching.requests import engine_request_record
from matching.stream import ApplyFees, ReloadMarket, StreamCommand, commands_enqueue, stream_key

from . import units
from .models import OPEN_STATUSES, GlobalTradingState, Market, MarketFeeChange, Order

S = Market.Status
STATUS_RANK = {S.TRADING: 0, S.CANCEL_ONLY: 1, S.HALT: 2}
ENGINE_STATES = {S.TRADING: MarketState.TRADING, S.CANCEL_ONLY: MarketState.CANCEL_ONLY,
                 S.HALT: MarketState.HALT}  # fmt: skip
# The fields the engine's integer units (ticks, lots) and the stream's routing depend on.
ENGINE_FIELDS = ("symbol", "base", "quote", "tick_size", "step_size", "shard")
# Filters that must stay multiples of the tick and step: changed with them when needed.
UNIT_FILTERS = ("min_price", "max_price", "min_qty", "max_qty")
_STATE_FIELDS = ("status", "operator_status", "breaker_until")
_ORDERS = Actor.system("orders")


def _enqueue(
    symbol: str, items: Sequence[tuple[StreamCommand, str | None]], market_id: int | None = None
) -> None:
    """XADD after commit. With `market_id`, market-state changes and cancel-alls are also
    persisted (matching.EngineRequest, in this transaction) so that the stream sweep re-sends
    them after a Redis loss, and the matcher applies each once."""
    requests: list[str | None] | None = None
    if market_id is not None:
        requests = [
            engine_request_record(market_id=market_id, cmd=cmd)
            if isinstance(cmd, SetMarketState | CancelAll)
            else None
            for cmd, _ in items
        ]
    transaction.on_commit(lambda: commands_enqueue(get_redis(), symbol, items, requests))


# --------------------------------------------------------------------------- configuration


@units.wide
def market_check(market: Market) -> None:
    """Validate a market's configuration (new or changed); raises InvalidInput."""
    if market.symbol != f"{market.base.code}{market.quote.code}":
        raise InvalidInput(
            f"symbol must be base+quote ({market.base.code}{market.quote.code}),"
            f" got {market.symbol}"
        )
    if market.base_id == market.quote_id:
        raise InvalidInput("base and quote must differ")
    positive = {
        "tick": market.tick_size, "step": market.step_size, "min-qty": market.min_qty,
        "max-qty": market.max_qty, "min-price": market.min_price, "max-price": market.max_price,
    }  # fmt: skip
    for name, value in positive.items():
        if value is None or value <= 0:
            raise InvalidInput(f"{name} must be positive")
    if market.min_qty > market.max_qty or market.min_price > market.max_price:
        raise InvalidInput("min must not exceed max")
    if market.min_notional > market.max_notional:
        raise InvalidInput("min-notional must not exceed max-notional")
    if market.min_qty % market.step_size or market.max_qty % market.step_size:
        raise InvalidInput("min-qty and max-qty must be multiples of step")
    if market.min_price % market.tick_size or market.max_price % market.tick_size:
        raise InvalidInput("min-price and max-price must be multiples of tick")
    for name, fee in {"maker-fee": market.maker_fee, "taker-fee": market.taker_fee}.items():
        if not Decimal(0) <= fee < 1:
            raise InvalidInput(f"{name} must be in [0, 1)")
    if market.price_band_pct < 0 or market.breaker_move_pct < 0:
        raise InvalidInput("price band and breaker move must not be negative")
    # One engine quote unit (tick * step) must be representable in the quote asset, so that
    # every trade's quote amount is exact in the ledger.
    unit = market.tick_size * market.step_size
    for size, asset in ((market.step_size, market.base), (unit, market.quote)):
        if units.decimal_places(size) > asset.precision:
            raise InvalidInput(
                f"{size.normalize()} has more decimals than {asset.code}"
                f" precision {asset.precision}"
            )
    # The engine's integers are stored as bigint: the largest price in ticks, quantity in lots and
    # notional in quote units must fit.
    for name, count in (
        ("max-price / tick", market.max_price / market.tick_size),
        ("max-qty / step", market.max_qty / market.step_size),
        ("max-notional / (tick * step)", market.max_notional / unit),
    ):
        if count > units.ENGINE_INT_MAX:
            raise InvalidInput(f"{name} must not exceed {units.ENGINE_INT_MAX}")


# --------------------------------------------------------------------------- trading states


def global_status_get() -> str:
    """The exchange-wide state (TRADING when never set)."""
    status = GlobalTradingState.objects.filter(pk=1).values_list("status", flat=True).first()
    return status or S.TRADING


def market_effective_status(market: Market, *, global_status: str, now: Any = None) -> str:
    """The most restrictive of the market's own state, the global state and its breaker."""
    candidates = [market.operator_status, global_status]
    if market.breaker_until is not None and market.breaker_until > (now or timezone.now()):
        candidates.append(S.CANCEL_ONLY)
    return max(candidates, key=lambda s: STATUS_RANK[S(s)])


def _apply_effective(market: Market, global_status: str) -> bool:
    """Set market.status to its effective state (the row is locked by the caller); True when it
    changed. The caller saves and enqueues."""
    status = market_effective_status(market, global_status=global_status)
    changed = status != market.status
    market.status = status
    return changed


def _state_command(market: Market) -> SetMarketState:
    return SetMarketState(ENGINE_STATES[S(market.status)])


def _cancel_all_open(market: Market) -> int:
    """Record a cancel request on every open order (so the stream sweep re-sends a cancel if the
    stream loses the CancelAll entry); return how many."""
    return Order.objects.filter(
        market=market, status__in=OPEN_STATUSES, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=timezone.now())


@transaction.atomic  # not durable: callable inside a caller's transaction (tests, admin)
def market_set_status(
    *,
    market_id: int,
    status: str,
    cancel_all: bool = False,
    actor: Actor | None = None,
    reason: str = "",
) -> Market:
    """Set a market's own trading state (kill switch); its effective state follows (see the
    module docstring). The API refuses new orders from the commit on, and the engine gets the
    effective state through the stream, after every command already in it.

    With cancel_all, every order of the market (stops included) is ended by the engine with
    status EXPIRED, as an exchange action. Locks the market row; audited; enqueues after the
    outermost commit.
    """
    if status not in S.values:
        raise InvalidInput(f"unknown market status {status!r}")
    market = Market.objects.select_for_update().get(pk=market_id)
    before = audit_snapshot(market, fields=_STATE_FIELDS)
    market.operator_status = status
    _apply_effective(market, global_status_get())
    market.save(update_fields=["operator_status", "status"])
    # The state is sent even when unchanged: the engine ignores a repeat, and a repeat repairs
    # an engine that missed one (a stream lost in Redis).
    items: list[tuple[StreamCommand, str | None]] = [(_state_command(market), None)]
    cancelled = 0
    if cancel_all:
        cancelled = _cancel_all_open(market)
        items.append((CancelAll(None, DoneReason.EXPIRED), None))
    old, new = audit_diff(before, audit_snapshot(market, fields=_STATE_FIELDS))
    audit_record(
        actor=actor or _ORDERS, action="market.cancel_all" if cancel_all else "market.set_status",
        target=market, before=old, after={**(new or {}), "operator_status": status,
        **({"orders_cancelled": cancelled} if cancel_all else {})}, reason=reason,
    )  # fmt: skip
    _enqueue(market.symbol, items, market.id)
    return market


@transaction.atomic(durable=True)
def exchange_set_status(*, status: str, actor: Actor, reason: str) -> list[Market]:
    """Set the global trading state. Every market's effective state is recomputed; those that
    change get it through their stream. Locks the global row, then every market row (by id);
    audited; enqueues after commit. Returns the markets whose effective state changed."""
    if status not in S.values:
        raise InvalidInput(f"unknown trading status {status!r}")
    GlobalTradingState.objects.get_or_create(pk=1)
    state = GlobalTradingState.objects.select_for_update().get(pk=1)
    before = state.status
    state.status = status
    state.save(update_fields=["status", "updated_at"])
    changed = []
    for market in Market.objects.select_for_update().order_by("id"):
        if _apply_effective(market, status):
            market.save(update_fields=["status"])
            changed.append(market)
        _enqueue(market.symbol, [(_state_command(market), None)], market.id)
    audit_record(
        actor=actor, action="exchange.set_status", target=state, before={"status": before},
        after={"status": status, "markets_changed": [m.symbol for m in changed]}, reason=reason,
        target_repr="global trading state",
    )  # fmt: skip
    return changed


# --------------------------------------------------------------------------- circuit breaker


@transaction.atomic(durable=True)
def market_breaker_trip(*, market_id: int, observed: Mapping[str, Any]) -> bool:
    """Move the market to CANCEL_ONLY for its configured cool-down (the circuit breaker), unless
    a breaker is already active. `observed` (prices, window) goes to the audit entry. Locks the
    market row; enqueues the state after commit. True when it tripped."""
    market = Market.objects.select_for_update().get(pk=market_id)
    now = timezone.now()
    if market.breaker_until is not None and market.breaker_until > now:
        return False
    before = audit_snapshot(market, fields=_STATE_FIELDS)
    market.breaker_until = now + timedelta(seconds=market.breaker_cooldown_s)
    _apply_effective(market, global_status_get())
    market.save(update_fields=["breaker_until", "status"])
    old, new = audit_diff(before, audit_snapshot(market, fields=_STATE_FIELDS))
    audit_record(
        actor=Actor.system("circuit_breaker"), action="market.breaker_trip", target=market,
        before=old, after={**(new or {}), **observed},
        reason=f"price moved more than {market.breaker_move_pct.normalize():f} % within"
        f" {market.breaker_window_s} s",
    )  # fmt: skip
    _enqueue(market.symbol, [(_state_command(market), None)], market.id)
    return True


@transaction.atomic(durable=True)
def market_breaker_release(*, market_id: int) -> bool:
    """End an expired breaker: the market returns to its effective state without it. Locks the
    market row; audited; enqueues after commit. True when released."""
    market = Market.objects.select_for_update().get(pk=market_id)
    if market.breaker_until is None or market.breaker_until > timezone.now():
        return False
    before = audit_snapshot(market, fields=_STATE_FIELDS)
    market.breaker_until = None
    _apply_effective(market, global_status_get())
    market.save(update_fields=["breaker_until", "status"])
    old, new = audit_diff(before, audit_snapshot(market, fields=_STATE_FIELDS))
    audit_record(
        actor=Actor.system("circuit_breaker"), action="market.breaker_release", target=market,
        before=old, after=new, reason="cool-down over",
    )  # fmt: skip
    _enqueue(market.symbol, [(_state_command(market), None)], market.id)
    return True


def market_breakers_release_due() -> list[int]:
    """Release every breaker whose cool-down is over (the beat task); the released ids."""
    due = Market.objects.filter(breaker_until__lte=timezone.now()).values_list("pk", flat=True)
    return [pk for pk in due if market_breaker_release(market_id=pk)]


# --------------------------------------------------------------------------- fees


def _check_fee(name: str, fee: Decimal) -> None:
    if not Decimal(0) <= fee < 1:
        raise InvalidInput(f"{name} must be in [0, 1)")


@transaction.atomic(durable=True)
def market_fees_change(
    *, market_id: int, maker_fee: Decimal, taker_fee: Decimal, actor: Actor, reason: str
) -> MarketFeeChange:
    """Schedule new fee rates. They apply from the point of the market's stream where the
    matcher meets them (ApplyFees), to trades after it; the matcher records that point. Locks
    the market row; audited; enqueues after commit."""
    _check_fee("maker fee", maker_fee)
    _check_fee("taker fee", taker_fee)
    if not reason.strip():
        raise InvalidInput("a reason is required")
    market = Market.objects.select_for_update().get(pk=market_id)
    last = market.fee_changes.order_by("-id").first()  # pending ones included: chain them
    previous = (last.maker_fee, last.taker_fee) if last else (market.maker_fee, market.taker_fee)
    change = MarketFeeChange.objects.create(
        market=market, maker_fee=maker_fee, taker_fee=taker_fee,
        previous_maker_fee=previous[0], previous_taker_fee=previous[1],
        requested_by_id=actor.user_id, reason=reason,
    )  # fmt: skip
    audit_record(
        actor=actor, action="market.fees_change", target=market,
        before={"maker_fee": previous[0], "taker_fee": previous[1]},
        after={"maker_fee": maker_fee, "taker_fee": taker_fee, "fee_change_id": change.pk},
        reason=reason,
    )  # fmt: skip
    _enqueue(market.symbol, [(fee_command(change), None)])
    return change


def fee_command(change: MarketFeeChange) -> ApplyFees:
    return ApplyFees(change.pk, f"{change.maker_fee.normalize():f}",
                     f"{change.taker_fee.normalize():f}")  # fmt: skip


def fee_changes_pending(*, older_than_s: float) -> list[tuple[str, ApplyFees]]:
    """Fee changes not yet applied by a matcher, older than the given age (for the stream sweep:
    the matcher ignores a change it has applied, so a repeat is harmless)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    later_applied = MarketFeeChange.objects.filter(
        market_id=OuterRef("market_id"), pk__gt=OuterRef("pk"), applied_at__isnull=False
    )
    rows = MarketFeeChange.objects.filter(
        applied_at__isnull=True, requested_at__lte=cutoff
    ).exclude(Exists(later_applied))
    return [(c.market.symbol, fee_command(c)) for c in rows.select_related("market").order_by("id")]


# --------------------------------------------------------------------------- engine fields


def market_open_orders_count(*, market_id: int) -> int:
    return Order.objects.filter(market_id=market_id, status__in=OPEN_STATUSES).count()


def market_engine_fields_blocker(market: Market) -> str | None:
    """Why the engine fields of `market` cannot change now, or None when they can."""
    if market.operator_status != S.HALT:
        return "the market must be halted first (kill switch: HALT)"
    count = market_open_orders_count(market_id=market.pk)
    if count:
        return f"the market has {count} open order(s): cancel all first (kill switch)"
    return None


@transaction.atomic(durable=True)
def market_engine_fields_change(
    *, market_id: int, changes: Mapping[str, Any], actor: Actor, reason: str
) -> Market:
    """Change symbol, base, quote, tick, step and/or shard (with the min/max price and quantity
    filters when they must follow the new tick or step): only while the market is halted with
    no open order (prices and quantities in the books and the stream are integers of the old
    tick and step). Validated like a new market. The matcher re-reads the market at this point
    of its stream (ReloadMarket); a shard change hands the market to the other shard's matcher
    (the engine state row's shard changes in the same transaction, so the old matcher can no
    longer commit a batch for it). Locks the market row (waiting for orders being inserted) and
    its engine state row; audited; enqueues after commit.
    """
    unknown = set(changes) - {*ENGINE_FIELDS, *UNIT_FILTERS}
    if unknown:
        raise InvalidInput(f"not an engine field: {', '.join(sorted(unknown))}")
    if not reason.strip():
        raise InvalidInput("a reason is required")
    market = Market.objects.select_for_update().select_related("base", "quote").get(pk=market_id)
    blocker = market_engine_fields_blocker(market)
    if blocker:
        raise InvalidInput(f"cannot change {market.symbol} now: {blocker}")
    before = audit_snapshot(market, fields=(*ENGINE_FIELDS, *UNIT_FILTERS))
    old_symbol = market.symbol
    for name, value in changes.items():
        setattr(market, name, value)
    if "symbol" not in changes and ("base" in changes or "quote" in changes):
        market.symbol = f"{market.base.code}{market.quote.code}"
    if market.symbol != old_symbol and Market.objects.filter(symbol=market.symbol).exists():
        raise InvalidInput(f"market {market.symbol} already exists")
    market_check(market)
    market.save(update_fields=[*changes, "symbol"])
    state, _ = MarketEngineState.objects.get_or_create(market=market)
    state = MarketEngineState.objects.select_for_update().get(pk=state.pk)
    if state.shard != market.shard:
        # The new shard's matcher takes over: its fencing tokens are unrelated to the old
        # shard's, so the stored token restarts.
        state.shard, state.fence = market.shard, 0
    if market.symbol != old_symbol:
        state.last_stream_id = "0-0"  # a new stream: its entry ids are unrelated to the old one
    state.save(update_fields=["shard", "fence", "last_stream_id"])
    old, new = audit_diff(before, audit_snapshot(market, fields=(*ENGINE_FIELDS, *UNIT_FILTERS)))
    audit_record(
        actor=actor, action="market.engine_fields_change", target=market, before=old,
        after=new, reason=reason,
    )  # fmt: skip
    if market.symbol != old_symbol:
        transaction.on_commit(lambda: get_redis().delete(stream_key(market.symbol)))
    _enqueue(old_symbol, [(ReloadMarket(), None)])
    return market


__all__ = [
    "ENGINE_FIELDS",
    "UNIT_FILTERS",
    "exchange_set_status",
    "fee_changes_pending",
    "global_status_get",
    "market_breaker_release",
    "market_breaker_trip",
    "market_breakers_release_due",
    "market_check",
    "market_effective_status",
    "market_engine_fields_blocker",
    "market_engine_fields_change",
    "market_fees_change",
    "market_open_orders_count",
    "market_set_status",
]
