"""Order-side writes: market configuration and the order path's acceptance step.

Acceptance (docs/architecture.md, "The order path", step 1) is one transaction: validate the market
state and every filter, lock the hold through the ledger, insert the order as PENDING_NEW; after
commit, append the command to the market's Redis stream. From then on only the matcher writes
the order's state.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_UP, Decimal
from typing import Any, TypeVar, cast

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from admin_rbac.services import Actor, audit_record, audit_snapshot
from clearing.holds import order_hold_announce, order_holds_announce
from clearing.models import LedgerAccount
from exchange_site.errors import DomainError, InsufficientFunds, InvalidInput
from exchange_site.money import AMOUNT_LIMIT
from exchange_site.redis import get_redis
from marketdata.depthstore import depth_read
from matching.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    DoneReason,
)
from matching.engine.commands import Command
from matching.requests import engine_request_record
from matching.stream import StreamCommand, commands_enqueue, commands_enqueue_markets
from wallet.services import asset_get_or_create

from . import risk, units
from .acceptor import GroupRunner
from .errors import (
    DUPLICATE_ORDER,
    MARKET_CLOSED,
    UNKNOWN_ORDER,
    UNSUPPORTED,
    OrderRejected,
    filter_failure,
    rejected,
    too_much_precision,
)
from .mapping import LIMIT_TYPES, MARKET_LIKE, SIDES, STOP_TYPES, STPS, TIFS, TYPES, place_command
from .markets import (
    global_status_get,
    market_check,
    market_effective_status,
    market_set_status,
)
from .models import OPEN_STATUSES, Market, Order
from .selectors import market_cached, market_get, market_get_fresh
from .verdicts import request_id_new

log = structlog.get_logger(__name__)
T = Order.Type
F = TypeVar("F", bound=Callable[..., Any])
# Margin over the visible book when estimating the hold of a market order by base quantity (or
# of a market sell by quote amount): the book can move between acceptance and matching. The
# engine never spends beyond the hold, so a short estimate only fills less.
MARKET_HOLD_MARGIN = Decimal("1.05")
# A stop-market buy is priced at its stop price plus this margin (the book at trigger time is
# unknown); the engine caps its spending at the hold.
STOP_MARKET_HOLD_MARGIN = Decimal("1.10")


@dataclass(frozen=True, slots=True)
class Submitted:
    """A command accepted into the stream: the order as committed and the id to wait on."""

    order: Order
    request_id: str


# --------------------------------------------------------------------------- markets


@transaction.atomic(durable=True)
def market_create(
    *,
    base: str,
    quote: str,
    tick_size: Decimal,
    step_size: Decimal,
    min_qty: Decimal | None = None,
    max_qty: Decimal = Decimal("9000"),
    min_price: Decimal | None = None,
    max_price: Decimal = Decimal("1000000"),
    min_notional: Decimal = Decimal("5"),
    max_notional: Decimal = Decimal("9000000"),
    maker_fee: Decimal = Decimal("0.001"),
    taker_fee: Decimal = Decimal("0.001"),
    price_band_pct: Decimal = Decimal("0"),
    symbol: str | None = None,
    shard: int = 0,
    actor: Actor | None = None,
    reason: str = "",
) -> Market:
    """Create a market (and its missing assets). The running matcher of its shard picks it up
    within seconds. Audited (as the command line unless `actor` says otherwise). Commits."""
    symbol = symbol or f"{base}{quote}"
    if Market.objects.filter(symbol=symbol).exists():
        raise InvalidInput(f"market {symbol} already exists")
    base_asset, _ = asset_get_or_create(code=base)
    quote_asset, _ = asset_get_or_create(code=quote)
    market = Market(
        symbol=symbol,
        base=base_asset,
        quote=quote_asset,
        tick_size=tick_size,
        step_size=step_size,
        min_qty=step_size if min_qty is None else min_qty,
        max_qty=max_qty,
        min_price=tick_size if min_price is None else min_price,
        max_price=max_price,
        min_notional=min_notional,
        max_notional=max_notional,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        price_band_pct=price_band_pct,
        shard=shard,
    )
    market_check(market)
    market.status = market_effective_status(market, global_status=global_status_get())
    market.save()
    audit_record(
        actor=actor or Actor.system("cli"), action="market.create", target=market,
        after=audit_snapshot(market), reason=reason,
    )  # fmt: skip
    return market


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class _Spec:
    """A validated order: DB field values and the hold (the engine command is built from
    these by orders.mapping once the order has its id)."""

    fields: dict[str, Any]
    hold_asset_id: int
    hold_amount: Decimal


def _missing(name: str) -> DomainError:
    return DomainError(
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.", code=-1102
    )


def _not_required(name: str) -> DomainError:
    return DomainError(f"Parameter '{name}' sent when not required.", code=-1106)


def _check_precision(value: Decimal, places: int, param: str) -> None:
    if units.decimal_places(value) > places:
        raise too_much_precision(param)


def _check_price(market: Market, price: Decimal, param: str) -> int:
    _check_precision(price, market.quote.precision, param)
    if not market.min_price <= price <= market.max_price:
        raise filter_failure("PRICE_FILTER")
    ticks = units.to_ticks(price, market.tick_size)
    if ticks > units.ENGINE_INT_MAX:  # only on a market configured at the extremes
        raise filter_failure("PRICE_FILTER")
    return ticks


def _check_qty(market: Market, qty: Decimal) -> int:
    _check_precision(qty, market.base.precision, "quantity")
    if not market.min_qty <= qty <= market.max_qty:
        raise filter_failure("LOT_SIZE")
    lots = units.to_lots(qty, market.step_size)
    if lots > units.ENGINE_INT_MAX:  # only on a market configured at the extremes
        raise filter_failure("LOT_SIZE")
    return lots


def _walk(
    levels: list[tuple[int, int]], market: Market, *, qty_lots: int = 0, quote: Decimal = Decimal(0)
) -> tuple[Decimal, Decimal, bool]:
    """Walk book levels until `qty_lots` (or `quote`) is covered: (base, quote, fully covered)."""
    got_base, got_quote = Decimal(0), Decimal(0)
    for price_ticks, level_lots in levels:
        price = units.ticks_to_price(price_ticks, market.tick_size)
        lots = level_lots
        if qty_lots:
            lots = min(lots, qty_lots - int(got_base / market.step_size))
        elif quote:
            affordable = int((quote - got_quote) // (price * market.step_size))
            lots = min(lots, affordable + 1)
        got_base += units.lots_to_qty(lots, market.step_size)
        got_quote += price * units.lots_to_qty(lots, market.step_size)
        if (qty_lots and got_base >= units.lots_to_qty(qty_lots, market.step_size)) or (
            quote and got_quote >= quote
        ):
            return got_base, got_quote, True
    return got_base, got_quote, False


@units.wide  # exact arithmetic on request-sized decimals (see orders.units)
def _validate(
    market: Market,
    *,
    side: str,
    type: str,
    time_in_force: str | None,
    quantity: Decimal | None,
    quote_order_qty: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    stp_mode: str,
) -> _Spec:
    if side not in SIDES:
        raise DomainError("Invalid side.", code=-1117)
    if type not in TYPES:
        raise DomainError("Invalid orderType.", code=-1116)
    if stp_mode not in STPS:
        raise DomainError("Invalid selfTradePreventionMode.", code=-1100)
    otype = T(type)
    is_buy = side == "BUY"

    # Shape: which parameters each type takes (syntax errors first, as the contract orders them).
    if otype in LIMIT_TYPES:
        if price is None:
            raise _missing("price")
        if quantity is None:
            raise _missing("quantity")
        if quote_order_qty is not None:
            raise _not_required("quoteOrderQty")
    elif price is not None:
        raise _not_required("price")
    if otype in STOP_TYPES:
        if stop_price is None:
            raise _missing("stopPrice")
    elif stop_price is not None:
        raise _not_required("stopPrice")
    if otype == T.LIMIT_MAKER:
        if time_in_force is not None:
            raise _not_required("timeInForce")
    elif otype in LIMIT_TYPES:
        if time_in_force is None:
            raise _missing("timeInForce")
        if time_in_force not in TIFS:
            raise DomainError("Invalid timeInForce.", code=-1115)
    elif time_in_force is not None:
        raise _not_required("timeInForce")
    if otype in MARKET_LIKE:
        if quantity is None and quote_order_qty is None:
            raise _missing("quantity")
        if quantity is not None and quote_order_qty is not None:
            raise rejected(UNSUPPORTED)
        if otype != T.MARKET and quote_order_qty is not None:
            raise rejected(UNSUPPORTED)  # stop-market orders take a base quantity

    # Filters.
    if price is not None:
        _check_price(market, price, "price")
    if stop_price is not None:
        _check_price(market, stop_price, "stopPrice")
    qty_lots = _check_qty(market, quantity) if quantity is not None else 0
    if quote_order_qty is not None:
        _check_precision(quote_order_qty, market.quote.precision, "quoteOrderQty")
        if not 0 < quote_order_qty <= market.max_notional:
            raise filter_failure("NOTIONAL")

    # The reference (last trade) price, read only when a check needs it: the price band, and
    # the notional of a market order by quantity.
    needs_reference = bool(market.price_band_pct) or (otype == T.MARKET and quantity is not None)
    reference = risk.reference_price(market) if needs_reference else None
    if price is not None and quantity is not None:
        notional = price * quantity
        if not market.min_notional <= notional <= market.max_notional:
            raise filter_failure("NOTIONAL")
    elif quote_order_qty is not None and quote_order_qty < market.min_notional:
        raise filter_failure("NOTIONAL")
    elif quantity is not None:
        ref = stop_price if otype in STOP_TYPES else reference
        if ref is not None and quantity * ref < market.min_notional:
            raise filter_failure("NOTIONAL")
    if market.price_band_pct and reference is not None:
        band = market.price_band_pct / 100
        for value in (price, stop_price):
            if value is not None and not reference * (1 - band) <= value <= reference * (1 + band):
                raise filter_failure("PERCENT_PRICE_BY_SIDE")

    # The hold: what the order can cost at most, in the asset it pays with.
    if not is_buy:
        hold_asset, hold_amount = market.base, quantity
        if otype == T.MARKET and quote_order_qty is not None:
            bids, _ = _book(market)
            base, _, _ = _walk(bids, market, quote=quote_order_qty)
            estimate = (base * MARKET_HOLD_MARGIN).quantize(market.step_size, rounding=ROUND_UP)
            hold_amount = max(estimate, market.step_size)
    else:
        hold_asset = market.quote
        if otype in LIMIT_TYPES:
            assert price is not None and quantity is not None
            hold_amount = price * quantity
        elif quote_order_qty is not None:
            hold_amount = quote_order_qty
        else:
            assert quantity is not None
            if otype == T.MARKET:
                _, asks = _book(market)
                _, cost, covered = _walk(asks, market, qty_lots=qty_lots)
                if not covered and asks:  # price the uncovered rest at the worst visible ask
                    worst = units.ticks_to_price(asks[-1][0], market.tick_size)
                    cost = worst * quantity
                hold_amount = cost * MARKET_HOLD_MARGIN
            else:
                assert stop_price is not None
                hold_amount = stop_price * quantity * STOP_MARKET_HOLD_MARGIN
            unit = market.tick_size * market.step_size
            hold_amount = max(hold_amount.quantize(unit, rounding=ROUND_UP), unit)
    assert hold_amount is not None
    # What can be stored: the engine's integers in bigint columns, the hold in an amount column.
    # Only a market configured at the extremes gets here (market_check refuses new ones).
    quote_units = (
        units.quote_to_units_floor(hold_amount, market.tick_size, market.step_size)
        if otype in MARKET_LIKE
        else 0
    )
    if max(qty_lots, quote_units) > units.ENGINE_INT_MAX or hold_amount >= AMOUNT_LIMIT:
        raise filter_failure("NOTIONAL")

    fields = {
        "side": side,
        "type": type,
        "time_in_force": time_in_force or ("GTC" if otype in LIMIT_TYPES else ""),
        "price": price,
        "stop_price": stop_price,
        "quantity": quantity,
        "quote_order_qty": quote_order_qty,
        "stp_mode": stp_mode,
    }
    return _Spec(fields, hold_asset.id, hold_amount)


def _book(market: Market) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    snapshot = depth_read(get_redis(), symbol=market.symbol, limit=500)
    return snapshot.bids, snapshot.asks


def _available(user_id: int, asset_id: int) -> Decimal:
    row = LedgerAccount.objects.filter(
        user_id=user_id, asset_id=asset_id, kind=LedgerAccount.Kind.AVAILABLE
    ).values_list("balance", flat=True)
    return row.first() or Decimal(0)


# --------------------------------------------------------------------------- the order path


def _enqueue_after_commit(
    symbol: str,
    items: Sequence[tuple[StreamCommand, str | None]],
    requests: list[str | None] | None = None,
) -> None:
    transaction.on_commit(lambda: commands_enqueue(get_redis(), symbol, items, requests))


def _open_market(symbol: str) -> Market:
    market = market_get(symbol=symbol)
    if market.status != Market.Status.TRADING:
        raise OrderRejected(MARKET_CLOSED)
    return market


class _MarketChanged(Exception):
    """The market changed since the copy an order was validated against was read."""


# orders migration 0007: check the copy's config_version, the state and MAX_NUM_ORDERS, insert
# the order, lock its hold (clearing_order_hold_place). One statement.
_ACCEPT_SQL = (
    "SELECT order_id, created_at FROM orders_order_accept("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _max_open(market: Market) -> int:
    return market.max_open_orders or settings.MAX_OPEN_ORDERS_PER_MARKET


def _client_id(client_order_id: str | None) -> str:
    return client_order_id or secrets.token_urlsafe(16)[:22]


def _insert(market: Market, user_id: int, spec: _Spec, client_order_id: str | None) -> Order:
    """Insert the order and lock its hold: one statement, a transaction of its own unless the
    caller has one (then in a savepoint). Raises, writing nothing.

    A market with a per-user order rate (a Redis counter) first counts the open orders and the
    rate, in the contract's order, in the transaction that then inserts."""
    limit = _max_open(market)
    if market.user_order_rate_limit:
        with transaction.atomic():
            risk.open_orders_check(market, user_id)
            risk.order_rate_check(market, user_id)
            return _insert_call(market, user_id, spec, client_order_id, limit)
    if connection.in_atomic_block:
        with transaction.atomic():
            return _insert_call(market, user_id, spec, client_order_id, limit)
    return _insert_call(market, user_id, spec, client_order_id, limit)


