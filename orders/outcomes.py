"""The order services as the API uses them: accept a command (orders.services), wait for the
matcher's verdict on it, re-read what the matcher wrote, and return a typed outcome. A new
order is not re-read: the verdict on it carries its committed state and trades
(orders.verdicts.PlacedVerdict).

Every command takes that one shape (`_decide`): the service runs on the API thread pool
(`db_call`, one transaction, enqueued after commit); the wait is a BLPOP on the command's
verdict key (orders/verdicts.py), bounded by settings.API_VERDICT_TIMEOUT, that holds no thread;
the re-read runs on the thread pool again. Without a verdict in time the outcome is the accepted
state where the contract allows it (a new order), else -1007 (the client must query).

Async, for the API's event loop. Nothing here renders: orders/apis/ turns the outcomes into
Binance's shapes. The markets in the outcomes have their assets loaded, so rendering needs no
query.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Generic, TypedDict, TypeVar

import structlog
from django.conf import settings

from exchange_site.binance import errors
from exchange_site.binance.db import db_call
from exchange_site.errors import DomainError, InvalidInput

from . import selectors, services
from .errors import UNKNOWN_ORDER, engine_rejection, rejected
from .models import OPEN_STATUSES, Market, Order, Trade
from .services import Submitted
from .verdicts import PlacedVerdict, placed_verdict_decode, verdict_get, verdict_wait

log = structlog.get_logger(__name__)
S = TypeVar("S", bound=Submitted | Sequence[Submitted])
R = TypeVar("R")
V = TypeVar("V")

# Orders the engine may refuse on arrival (LIMIT_MAKER that would take, a stop that would
# trigger at once): that refusal must be the answer to the request (contract 5.3), so a new
# order of any other type waits for the verdict even when the caller does not need it.
NO_REFUSAL_TYPES = ("LIMIT", "MARKET")
# Errors of a cancel-replace request as a whole (missing/extra parameter, invalid mode, unknown
# symbol), answered as they are rather than as a failed side.
REQUEST_ERROR_CODES = (-1102, -1106, -1100, -1121)


class NewOrder(TypedDict):
    """The parameters of a new order, as orders.services.order_place takes them (but symbol)."""

    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    client_order_id: str
    stp_mode: str


@dataclass(frozen=True, slots=True)
class Current:
    """An order as the matcher left it, and its market."""

    order: Order
    market: Market


@dataclass(frozen=True, slots=True)
class Placed:
    """A new order: as the matcher left it when `decided`, else as accepted (no verdict in time,
    or none waited for); `fills` when asked for and decided."""

    order: Order
    market: Market
    decided: bool
    fills: list[Trade] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Attempt(Generic[V]):
    """One side of a cancel-replace: done (`value`), failed (`error`) or not attempted."""

    value: V | None = None
    error: DomainError | None = None

    @property
    def result(self) -> str:
        if self.value is not None:
            return "SUCCESS"
        return "FAILURE" if self.error is not None else "NOT_ATTEMPTED"


@dataclass(frozen=True, slots=True)
class CancelReplaced:
    """Both sides of a cancel-replace: the cancel (the canceled order) and the new order."""

    cancel: Attempt[Current]
    new_order: Attempt[Placed]


# The one shape ------------------------------------------------------------------------------


async def _decide(
    submit: Callable[[], S],
    settle: Callable[[S], R],
    *,
    wait: bool = True,
    undecided: Callable[[S], R] | None = None,
    refused: Callable[[DomainError], Awaitable[R]] | None = None,
) -> R:
    """Submit a command, wait for the matcher's verdict, re-read: the outcome.

    `submit` calls one order service (thread pool); a DomainError it raises is the answer, or
    `refused(error)` when given. When `wait`, the request then waits for the verdict on the
    command and `settle(submitted)` re-reads what the matcher wrote (thread pool). Without a
    verdict (none in time, or `wait` false) the outcome is `undecided(submitted)`, computed here
    without a query, or -1007 when there is none.
    """
    try:
        submitted = await db_call(submit)
    except InvalidInput:
        raise  # internal text: never put into a client's answer (the API answers -1000)
    except DomainError as exc:
        if refused is None:
            raise
        return await refused(exc)
    _log_submitted(submitted)
    if wait and await _verdict(_request_ids(submitted)):
        return await db_call(settle, submitted)
    if undecided is None:
        raise errors.backend_timeout()
    return undecided(submitted)


def _log_submitted(submitted: Submitted | Sequence[Submitted]) -> None:
    """With the request_id bound (exchange_site.logctx): the link from a request to its orders
    and to the command ids the matcher's batch log names."""
    batch = (submitted,) if isinstance(submitted, Submitted) else submitted
    log.info(
        "order.submitted",
        order_ids=[s.order.pk for s in batch],
        command_ids=sorted(_request_ids(submitted)),
    )


