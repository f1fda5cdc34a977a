"""Every role x every privileged action, through the real admin views (login, permission
checks, forms, confirmation steps): allowed where the role grants it, refused (and without
effect) everywhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client, RequestFactory

from accounts.models import ApiKey, User
from accounts.services import api_key_issue
from admin_rbac.services import Actor, roles_assign
from clearing.adjustments import adjustment_propose
from clearing.models import Adjustment
from clearing.services import balance_credit_external
from orders.models import Market, Order
from orders.services import market_create, order_place
from wallet.models import Asset

D = Decimal


@dataclass
class World:
    trader: User
    key: ApiKey
    order: Order
    btc: Market
    eth: Market  # halted, no orders: its engine fields may change
    proposal: Adjustment
    usdt: Asset


@pytest.fixture
def world(db: None) -> World:
    btc = market_create(base="BTC", quote="USDT", tick_size=D("0.01"), step_size=D("0.0001"))
    eth = market_create(base="ETH", quote="USDT", tick_size=D("0.01"), step_size=D("0.001"))
    Market.objects.filter(pk=eth.pk).update(status="HALT", operator_status="HALT")
    trader = User.objects.create_user("trader", password="Trader-pass-1")
    balance_credit_external(user_id=trader.pk, asset_id=btc.quote_id, amount=D("1000"), ref="t")
    order = order_place(user_id=trader.pk, symbol="BTCUSDT", side="BUY", type="LIMIT",
                        time_in_force="GTC", price=D("100"), quantity=D("1")).order  # fmt: skip
    key, _ = api_key_issue(user=trader, permissions=["read", "trade"])
    maker = User.objects.create_user("fin-maker", is_staff=True)
    proposal = adjustment_propose(user_id=trader.pk, asset_id=btc.quote_id, amount=D("5"),
                                  reason="goodwill", actor=Actor.of_user(maker))  # fmt: skip
    return World(trader, key, order, btc, eth, proposal, Asset.objects.get(code="USDT"))


def _action(c: Client, url: str, action: str, pk: int) -> int:
    return c.post(url, {"action": action, "_selected_action": [pk], "confirm": "yes",
                        "reason": "matrix"}).status_code  # fmt: skip


def _kill(c: Client, **fields: str) -> int:
    return c.post(
        "/admin/killswitch/", {**fields, "reason": "matrix", "confirm": "yes"}
    ).status_code


def _market_form(m: Market, **changes: str) -> dict[str, str]:
    fields = ("min_price", "max_price", "min_qty", "max_qty", "min_notional", "max_notional",
              "price_band_pct", "user_order_rate_window_s", "user_order_rate_limit",
              "breaker_move_pct", "breaker_window_s", "breaker_cooldown_s")  # fmt: skip
    data = {f: str(getattr(m, f)) for f in fields}
    data |= {"max_open_orders": "", "audit_reason": "matrix", "fee_changes-TOTAL_FORMS": "0",
             "fee_changes-INITIAL_FORMS": "0"}  # fmt: skip
    return data | changes


def _new_market_form(w: World) -> dict[str, str]:
    return _market_form(w.btc) | {
        "symbol": "BTCEUR", "base": str(w.btc.base_id),
        "quote": str(Asset.objects.create(code="EUR", precision=8).pk),
        "tick_size": "0.01", "step_size": "0.0001", "shard": "0", "maker_fee": "0.001",
        "taker_fee": "0.001", "min_price": "0.01", "min_qty": "0.0001",
    }  # fmt: skip


Check = Callable[[World], bool]
Do = Callable[[Client, World], object]

# fmt: off
ACTIONS: dict[str, tuple[Do, Check]] = {
    "disable_user": (
        lambda c, w: _action(c, "/admin/accounts/user/", "disable_users", w.trader.pk),
        lambda w: not User.objects.get(pk=w.trader.pk).is_active,
    ),
    "disable_api_key": (
        lambda c, w: _action(c, "/admin/accounts/apikey/", "disable_keys", w.key.pk),
        lambda w: not ApiKey.objects.get(pk=w.key.pk).enabled,
    ),
    "cancel_user_orders": (
        lambda c, w: _action(c, "/admin/orders/order/", "cancel_orders", w.order.pk),
        lambda w: Order.objects.get(pk=w.order.pk).cancel_requested_at is not None,
    ),
    "propose_adjustment": (
        lambda c, w: c.post(
            "/admin/clearing/adjustment/add/",
            {"user": w.trader.pk, "asset": w.usdt.pk, "amount": "7", "reason": "matrix"},
        ),
        lambda w: Adjustment.objects.filter(amount=D("7")).exists(),
    ),
    "approve_adjustment": (
        lambda c, w: _action(c, "/admin/clearing/adjustment/", "approve", w.proposal.pk),
        lambda w: Adjustment.objects.get(pk=w.proposal.pk).status == "APPROVED",
    ),
    "set_market_state": (
        lambda c, w: _kill(c, target="BTCUSDT", status="CANCEL_ONLY"),
        lambda w: Market.objects.get(pk=w.btc.pk).status == "CANCEL_ONLY",
    ),
    "set_global_state": (
        lambda c, w: _kill(c, target="__all__", status="HALT"),
        lambda w: Market.objects.get(pk=w.btc.pk).status == "HALT",
    ),
    "cancel_all_market": (
        lambda c, w: _kill(c, target="BTCUSDT", status="TRADING", cancel_all="on"),
        lambda w: Order.objects.get(pk=w.order.pk).cancel_requested_at is not None,
    ),
    "create_market": (
        lambda c, w: c.post("/admin/orders/market/add/", _new_market_form(w)),
        lambda w: Market.objects.filter(symbol="BTCEUR").exists(),
    ),
    "change_risk_limits": (
        lambda c, w: c.post(
            f"/admin/orders/market/{w.btc.pk}/change/", _market_form(w.btc, price_band_pct="7")
        ),
        lambda w: Market.objects.get(pk=w.btc.pk).price_band_pct == D("7"),
    ),
    "change_fees": (
        lambda c, w: c.post(
            f"/admin/orders/market/{w.btc.pk}/fees/",
            {"maker_fee": "0.002", "taker_fee": "0.003", "reason": "matrix"},
        ),
        lambda w: w.btc.fee_changes.exists(),
    ),
    "change_engine_fields": (
        lambda c, w: c.post(
            f"/admin/orders/market/{w.eth.pk}/engine/",
            {
                "symbol": "ETHUSDT",
                "base": w.eth.base_id,
                "quote": w.eth.quote_id,
                "tick_size": "0.01",
                "step_size": "0.01",
                "shard": "0",
                "min_price": "0.01",
                "max_price": "1000000",
                "min_qty": "0.01",
                "max_qty": "9000",
                "reason": "matrix",
            },
        ),
        lambda w: Market.objects.get(pk=w.eth.pk).step_size == D("0.01"),
    ),
    "add_asset": (
        lambda c, w: c.post(
            "/admin/wallet/asset/add/", {"code": "DOT", "name": "", "precision": "8"}
        ),
        lambda w: Asset.objects.filter(code="DOT").exists(),
    ),
    "assign_role": (
        lambda c, w: c.post(
            f"/admin/accounts/user/{w.trader.pk}/change/",
            {
                "username": "trader",
                "is_active": "on",
                "is_staff": "on",
                "groups": [_group("viewer")],
                "last_login_0": "",
                "last_login_1": "",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
                "api_keys-TOTAL_FORMS": "1",
                "api_keys-INITIAL_FORMS": "1",
                "api_keys-0-id": w.key.pk,
                "api_keys-0-user": w.trader.pk,
            },
        ),
        lambda w: User.objects.get(pk=w.trader.pk).groups.filter(name="viewer").exists(),
    ),
}
# fmt: on


def _group(name: str) -> int:
    from django.contrib.auth.models import Group

    return Group.objects.get(name=name).pk


READS = {
    "view_audit_log": "/admin/admin_rbac/auditentry/",
    "view_dashboard": "/admin/dashboard/",
    "view_orders": "/admin/orders/order/",
    "view_ledger": "/admin/clearing/ledgertransaction/",
}

SUPPORT = {"disable_user", "disable_api_key", "cancel_user_orders"}
FINANCE = {"propose_adjustment", "approve_adjustment"}
RISK = {"set_market_state", "set_global_state", "cancel_all_market", "create_market",
        "change_risk_limits", "change_fees", "change_engine_fields", "add_asset"}  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "none": set(),
    "viewer": set(READS),
    "support": set(READS) | SUPPORT,
    "finance": set(READS) | FINANCE,
    "risk": set(READS) | RISK,
    "superadmin": set(READS) | SUPPORT | FINANCE | RISK | {"assign_role"},
}


def _operator(role: str) -> Client:
    user = User.objects.create_user(f"op-{role}", password="Operator-pass-1", is_staff=True)
    if role != "none":
        roles_assign(user=user, roles=[role], actor=Actor.system("test"))
    client = Client()
    # django-axes checks every authentication against a request (login throttling).
    request = RequestFactory().post("/admin/login/")
    assert client.login(request=request, username=f"op-{role}", password="Operator-pass-1")
    return client


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_privileged_action(world: World, role: str, action: str) -> None:
    do, done = ACTIONS[action]
    assert not done(world)
    do(_operator(role), world)
    assert done(world) is (action in ALLOWED[role]), f"{role} {action}"


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("page", list(READS))
def test_read(world: World, role: str, page: str) -> None:
    status = _operator(role).get(READS[page]).status_code
    assert (status == 200) is (page in ALLOWED[role]), f"{role} {page}: {status}"
    assert status in (200, 403)
