"""The demo market maker (`manage.py run_market_maker`): a two-sided ladder around its price and
some trading, all through the order services, matched by the matcher and settled; its orders
cancelled when it stops; the money invariants hold."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clearing.models import Hold
from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from matching.worker import Matcher
from orders.models import Market, Order, Trade
from orders.tests.conftest import matcher_running


def test_quotes_both_sides_trades_and_cleans_up(
    market: Market, matcher: Matcher, drain: Callable[[], None]
) -> None:
    out = StringIO()
    with matcher_running(matcher):
        call_command(
            "run_market_maker", "--market", "BTCUSDT", "--steps", "8", "--interval", "0.2",
            "--levels", "5", "--trade-chance", "1", "--seed", "7", stdout=out,
        )  # fmt: skip
    drain()
    maker = Order.objects.filter(user__username="demo-maker")
    buys = list(maker.filter(side="BUY").values_list("price", flat=True))
    sells = list(maker.filter(side="SELL").values_list("price", flat=True))
    assert len(buys) >= 5 and len(sells) >= 5
    maker_trades = Trade.objects.filter(buyer__username="demo-maker")
    assert not maker_trades.filter(seller__username="demo-maker").exists()  # never with itself
    taker = Order.objects.filter(user__username="demo-taker", type="MARKET", status="FILLED")
    assert taker.count() >= 4  # one per step once the matcher has published the book
    assert Trade.objects.filter(market=market).count() >= taker.count()
    # Stopped: nothing of the maker's is left open, every hold released once settled.
    assert not maker.filter(status__in=("NEW", "PARTIALLY_FILLED", "PENDING_NEW")).exists()
    assert not Hold.objects.filter(order__in=maker, released_at__isnull=True).exists()
    assert "BTCUSDT: " in out.getvalue()
    assert_orders_accounted()
    assert_ledger_invariants()


def test_refuses_an_unknown_market(market: Market) -> None:
    with pytest.raises(CommandError, match="unknown market NOPE"):
        call_command("run_market_maker", "--market", "NOPE", "--steps", "1")


def test_demo_switch_off_idles(market: Market, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    monkeypatch.setenv("DEMO_MARKET_MAKER", "0")
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # SIGALRM -> stop, as SIGTERM would
    monkeypatch.setattr(signal, "SIGTERM", signal.SIGALRM)
    out = StringIO()
    call_command("run_market_maker", "--demo", stdout=out)
    assert "stays idle" in out.getvalue()
    assert not Order.objects.exists()