def _request_ids(submitted: Submitted | Sequence[Submitted]) -> set[str]:
    batch = (submitted,) if isinstance(submitted, Submitted) else submitted
    return {s.request_id for s in batch if s.request_id}


async def _verdict(request_ids: set[str]) -> bool:
    """True once the matcher committed the commands (at once when there is none to wait for)."""
    timeout = settings.API_VERDICT_TIMEOUT
    if len(request_ids) == 1:  # one service call, one command batch, one id
        return await verdict_wait(next(iter(request_ids)), timeout=timeout)
    return all(await asyncio.gather(*(verdict_wait(r, timeout=timeout) for r in request_ids)))


def _reread(accepted: Order) -> Current:
    """The order as the matcher left it (the caller's copy is the accepted state)."""
    market = accepted.market  # set by the service: no query
    order = selectors.order_get(
        user_id=accepted.user_id, market=market, order_id=accepted.pk, client_order_id=None
    )
    return Current(order, market)


# Settling: re-read after the verdict (sync: thread pool) --------------------------------------


def _accepted(submitted: Submitted) -> Placed:
    return Placed(submitted.order, submitted.order.market, decided=False)


def _placed(submitted: Submitted, *, fills: bool) -> Placed:
    now = _reread(submitted.order)
    if now.order.status == Order.Status.REJECTED:
        raise engine_rejection(now.order.reject_reason)
    return _placed_now(now, fills=fills)


def _placed_from_verdict(submitted: Submitted, v: PlacedVerdict, *, fills: bool) -> Placed:
    """The accepted order brought to the state the verdict carries (what a re-read would show:
    the row as the matcher's batch committed it, and that batch's trades of the order)."""
    if v.status == Order.Status.REJECTED:
        raise engine_rejection(v.reject_reason or "")
    order = submitted.order
    market = order.market
    tick, step = market.tick_size, market.step_size
    at = datetime.fromtimestamp(v.committed_ms / 1000, tz=UTC)
    order.status = v.status
    order.executed_qty = step * v.executed_lots
    order.cumulative_quote_qty = tick * step * v.quote_units
    order.is_working = v.is_working
    if v.working:
        order.working_at = at
    order.updated_at = at
    trades = [
        Trade(
            pk=f.trade_id,
            market=market,
            price=tick * f.price_ticks,
            qty=step * f.qty_lots,
            buyer_fee=f.buyer_fee,
            seller_fee=f.seller_fee,
        )
        for f in v.fills
        if fills
    ]
    return Placed(order, market, decided=True, fills=trades)


def _placed_now(now: Current, *, fills: bool) -> Placed:
    trades = selectors.fills_for_order(order_id=now.order.pk) if fills else []
    return Placed(now.order, now.market, decided=True, fills=trades)


def _canceled(submitted: Submitted) -> Current:
    now = _reread(submitted.order)
    if now.order.status != Order.Status.CANCELED:
        # Filled or expired before the engine applied the cancel: nothing was canceled.
        raise rejected(UNKNOWN_ORDER)
    return now


def _all_canceled(submitted: list[Submitted]) -> list[Current]:
    now = [_reread(s.order) for s in submitted]
    canceled = [c for c in now if c.order.status == Order.Status.CANCELED]
    if not canceled:
        raise rejected(UNKNOWN_ORDER)  # everything finished before the cancel applied
    return canceled


def _amended(submitted: Submitted, *, new_qty: Decimal) -> Current:
    now = _reread(submitted.order)
    if now.order.quantity != new_qty:
        # The engine refused the amend (the order finished, or newQty <= its filled quantity).
        if now.order.status not in OPEN_STATUSES:
            raise rejected(UNKNOWN_ORDER)
        raise engine_rejection("INVALID_AMEND")
    return now


def _cancel_replaced(submitted: tuple[Submitted, Submitted], *, fills: bool) -> CancelReplaced:
    old, new = _reread(submitted[0].order), _reread(submitted[1].order)
    canceled = old.order.status == Order.Status.CANCELED
    cancel: Attempt[Current] = (
        Attempt(value=old) if canceled else Attempt(error=rejected(UNKNOWN_ORDER))
    )
    new_order: Attempt[Placed]
    if new.order.status != Order.Status.REJECTED:
        new_order = Attempt(value=_placed_now(new, fills=fills))
    elif new.order.reject_reason == "UNKNOWN_ORDER" and not canceled:
        new_order = Attempt()  # STOP_ON_FAILURE: the engine stopped at the failed cancel
    else:
        new_order = Attempt(error=engine_rejection(new.order.reject_reason))
    return CancelReplaced(cancel, new_order)


# The services -------------------------------------------------------------------------------


