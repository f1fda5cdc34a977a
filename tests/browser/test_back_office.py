"""The operators' back office in a real browser (Debian's chromium driven by playwright) against
the real processes: a `risk` operator logs in at /admin/, sets a market to CANCEL_ONLY on the
kill switch page (reason, review, confirm), sees the new state there and on the dashboard, and
finds the action in the audit log; the REST API then refuses a new order on that market with the
contract's error while a cancel still works. A `viewer` operator sees the kill switch page
without its form, and a POST of it is refused. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from accounts.models import User
from accounts.services import api_key_issue
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor, roles_assign
from clearing.services import balance_credit_external
from orders.models import Market, Order
from tests.browser.support import WAIT_MS, Stack, admin_login, expect, orm, shot
from tests.live import Trader
from tests.userstream import signed_query

BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
       "price": "100", "quantity": "0.1"}  # fmt: skip
REASON = "incident 42: price feed outage"


def operator(username: str, role: str) -> None:
    user = User.objects.create_user(username=username, password=f"{username}-Pass-2468")
    roles_assign(user=user, roles=[role], actor=Actor.system("test"))


def trader(market: Market) -> Trader:
    user = User.objects.create_user(username="carl", password="carl-Pass-2468")
    balance_credit_external(
        user_id=user.pk, asset_id=market.quote_id, amount=Decimal(1000), ref="bo-carl"
    )
    key, secret = api_key_issue(user=user, permissions=["read", "trade"])
    return Trader(user, key.key, secret)


def rest(http: httpx.Client, method: str, carl: Trader, **params: Any) -> httpx.Response:
    return http.request(
        method,
        f"/api/v3/order?{signed_query(carl, params)}",
        headers={"X-MBX-APIKEY": carl.api_key},
    )


def test_risk_operator_uses_the_kill_switch_and_a_viewer_cannot(
    ui_stack: Stack, browser: Any
) -> None:
    base, market = ui_stack.base_url, ui_stack.market
    orm(operator, "rita", "risk")
    orm(operator, "vic", "viewer")
    carl = orm(trader, market)
    http = httpx.Client(base_url=base, timeout=15)
    placed = rest(http, "POST", carl, **BUY)
    assert placed.status_code == 200, placed.text  # trading before the cut
    order_id = placed.json()["orderId"]

    rita = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    errors: list[str] = []
    rita.on("pageerror", lambda exc: errors.append(str(exc)))
    admin_login(rita, base, "rita", "rita-Pass-2468")

    # The kill switch: scope, state and reason; a review step says what will happen.
    rita.get_by_role("link", name="Kill switch").click()
    expect(rita.get_by_role("heading", name="Kill switch")).to_be_visible()
    rita.get_by_label("Scope").select_option("BTCUSDT")
    rita.get_by_label("New state").select_option("CANCEL_ONLY")
    rita.get_by_label("Reason").fill(REASON)
    rita.get_by_role("button", name="Review").click()
    confirm = rita.locator("#confirm-box")
    expect(confirm).to_contain_text("Set BTCUSDT from TRADING to CANCEL_ONLY")
    expect(confirm).to_contain_text(REASON)
    assert orm(lambda: Market.objects.get(pk=market.pk).status) == "TRADING"  # not yet
    shot(rita, "admin-kill-switch-confirm")
    rita.get_by_role("button", name="Confirm").click()
    expect(rita.locator(".messagelist")).to_contain_text(
        "BTCUSDT: own state CANCEL_ONLY, effective CANCEL_ONLY."
    )
    row = rita.locator("#markets tbody tr", has_text="BTCUSDT")
    expect(row.locator("td").nth(1)).to_have_text("CANCEL_ONLY")  # effective
    expect(row.locator("td").nth(2)).to_have_text("CANCEL_ONLY")  # own
    shot(rita, "admin-kill-switch")

    # The REST API refuses a new order with the contract's error; nothing is stored.
    refused = rest(http, "POST", carl, **BUY)
    assert (refused.status_code, refused.json()) == (
        400,
        {"code": -2010, "msg": "Market is closed."},
    )
    assert orm(lambda: Order.objects.filter(market=market).count()) == 1

    # The dashboard shows the market in its new state, with the order still open.
    rita.goto(base + "/admin/")
    rita.get_by_role("link", name="Dashboard").click()
    row = rita.locator("#markets tbody tr", has_text="BTCUSDT")
    expect(row.locator("td").nth(1)).to_have_text("CANCEL_ONLY")
    expect(row.locator("td").nth(2)).to_have_text("CANCEL_ONLY")
    expect(row.locator("td").nth(8)).to_have_text("1")  # open orders
    shot(rita, "admin-dashboard")

    # CANCEL_ONLY: the order can still be cancelled, by the engine, through the API.
    cancelled = rest(http, "DELETE", carl, symbol="BTCUSDT", orderId=order_id)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELED"
    rita.reload()
    expect(row.locator("td").nth(8)).to_have_text("0", timeout=WAIT_MS)

    # The audit log has the action with the operator and the reason.
    rita.goto(base + "/admin/")
    rita.get_by_role("link", name="Audit log").click()
    entry = rita.locator("#result_list tbody tr", has_text="market.set_status")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("rita")
    expect(entry).to_contain_text(REASON)
    expect(entry).to_contain_text("BTCUSDT")
    shot(rita, "admin-audit-log")
    entry.locator("th a").click()
    expect(rita.locator("#content")).to_contain_text("CANCEL_ONLY")  # before -> after
    saved = orm(lambda: AuditEntry.objects.get(action="market.set_status"))
    assert (saved.actor_name, saved.reason, saved.ip) == ("rita", REASON, "127.0.0.1")
    assert saved.after is not None and saved.after["operator_status"] == "CANCEL_ONLY"

    # A viewer sees the states but gets no form; posting one anyway is refused.
    vic_ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    vic = vic_ctx.new_page()
    vic.on("pageerror", lambda exc: errors.append(str(exc)))
    admin_login(vic, base, "vic", "vic-Pass-2468")
    vic.get_by_role("link", name="Kill switch").click()
    row = vic.locator("#markets tbody tr", has_text="BTCUSDT")
    expect(row.locator("td").nth(1)).to_have_text("CANCEL_ONLY")
    expect(vic.locator("#content")).to_contain_text("changing them needs the risk role")
    expect(vic.locator("#kill-switch-form")).to_have_count(0)
    expect(vic.get_by_label("New state")).to_have_count(0)
    shot(vic, "admin-kill-switch-viewer")
    csrf = next(c["value"] for c in vic_ctx.cookies() if c["name"] == "csrftoken")
    fields = {"target": "BTCUSDT", "status": "HALT", "reason": "x", "confirm": "yes"}
    forged = vic.request.post(
        base + "/admin/killswitch/", form={**fields, "csrfmiddlewaretoken": csrf}
    )
    assert forged.status == 403
    assert "You are not allowed to see this page" in forged.text()  # the role, not the CSRF check
    assert orm(lambda: Market.objects.get(pk=market.pk).status) == "CANCEL_ONLY"
    assert orm(lambda: AuditEntry.objects.filter(action="market.set_status").count()) == 1
    assert errors == []
    http.close()
