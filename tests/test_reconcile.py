"""Reconcile that can be trusted (issue 13, item 7): one snapshot, and holds and trades checked
against the orders. Real PostgreSQL, real settlement in a second thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import User
from clearing import invariants
from clearing.invariants import ledger_check_invariants
from clearing.models import Hold
from clearing.settlement import market_settle
from matching.tests.helpers import matcher_drain
from matching.worker import Matcher
from orders.models import Market, Order, Trade
from orders.services import order_place

D = Decimal


def place(user: User, side: str, price: str, qty: str, tif: str = "GTC") -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force=tif,
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


@pytest.fixture
def traded(market: Market, funded: Callable[..., User]) -> Iterator[tuple[User, User]]:
    """Two traders, a resting book and many unsettled trades."""
    alice = funded(usdt="1000000", btc="100")
    bob = funded(usdt="1000000", btc="100")
    m = Matcher(symbols=["BTCUSDT"], block_ms=5)
    m.setup()
    for i in range(60):
        place(alice, "SELL", str(100 + i % 3), "0.1")
        place(bob, "BUY", "103", "0.1")
    place(alice, "SELL", "200", "1")  # resting
    place(bob, "BUY", "50", "1")  # resting
    matcher_drain(m)
    m._release_lease()
    assert Trade.objects.filter(settled_at__isnull=True).count() >= 60
    yield alice, bob


def test_reconcile_reads_one_snapshot_while_settlement_commits(
    market: Market, traded: tuple[User, User]
) -> None:
    """Separate autocommit queries saw balances from before a settlement batch and holds from
    after it, and reported mismatches that were not there."""
    done = threading.Event()
    errors: list[BaseException] = []

    def settle() -> None:
        try:
            market_settle(market_id=market.id, limit=1)  # ~60 small commits
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    t = threading.Thread(target=settle)
    t.start()
    seen: list[str] = []
    runs = 0
    while not done.is_set() or runs == 0:
        seen += ledger_check_invariants()
        runs += 1
    t.join()
    assert not errors, errors
    assert runs > 3, runs
    assert seen == [], seen[:5]
    assert not Trade.objects.filter(settled_at__isnull=True).exists()


def _problems_with(sql: str, params: list[int]) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
    return ledger_check_invariants()


def test_a_hold_short_of_its_orders_remainder_is_reported(
    market: Market, traded: tuple[User, User]
) -> None:
    market_settle(market_id=market.id)
    assert ledger_check_invariants() == []
    resting = Order.objects.get(price=D("50"), side="BUY")
    hold = Hold.objects.get(order=resting)
    # Take 1 USDT out of the hold and of the LOCKED balance alike: the ledger still agrees
    # with itself, but the order's remainder (1 BTC at 50) is no longer covered.
    with connection.cursor() as cur:
        cur.execute("UPDATE clearing_hold SET amount = amount - 1 WHERE id = %s", [hold.id])
        cur.execute(
            "UPDATE clearing_ledgeraccount SET balance = balance - 1 WHERE user_id = %s"
            " AND asset_id = %s AND kind = 'LOCKED'",
            [hold.user_id, hold.asset_id],
        )
        cur.execute(
            "UPDATE clearing_posting SET amount = amount - 1 WHERE id = (SELECT p.id FROM"
            " clearing_posting p JOIN clearing_ledgeraccount a ON a.id = p.account_id"
            " WHERE a.user_id = %s AND a.asset_id = %s AND a.kind = 'LOCKED' AND p.amount > 1"
            " ORDER BY p.id LIMIT 1)",
            [hold.user_id, hold.asset_id],
        )
        cur.execute(
            "UPDATE clearing_posting SET amount = amount + 1 WHERE id = (SELECT p.id FROM"
            " clearing_posting p JOIN clearing_ledgeraccount a ON a.id = p.account_id"
            " WHERE a.kind = 'EXTERNAL' AND a.asset_id = %s ORDER BY p.id LIMIT 1)",
            [hold.asset_id],
        )
        cur.execute(
            "UPDATE clearing_ledgeraccount SET balance = balance + 1 WHERE user_id IS NULL"
            " AND asset_id = %s AND kind = 'EXTERNAL'",
            [hold.asset_id],
        )
    problems = ledger_check_invariants()
    assert any("does not cover its remainder" in p for p in problems), problems


def test_trades_that_disagree_with_their_orders_are_reported(
    market: Market, traded: tuple[User, User]
) -> None:
    market_settle(market_id=market.id)
    order = Order.objects.filter(executed_qty__gt=0).first()
    assert order is not None
    problems = _problems_with(
        "UPDATE orders_order SET executed_qty = executed_qty + 0.001 WHERE id = %s", [order.id]
    )
    assert any(f"order {order.id}: executed" in p for p in problems), problems


def test_fees_that_the_fee_accounts_did_not_receive_are_reported(
    market: Market, traded: tuple[User, User]
) -> None:
    market_settle(market_id=market.id)
    trade = Trade.objects.filter(buyer_fee__gt=0).first()
    assert trade is not None
    problems = _problems_with(
        "UPDATE orders_trade SET buyer_fee = buyer_fee * 2 WHERE id = %s", [trade.id]
    )
    assert any("in fees, FEES received" in p for p in problems), problems


def test_a_settled_trade_without_its_ledger_transaction_is_reported(
    market: Market, traded: tuple[User, User]
) -> None:
    trade = Trade.objects.filter(settled_at__isnull=True).order_by("seq").last()
    assert trade is not None
    problems = _problems_with(
        "UPDATE orders_trade SET settled_at = now() WHERE id = %s", [trade.id]
    )
    assert f"trade {market.id}:{trade.seq} settled without its ledger transaction" in problems


def test_holds_of_other_owners_are_checked_by_their_registered_prefix(
    market: Market, funded: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import transaction

    from clearing.services import funds_lock_legs, ledger_post

    carol = funded(usdt="100")
    with transaction.atomic():
        ledger_post(
            key="escrow:7:hold", kind="escrow_hold",
            legs=funds_lock_legs(user_id=carol.id, asset_id=market.quote_id, amount=D("10")),
        )  # fmt: skip
        Hold.objects.create(
            key="escrow:7", user=carol, asset_id=market.quote_id, amount=D("10"),
            original_amount=D("10"),
        )  # fmt: skip
    assert ledger_check_invariants() == []  # no owner registered for the prefix: ledger only
    monkeypatch.setitem(invariants.HOLD_OWNERS, "escrow", lambda ids: {"7"})
    assert ledger_check_invariants() == []
    monkeypatch.setitem(invariants.HOLD_OWNERS, "escrow", lambda ids: set())
    assert ledger_check_invariants() == ["hold escrow:7 holds funds for nothing pending"]