async def order_place_decided(
    *, user_id: int, symbol: str, order: NewOrder, verdict: bool, fills: bool
) -> Placed:
    """Place an order (orders.services.order_place); with `verdict`, as the matcher left it
    (and its `fills` when asked for). Raises the engine's refusal (-2010 ...) when it refused.

    The answer is built from the verdict's payload; only a bare verdict (the matcher found the
    order already applied) is followed by a re-read."""
    submitted = await db_call(
        lambda: services.order_place(user_id=user_id, symbol=symbol, group=True, **order)
    )
    _log_submitted(submitted)
    if not (verdict or order["type"] not in NO_REFUSAL_TYPES):
        return _accepted(submitted)
    payload = await verdict_get(submitted.request_id, timeout=settings.API_VERDICT_TIMEOUT)
    if payload is None:
        return _accepted(submitted)
    decided = placed_verdict_decode(payload)
    if decided is None:
        return await db_call(functools.partial(_placed, fills=fills), submitted)
    return _placed_from_verdict(submitted, decided, fills=fills)


async def order_cancel_decided(
    *, user_id: int, symbol: str, order_id: int | None, client_order_id: str | None
) -> Current:
    """Cancel an order and answer once the matcher applied it (-2011 when nothing was)."""
    return await _decide(
        lambda: services.order_cancel(
            user_id=user_id, symbol=symbol, order_id=order_id, client_order_id=client_order_id
        ),
        _canceled,
    )


async def order_cancel_all_decided(*, user_id: int, symbol: str) -> list[Current]:
    """Cancel the user's open orders of a market: those the matcher canceled (-2011: none)."""
    return await _decide(
        lambda: services.order_cancel_all(user_id=user_id, symbol=symbol), _all_canceled
    )


async def order_amend_keep_priority_decided(
    *,
    user_id: int,
    symbol: str,
    order_id: int | None,
    client_order_id: str | None,
    new_qty: Decimal,
) -> Current:
    """Reduce an order's quantity keeping its priority; the order once the matcher applied it
    (-2011 when it finished first, -2038 when the engine refused the new quantity)."""
    return await _decide(
        lambda: services.order_amend_keep_priority(
            user_id=user_id,
            symbol=symbol,
            order_id=order_id,
            client_order_id=client_order_id,
            new_qty=new_qty,
        ),
        functools.partial(_amended, new_qty=new_qty),
    )


async def order_cancel_replace_decided(
    *,
    user_id: int,
    symbol: str,
    cancel_order_id: int | None,
    cancel_client_order_id: str | None,
    mode: str,
    order: NewOrder,
    fills: bool,
) -> CancelReplaced:
    """Cancel an order and place a new one (orders.services.order_cancel_replace); the outcome
    of each side once the matcher applied them.

    The service refusing the request is an outcome too: the order to cancel unknown or done is
    a failed cancel (STOP_ON_FAILURE: nothing placed; ALLOW_FAILURE: the new order is placed
    alone); a new order that fails validation was not attempted to cancel for. Errors of the
    request as a whole (REQUEST_ERROR_CODES) are raised as they are.
    """

    async def refused(exc: DomainError) -> CancelReplaced:
        if exc.code == UNKNOWN_ORDER[1]:
            if mode == "STOP_ON_FAILURE":
                return CancelReplaced(Attempt(error=exc), Attempt())
            return await _place_alone(exc, user_id=user_id, symbol=symbol, order=order, fills=fills)
        if exc.code in REQUEST_ERROR_CODES:
            raise exc
        return CancelReplaced(Attempt(), Attempt(error=exc))

    return await _decide(
        lambda: services.order_cancel_replace(
            user_id=user_id,
            symbol=symbol,
            cancel_order_id=cancel_order_id,
            cancel_client_order_id=cancel_client_order_id,
            mode=mode,
            **order,
        ),
        functools.partial(_cancel_replaced, fills=fills),
        refused=refused,
    )


async def _place_alone(
    cancel_error: DomainError, *, user_id: int, symbol: str, order: NewOrder, fills: bool
) -> CancelReplaced:
    """ALLOW_FAILURE with nothing to cancel: the new order alone (Binance semantics)."""
    try:
        placed = await order_place_decided(
            user_id=user_id, symbol=symbol, order=order, verdict=True, fills=fills
        )
    except InvalidInput:
        raise  # internal text (see _decide)
    except DomainError as exc:
        return CancelReplaced(Attempt(error=cancel_error), Attempt(error=exc))
    return CancelReplaced(Attempt(error=cancel_error), Attempt(value=placed))


__all__ = [
    "Attempt",
    "CancelReplaced",
    "Current",
    "NewOrder",
    "Placed",
    "order_amend_keep_priority_decided",
    "order_cancel_all_decided",
    "order_cancel_decided",
    "order_cancel_replace_decided",
    "order_place_decided",
]
