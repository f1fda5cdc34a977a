"""The back office's pages render with real data, show amounts at their asset's precision and
label ledger accounts, and their query count does not grow with the rows listed (no N+1)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.services import api_key_issue
from admin_rbac.behaviour import flags_refresh
from admin_rbac.services import Actor, audit_record
from clearing.adjustments import adjustment_propose
from clearing.models import Adjustment, LedgerTransaction
from clearing.tasks import reconcile
from orders.markets import market_fees_change
from orders.models import Market, Order
from orders.services import order_place

D = Decimal
LISTS = [
    "/admin/accounts/user/",
    "/admin/accounts/apikey/",
    "/admin/orders/market/",
    "/admin/orders/order/",
    "/admin/orders/trade/",
    "/admin/clearing/ledgeraccount/",
    "/admin/clearing/ledgertransaction/",
    "/admin/clearing/hold/",
    "/admin/clearing/adjustment/",
    "/admin/clearing/reconcilerun/",
    "/admin/admin_rbac/auditentry/",
    "/admin/admin_rbac/userflag/",
    "/admin/wallet/asset/",
    "/admin/dashboard/",
    "/admin/killswitch/",
    "/admin/",
    "/admin/accounts/user/add/",
    "/admin/orders/market/add/",
    "/admin/wallet/asset/add/",
    "/admin/auth/group/",
]


@pytest.fixture
def root(market: Market) -> Client:
    user = User.objects.create_superuser("root", password="x-root-pass-1")
    client = Client()
    client.force_login(user)
    return client


def activity(funded: Callable[..., User], drain: Callable[[], None], n: int) -> None:
    """n pairs of traders: a trade each, a resting order each, a key, a proposal, an audit
    entry, three self-trade attempts (flagged) each."""
    op = User.objects.get(username="root")
    for _ in range(n):
        pair = User.objects.filter(username__startswith="trader").count()
        buyer, seller = funded(usdt="100000", btc="10"), funded(usdt="100000", btc="10")
        api_key_issue(user=buyer, permissions=["read"])
        ask = str(200 - pair)  # below every earlier ask: the seller's own is the best one
        for user, side, price, stp in ((seller, "SELL", "100", "NONE"),
                                       (buyer, "BUY", "100", "NONE"),
                                       (buyer, "BUY", "90", "NONE"),
                                       (seller, "SELL", ask, "NONE"),
                                       *((seller, "BUY", ask, "EXPIRE_TAKER"),) * 3):  # fmt: skip
            order_place(user_id=user.pk, symbol="BTCUSDT", side=side, type="LIMIT",
                        time_in_force="GTC", price=D(price), quantity=D("0.1"),
                        stp_mode=stp)  # fmt: skip
        adjustment_propose(user_id=buyer.pk, asset_id=Market.objects.get().quote_id,
                           amount=D("1"), reason="x", actor=Actor.of_user(op))  # fmt: skip
        with transaction.atomic():
            audit_record(actor=Actor.of_user(op), action="user.note", target=buyer, reason="n")
    drain()  # the engine applies the stream in order: each pair's ask rests before its buys
    assert flags_refresh() >= 1
    reconcile()


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


def test_list_pages_make_the_same_number_of_queries_for_more_rows(
    root: Client, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    activity(funded, drain, 2)
    for url in LISTS:
        _queries(root, url)  # warm the per-process caches (content types, ...)
    few = {url: _queries(root, url) for url in LISTS}
    activity(funded, drain, 5)
    many = {url: _queries(root, url) for url in LISTS}
    assert many == few


def test_detail_pages_render_with_a_bounded_number_of_queries(
    root: Client, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    activity(funded, drain, 2)
    buyer = User.objects.filter(username__startswith="trader").order_by("id").first()
    assert buyer is not None
    txn = LedgerTransaction.objects.filter(kind="trade").order_by("id").first()
    assert txn is not None
    order = Order.objects.order_by("id").first()
    assert order is not None
    market = Market.objects.get()
    market_fees_change(market_id=market.pk, maker_fee=D("0.002"), taker_fee=D("0.002"),
                       actor=Actor.system("test"), reason="x")  # fmt: skip
    pages = [
        f"/admin/accounts/user/{buyer.pk}/change/",
        f"/admin/clearing/ledgertransaction/{txn.pk}/change/",
        f"/admin/orders/order/{order.pk}/change/",
        f"/admin/orders/market/{market.pk}/change/",
        f"/admin/orders/market/{market.pk}/fees/",
        f"/admin/orders/market/{market.pk}/engine/",
        "/admin/clearing/adjustment/add/",
        f"/admin/clearing/adjustment/{Adjustment.objects.first().pk}/change/",  # type: ignore[union-attr]
    ]
    for url in pages:
        _queries(root, url)  # warm the per-process caches (content types, ...)
    before = {url: _queries(root, url) for url in pages}
    activity(funded, drain, 4)
    assert {url: _queries(root, url) for url in pages} == before


def test_amounts_at_asset_precision_and_labelled_accounts(
    root: Client, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    activity(funded, drain, 1)
    orders = root.get("/admin/orders/order/").content.decode()
    assert "100.00000000" in orders and "0.10000000" in orders  # USDT and BTC: 8 places here
    assert not re.search(r"\d\.\d{18}", orders)  # never the column's 18 places
    trades = root.get("/admin/orders/trade/").content.decode()
    assert "10.00000000" in trades and not re.search(r"\d\.\d{18}", trades)
    txn = LedgerTransaction.objects.filter(kind="trade").first()
    assert txn is not None
    page = root.get(f"/admin/clearing/ledgertransaction/{txn.pk}/change/").content.decode()
    buyer = User.objects.filter(username__startswith="trader").order_by("id").first()
    assert buyer is not None
    assert f"{buyer.username} · USDT · LOCKED" in page and "system · BTC · FEES" in page
    assert not re.search(r"\d/\d/AVAILABLE", page)


def test_the_user_page_gathers_balances_orders_trades_keys_flags_and_audit(
    root: Client, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    activity(funded, drain, 1)
    buyer = User.objects.filter(username__startswith="trader").order_by("id").first()
    assert buyer is not None
    page = root.get(f"/admin/accounts/user/{buyer.pk}/change/").content.decode()
    for expected in (
        "balances",
        "USDT",
        "99981.00000000",  # 100000 - 10 (the trade) - 9 (the open buy)
        "open orders",
        "90.00000000",
        "recent trades",
        "key",
        "behaviour flags",
        "audit trail",
        "user.note",
        f"?user__id__exact={buyer.pk}&amp;status__in=PENDING_NEW,NEW,PARTIALLY_FILLED",
        f"?subject_user__id__exact={buyer.pk}",
    ):
        assert expected.lower() in page.lower(), expected
    # Filtered lists behind the links.
    orders = root.get("/admin/orders/order/", {"user": buyer.username}).content.decode()
    assert f"{buyer.username}</td>" in orders
    other = User.objects.filter(username__startswith="trader").exclude(pk=buyer.pk).first()
    assert other is not None and f"{other.username}</td>" not in orders


def test_the_dashboard_shows_state_price_volume_orders_lag_and_reconcile(
    root: Client, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    activity(funded, drain, 2)
    page = root.get("/admin/dashboard/").content.decode()
    row = re.search(r"<tr>\s*<td><a href=\"/admin/orders/market/\d+/change/\">BTCUSDT</a></td>"
                    r"(.*?)</tr>", page, re.S)  # fmt: skip
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    state, own, _breaker, shard, last, volume, quote_volume, open_orders, lag, seen = cells
    assert ("TRADING" in state, own, shard, last) == (True, "TRADING", "0", "100.00000000")
    assert volume == "0.20000000 BTC" and quote_volume == "20.00000000 USDT"
    assert re.sub(r"<.*?>", "", open_orders) == str(Order.objects.filter(status="NEW").count())
    assert lag == "0 (settled)" and seen != "never"
    assert "all invariants hold" in page
