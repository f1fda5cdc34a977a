"""Abnormal-behaviour flags: cancel-to-fill ratio, order bursts, self-trade attempts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.test import Client, override_settings

from accounts.models import User
from admin_rbac.models import UserFlag
from admin_rbac.tasks import flags_scan
from orders.models import Market, Order
from orders.services import order_cancel, order_place

D = Decimal


def place(user: User, side: str, price: str, stp: str = "NONE") -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D("0.1"), stp_mode=stp,
    ).order  # fmt: skip


@override_settings(FLAG_CANCEL_MIN=5, FLAG_CANCEL_TO_FILL_RATIO=3, FLAG_BURST_PER_S=1000,
                   FLAG_SELF_TRADE_MIN=2)  # fmt: skip
def test_flags_are_raised_per_user_and_kind_and_listed(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    spoofer, washer, honest = (funded(usdt="100000", btc="10") for _ in range(3))
    for i in range(6):
        order = place(spoofer, "BUY", str(90 + i))
        drain()
        order_cancel(user_id=spoofer.id, symbol="BTCUSDT", order_id=order.id)
    place(washer, "SELL", "120")
    for _ in range(2):
        place(washer, "BUY", "120", stp="EXPIRE_TAKER")  # meets its own ask: expired
    place(honest, "BUY", "50")
    drain()
    assert flags_scan() == 2
    flags = {(f.user_id, f.kind): f for f in UserFlag.objects.all()}
    assert set(flags) == {(spoofer.id, "cancel_to_fill"), (washer.id, "self_trade")}
    assert flags[(spoofer.id, "cancel_to_fill")].detail == "6 cancelled / 0 fills"
    assert flags[(washer.id, "self_trade")].value == D("2")
    flags_scan()
    assert UserFlag.objects.get(user=spoofer).occurrences == 2

    root = User.objects.create_superuser("root", password="x-root-pass-1")
    browser = Client()
    browser.force_login(root)
    listed = browser.get("/admin/admin_rbac/userflag/", {"kind": "self_trade"}).content.decode()
    assert washer.username in listed and spoofer.username not in listed
    page = browser.get(f"/admin/accounts/user/{spoofer.pk}/change/").content.decode()
    assert "cancel_to_fill" in page


@override_settings(FLAG_BURST_PER_S=5)
def test_an_order_burst_is_flagged(market: Market, funded: Callable[..., User]) -> None:
    bursty, calm = funded(usdt="100000"), funded(usdt="100000")
    for i in range(8):
        place(bursty, "BUY", str(50 + i))
    place(calm, "BUY", "50")
    # All in one second, whatever this machine's speed.
    Order.objects.filter(user=bursty).update(created_at=Order.objects.get(user=calm).created_at)
    flags_scan()
    flag = UserFlag.objects.get()
    assert (flag.user_id, flag.kind, flag.value) == (bursty.id, "order_burst", D("8"))
