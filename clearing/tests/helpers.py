"""Test helpers for money flows (imported by tests of every app)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from clearing.invariants import ledger_check_invariants
from clearing.models import Hold, LedgerAccount
from orders.models import OPEN_STATUSES, Order, Trade


def assert_ledger_invariants() -> None:
    """Every money test ends with this: each docs/architecture.md invariant holds."""
    problems = ledger_check_invariants()
    assert not problems, "broken money invariants:\n" + "\n".join(problems)


def assert_balances_match_trades(credits: dict[tuple[int, int], Decimal]) -> None:
    """Each user's total (available + locked) per asset equals what they were credited plus
    what their trades moved, net of fees: a recomputation independent of the ledger."""
    expected: dict[tuple[int, int], Decimal] = defaultdict(Decimal, credits)
    for t in Trade.objects.select_related("market").iterator():
        base, quote = t.market.base_id, t.market.quote_id
        expected[(t.buyer_id, base)] += t.qty - t.buyer_fee
        expected[(t.buyer_id, quote)] -= t.quote_qty
        expected[(t.seller_id, base)] -= t.qty
        expected[(t.seller_id, quote)] += t.quote_qty - t.seller_fee
    actual: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for account in LedgerAccount.objects.filter(user__isnull=False):
        assert account.user_id is not None  # filtered above
        actual[(account.user_id, account.asset_id)] += account.balance
    keys = set(expected) | set(actual)
    wrong = {k: (actual[k], expected[k]) for k in keys if actual[k] != expected[k]}
    assert not wrong, f"balances differ from trades (actual, expected): {wrong}"


def assert_orders_accounted(*, settled: bool = True) -> None:
    """Every accepted order reached one final state or is open, its fills add up to its trades,
    and (once settled) every finished order's hold is released."""
    assert not Order.objects.filter(status=Order.Status.PENDING_NEW).exists(), (
        "orders left PENDING_NEW"
    )
    filled: dict[int, Decimal] = defaultdict(Decimal)
    quote: dict[int, Decimal] = defaultdict(Decimal)
    for maker, taker, qty, q in Trade.objects.values_list(
        "maker_order_id", "taker_order_id", "qty", "quote_qty"
    ):
        for oid in (maker, taker):
            filled[oid] += qty
            quote[oid] += q
    for order in Order.objects.all().iterator():
        assert order.executed_qty == filled[order.id], (order, order.executed_qty, filled[order.id])
        assert order.cumulative_quote_qty == quote[order.id], order
        if order.status in OPEN_STATUSES:
            assert order.done_at is None, order
        else:
            assert order.done_at is not None, order
        if (
            order.status == Order.Status.FILLED
            and order.quantity is not None
            and order.type != "MARKET"
        ):
            assert order.executed_qty == order.quantity, order
    if settled:
        assert not Trade.objects.filter(settled_at__isnull=True).exists(), "unsettled trades"
        unreleased = Hold.objects.filter(released_at__isnull=True, order__isnull=False).exclude(
            order__status__in=OPEN_STATUSES
        )
        assert not unreleased.exists(), (
            f"holds of finished orders not released: {list(unreleased)[:5]}"
        )