def _insert_call(
    market: Market, user_id: int, spec: _Spec, client_order_id: str | None, limit: int
) -> Order:
    client_order_id = _client_id(client_order_id)
    with connection.cursor() as cur:
        cur.execute(_ACCEPT_SQL, _accept_args(market, user_id, spec, client_order_id, limit))
        row = cur.fetchone()
    assert row is not None
    return _accepted_order(market, user_id, spec, client_order_id, row[0], row[1])


def _accept_args(
    market: Market, user_id: int, spec: _Spec, client_order_id: str, limit: int
) -> list[Any]:
    """orders_order_accept's arguments, in order."""
    f = spec.fields
    return [
        user_id, market.pk, market.config_version, limit, client_order_id, f["side"], f["type"],
        f["time_in_force"], f["price"], f["stop_price"], f["quantity"], f["quote_order_qty"],
        f["stp_mode"], spec.hold_asset_id, spec.hold_amount,
    ]  # fmt: skip


def _accepted_order(
    market: Market,
    user_id: int,
    spec: _Spec,
    client_order_id: str,
    order_id: int,
    created_at: datetime,
) -> Order:
    order = Order(
        id=order_id, user_id=user_id, market=market, client_order_id=client_order_id,
        created_at=created_at, updated_at=created_at, **spec.fields,
    )  # fmt: skip
    order._state.adding = False
    order._state.db = connection.alias
    return order


# ------------------------------------------------------------------ acceptance in groups
#
# The API's placements (order_place(group=True)) hand the acceptance statement to one thread per
# process, which runs the orders that arrived together in one statement and one transaction
# (orders_order_accept_group, orders migration 0008: orders_order_accept per order, each in a
# subtransaction, refusals returned instead of raised), then appends their commands to the
# streams in one Redis round trip. Validation stays with each request, on its own thread.


@dataclass(frozen=True, slots=True)
class _Acceptance:
    """A validated order waiting for its group's statement."""

    market: Market
    user_id: int
    spec: _Spec
    client_order_id: str
    limit: int
    request_id: str  # made on the request's thread: derived from the HTTP request's id


class _GroupFailed(Exception):
    """The group's statement failed as a whole (not a refusal): accept the order alone."""


GROUP_SIZE = Histogram(
    "exchange_order_accept_group_size",
    "Orders per group commit of acceptances",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
GROUP_RETRIES = Counter(
    "exchange_order_accept_group_retries_total",
    "Acceptance groups rerun after a deadlock or serialization failure",
)
GROUP_FAILURES = Counter(
    "exchange_order_accept_group_failures_total",
    "Acceptance groups failed as a whole (their orders then accepted one by one)",
)
_GROUP_ATTEMPTS = 3  # a deadlock or serialization failure reruns the whole group
_RETRYABLE = ("40P01", "40001")  # deadlock_detected, serialization_failure
# One array parameter per column of orders_order_accept, so the statement's text never changes.
_ACCEPT_GROUP_SQL = (
    "SELECT order_id, created_at, refusal FROM orders_order_accept_group("
    "%s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::varchar[], %s::varchar[],"
    " %s::varchar[], %s::varchar[], %s::numeric[], %s::numeric[], %s::numeric[],"
    " %s::numeric[], %s::varchar[], %s::bigint[], %s::numeric[])"
)


def _accept_group(group: list[_Acceptance]) -> list[Submitted | BaseException]:
    """On the group thread: accept the orders in one transaction, in the global lock order
    (user, then hold asset); after the commit, announce the holds and append the commands in
    one pipeline. Per order: the Submitted, the refusal as the IntegrityError the single
    statement would raise, or _GroupFailed when the transaction failed as a whole."""
    close_old_connections()  # as the API's thread pool does (exchange_site/binance/db.py)
    ranked = sorted(
        range(len(group)), key=lambda i: (group[i].user_id, group[i].spec.hold_asset_id)
    )
    args = [_accept_args(a.market, a.user_id, a.spec, a.client_order_id, a.limit)
            for a in (group[i] for i in ranked)]  # fmt: skip
    GROUP_SIZE.observe(len(group))
    rows, error = None, None
    for attempt in range(_GROUP_ATTEMPTS):
        if attempt:
            GROUP_RETRIES.inc()
        try:
            with transaction.atomic(durable=True), connection.cursor() as cur:
                cur.execute(_ACCEPT_GROUP_SQL, [list(column) for column in zip(*args, strict=True)])
                rows = cur.fetchall()
            break
        except DatabaseError as exc:
            error = exc
            if getattr(exc.__cause__, "sqlstate", None) not in _RETRYABLE:
                break
    if rows is None:
        GROUP_FAILURES.inc()
        log.warning("order.accept_group_failed", size=len(group), error=repr(error))
        return [_GroupFailed() for _ in group]
    results: list[Submitted | BaseException] = [_GroupFailed()] * len(group)
    accepted: list[tuple[_Acceptance, Submitted]] = []
    for i, (order_id, created_at, refusal) in zip(ranked, rows, strict=True):
        a = group[i]
        if refusal is not None:
            results[i] = IntegrityError(refusal)
            continue
        order = _accepted_order(
            a.market, a.user_id, a.spec, a.client_order_id, order_id, created_at
        )
        submitted = Submitted(order, a.request_id)
        results[i] = submitted
        accepted.append((a, submitted))
    order_holds_announce(pairs={(a.user_id, a.spec.hold_asset_id) for a, _ in accepted})
    try:
        commands_enqueue_markets(get_redis(), [
            (a.market.symbol, place_command(s.order, a.market, a.spec.hold_amount), s.request_id)
            for a, s in accepted
        ])  # fmt: skip
    except Exception as exc:  # committed: each caller gets the error, as after its own commit
        for i in ranked:
            if isinstance(results[i], Submitted):
                results[i] = exc
    return results


_acceptor_lock = threading.Lock()
_acceptor: GroupRunner[_Acceptance, Submitted] | None = None


def order_acceptor() -> GroupRunner[_Acceptance, Submitted]:
    """This process's group thread for acceptances (started on the first order)."""
    global _acceptor
    if _acceptor is None:
        with _acceptor_lock:
            if _acceptor is None:
                _acceptor = GroupRunner(
                    _accept_group, max_size=settings.ORDER_ACCEPT_GROUP_MAX, name="order-accept"
                )
    return _acceptor


def _refusals_mapped(fn: F) -> F:
    """Map the acceptance statement's refusals (and the insert trigger's, migration 0005) to
    their codes: the open-client-id unique violation and a market no longer trading to -2010,
    MAX_NUM_ORDERS to -1013, short funds to -2010; a changed market to _MarketChanged. A
    group's refusal of an order arrives as the same IntegrityError (its message)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IntegrityError as exc:
            text = str(exc)
            if "order_client_id_unique_open" in text:
                raise OrderRejected(DUPLICATE_ORDER) from exc
            if "market_config_changed" in text:
                raise _MarketChanged() from exc
            if "market_closed" in text:  # halted since this request validated
                raise OrderRejected(MARKET_CLOSED) from exc
            if "max_num_orders" in text:
                raise filter_failure("MAX_NUM_ORDERS") from exc
            if "insufficient_funds" in text:
                raise InsufficientFunds() from exc
            raise

    return cast(F, wrapper)


def order_place(
    *,
    user_id: int,
    symbol: str,
    side: str,
    type: str,
    time_in_force: str | None = None,
    quantity: Decimal | None = None,
    quote_order_qty: Decimal | None = None,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    client_order_id: str | None = None,
    stp_mode: str = "NONE",
    validate_only: bool = False,
    group: bool = False,
) -> Submitted:
    """Accept an order: validate, lock its hold, insert it PENDING_NEW; then enqueue it.

    With `group` (the API's placements), the acceptance statement runs in one transaction with
    the other orders this process accepts at the same moment (order_acceptor); not inside a
    caller's transaction, nor on a market with a per-user order rate: those accept alone.

    Validates against this process's copy of the market (orders.selectors.market_cached); the
    acceptance statement refuses when the market changed since, and a refusal by validation
    is confirmed against a fresh copy, so every answer is the one the current market gives.
    Locks the user's available/locked accounts of the hold asset. Raises OrderRejected (or
    InsufficientFunds) and writes nothing on any failure. With validate_only, checks everything
    including funds and writes nothing.
    """
    params = {
        "side": side, "type": type, "time_in_force": time_in_force, "quantity": quantity,
        "quote_order_qty": quote_order_qty, "price": price, "stop_price": stop_price,
        "stp_mode": stp_mode,
    }  # fmt: skip
    fresh = False
    while True:
        try:
            return _order_place_once(
                user_id, symbol, params, client_order_id, validate_only, fresh=fresh, group=group
            )
        except _MarketChanged:
            fresh = True  # read the market again (and cache it); once more if it changes again


@_refusals_mapped
def _order_place_once(
    user_id: int,
    symbol: str,
    params: dict[str, Any],
    client_order_id: str | None,
    validate_only: bool,
    *,
    fresh: bool,
    group: bool = False,
) -> Submitted:
    # order/test (validate_only) writes nothing the statement could check: it reads the market.
    cached = not (fresh or validate_only)
    market = market_cached(symbol=symbol) if cached else market_get_fresh(symbol=symbol)
    try:
        if market.status != Market.Status.TRADING:
            raise OrderRejected(MARKET_CLOSED)
        spec = _validate(market, **params)
    except DomainError:
        if not cached:
            raise
        raise _MarketChanged() from None  # refuse only on what the current market says
    if validate_only:
        if _available(user_id, spec.hold_asset_id) < spec.hold_amount:
            raise InsufficientFunds()
        return Submitted(Order(user_id=user_id, market=market, **spec.fields), "")
    if (
        group
        and settings.ORDER_ACCEPT_GROUP_MAX > 0
        and not market.user_order_rate_limit
        and not connection.in_atomic_block
    ):
        acceptance = _Acceptance(
            market, user_id, spec, _client_id(client_order_id), _max_open(market), request_id_new()
        )
        try:
            return order_acceptor().submit(acceptance)  # a refusal raises as the statement's
        except _GroupFailed:
            client_order_id = acceptance.client_order_id  # accepted alone, below
    order = _insert(market, user_id, spec, client_order_id)
    order_hold_announce(user_id=user_id, asset_id=spec.hold_asset_id)
    rid = request_id_new()
    _enqueue_after_commit(symbol, [(place_command(order, market, spec.hold_amount), rid)])
    return Submitted(order, rid)


def _find_open(
    user_id: int, market: Market, order_id: int | None, client_order_id: str | None
) -> Order:
    if order_id is None and client_order_id is None:
        raise _missing("orderId")
    qs = Order.objects.filter(user_id=user_id, market=market, status__in=OPEN_STATUSES)
    if order_id is not None:
        qs = qs.filter(pk=order_id)
    if client_order_id is not None:
        qs = qs.filter(client_order_id=client_order_id)
    order = qs.first()
    if order is None:
        raise rejected(UNKNOWN_ORDER)
    order.market = market  # the caller's market, assets loaded: no query to reach them later
    return order


def _request_cancel(orders: list[Order]) -> None:
    now = timezone.now()
    Order.objects.filter(pk__in=[o.pk for o in orders], cancel_requested_at__isnull=True).update(
        cancel_requested_at=now
    )
    for order in orders:
        order.cancel_requested_at = order.cancel_requested_at or now


@transaction.atomic(durable=True)
def order_cancel(
    *, user_id: int, symbol: str, order_id: int | None = None, client_order_id: str | None = None
) -> Submitted:
    """Record a cancel request and enqueue it after commit. Allowed in every market state.

    -2011 when the order is unknown, someone else's or already finished.
    """
    market = market_get(symbol=symbol)
    order = _find_open(user_id, market, order_id, client_order_id)
    _request_cancel([order])
    rid = request_id_new()
    _enqueue_after_commit(symbol, [(CancelOrder(order.id, user_id), rid)])
    return Submitted(order, rid)


@transaction.atomic(durable=True)
def order_cancel_all(*, user_id: int, symbol: str) -> list[Submitted]:
    """Cancel every open order of the user in the market: one engine command. -2011 if none."""
    market = market_get(symbol=symbol)
    orders = list(
        Order.objects.filter(user_id=user_id, market=market, status__in=OPEN_STATUSES).order_by(
            "id"
        )
    )
    if not orders:
        raise rejected(UNKNOWN_ORDER)
    for order in orders:
        order.market = market  # as in _find_open
    _request_cancel(orders)
    rid = request_id_new()
    cmd = CancelAll(user_id, DoneReason.CANCELED)
    key = engine_request_record(market_id=market.id, cmd=cmd, rid=rid)
    _enqueue_after_commit(symbol, [(cmd, rid)], [key])
    return [Submitted(order, rid) for order in orders]


@transaction.atomic(durable=True)
def order_amend_keep_priority(
    *,
    user_id: int,
    symbol: str,
    order_id: int | None = None,
    client_order_id: str | None = None,
    new_qty: Decimal,
) -> Submitted:
    """Reduce an open order's quantity keeping its queue priority (Binance amend/keepPriority).

    `new_qty` is the new original quantity: below the current one, above what is filled (the
    engine checks the latter against its own state). The hold is not reduced until the order
    is done (then settlement releases the rest).
    """
    market = _open_market(symbol)
    order = _find_open(user_id, market, order_id, client_order_id)
    if order.type not in LIMIT_TYPES:
        raise rejected(UNSUPPORTED)
    lots = _check_qty(market, new_qty)
    assert order.quantity is not None
    if new_qty >= order.quantity:
        raise DomainError("newQty must be less than the order's quantity.", code=-2038)
    rid = request_id_new()
    amend = AmendOrder(order.id, user_id, lots, 0)
    key = engine_request_record(market_id=market.id, cmd=amend, rid=rid)
    _enqueue_after_commit(symbol, [(amend, rid)], [key])
    return Submitted(order, rid)


@_refusals_mapped
@transaction.atomic(durable=True)
def order_cancel_replace(
    *,
    user_id: int,
    symbol: str,
    cancel_order_id: int | None,
    cancel_client_order_id: str | None,
    mode: str = "STOP_ON_FAILURE",
    **place: Any,
) -> tuple[Submitted, Submitted]:
    """Cancel an order and place a new one, atomically in the engine (STOP_ON_FAILURE) or as a
    cancel followed by a place (ALLOW_FAILURE).

    The new order's hold is locked now, beside the old one's: the old hold is released only once
    the engine confirms the cancel and settlement runs, so both must be affordable at once.
    """
    if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
        raise DomainError("Invalid cancelReplaceMode.", code=-1100)
    market = _open_market(symbol)
    old = _find_open(user_id, market, cancel_order_id, cancel_client_order_id)
    spec = _validate(
        market,
        side=place["side"],
        type=place["type"],
        time_in_force=place.get("time_in_force"),
        quantity=place.get("quantity"),
        quote_order_qty=place.get("quote_order_qty"),
        price=place.get("price"),
        stop_price=place.get("stop_price"),
        stp_mode=place.get("stp_mode", "NONE"),
    )
    _request_cancel([old])
    new = _insert(market, user_id, spec, place.get("client_order_id"))
    rid = request_id_new()
    cmd = place_command(new, market, spec.hold_amount)
    items: list[tuple[Command, str | None]]
    if mode == "STOP_ON_FAILURE":
        items = [(CancelReplace(old.id, user_id, cmd), rid)]
    else:
        items = [(CancelOrder(old.id, user_id), None), (cmd, rid)]
    _enqueue_after_commit(symbol, items)
    return Submitted(old, rid), Submitted(new, rid)


__all__ = [
    "Submitted",
    "market_check",
    "market_create",
    "market_set_status",
    "order_amend_keep_priority",
    "order_cancel",
    "order_cancel_all",
    "order_cancel_replace",
    "order_place",
]
