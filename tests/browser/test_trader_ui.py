"""The trader UI in a real browser (Debian's chromium driven by playwright) against the real
processes (daphne, matcher, Celery worker and beat on the test database): two traders sign up,
trade with each other and see it happen without reloading; an API key's secret is shown once;
a withdrawal reaches the operator's review queue; two-factor authentication is set up from a QR
code. Screenshots of each page go to test-artifacts/ (git-ignored). Nothing loads from outside
the stack. The money invariants are checked at the end.
"""

from __future__ import annotations

from base64 import b32decode
from decimal import Decimal
from typing import Any

from django_otp.oath import TOTP

from accounts.models import ApiKey, User
from accounts.services import api_key_secret
from bench.harness.procs import wait_for
from clearing.services import balance_credit_external
from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from orders.models import Trade
from tests.browser.support import WAIT_MS, Stack, admin_login, expect, orm, shot
from wallet.chain.simulated import sim_address_new
from wallet.models import Withdrawal


def fund(username: str, asset_id: int, amount: str) -> None:
    """A deposit for the test: EXTERNAL -> the user's available balance, through the ledger."""
    user = User.objects.get(username=username)
    balance_credit_external(
        user_id=user.pk, asset_id=asset_id, amount=Decimal(amount), ref=f"ui-{username}-{asset_id}"
    )


def signup(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Markets")).to_be_visible()


def login(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Markets")).to_be_visible()


def test_two_traders_trade_live_then_key_and_withdrawal(ui_stack: Stack, browser: Any) -> None:
    base, market = ui_stack.base_url, ui_stack.market
    ann_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    bob_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Bob's browser has no WebSocket at all: his pages must stay live by polling.
    bob_ctx.add_init_script("delete window.WebSocket")
    ann, bob = ann_ctx.new_page(), bob_ctx.new_page()
    errors: list[str] = []
    outside: list[str] = []  # requests to anywhere but the stack
    for page in (ann, bob):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))

    # Sign up (logged in at once), log out from the header, log in again.
    signup(ann, base, "ann", "ann-pass-2468")
    ann.get_by_role("button", name="Log out").click()
    expect(ann.get_by_role("heading", name="Log in")).to_be_visible()
    login(ann, base, "ann", "ann-pass-2468")
    signup(bob, base, "bob", "bob-pass-1357")
    orm(fund, "ann", market.quote_id, "10000")
    orm(fund, "bob", market.base_id, "1")
    shot(ann, "home")

    # Ann sees her balances on the trading page and places a limit buy.
    ann.goto(base + "/trade/BTCUSDT/")
    balances = ann.locator("#mini-balances")
    expect(balances).to_contain_text("10,000.00", timeout=WAIT_MS)
    # Ann's browser streams: the market streams and the UI socket are open.
    expect(ann.locator("body")).to_have_attribute("data-market-feed", "live", timeout=WAIT_MS)
    expect(ann.locator("body")).to_have_attribute("data-user-feed", "live", timeout=WAIT_MS)
    ann.get_by_label("Price", exact=True).fill("100")
    ann.get_by_label("Amount").fill("0.5")
    expect(ann.get_by_label("Total")).to_have_value("50.00")
    ann.get_by_label("Amount").press("Enter")  # keyboard: Enter in a field sends the order
    expect(ann.locator("#order-message")).to_contain_text("Buy 0.50000 BTC at 100.00 USDT: open")
    open_orders = ann.locator("#open-orders")
    expect(open_orders).to_contain_text("100.00", timeout=WAIT_MS)
    expect(ann.locator("#book-bids")).to_contain_text("100.00", timeout=WAIT_MS)
    expect(balances).to_contain_text("9,950.00")  # available; 50 held by the order
    expect(balances).to_contain_text("50.00")

    # A refusal is shown in words and changes nothing.
    ann.get_by_label("Amount").fill("1000")
    ann.get_by_role("button", name="Buy BTC").click()
    expect(ann.locator("#order-message")).to_contain_text("Not enough available balance")

    # Bob, in another browser context, sells 0.2 at market: it crosses Ann's bid.
    bob.goto(base + "/trade/BTCUSDT/")
    expect(bob.locator("#book-bids")).to_contain_text("100.00", timeout=WAIT_MS)
    assert bob.evaluate("[document.body.dataset.marketFeed, document.body.dataset.userFeed]") == [
        "polling",
        "polling",
    ]
    bob.get_by_role("tab", name="Limit", exact=True).focus()
    bob.keyboard.press("ArrowRight")  # the order-type tabs follow the arrow keys
    expect(bob.get_by_role("tab", name="Market")).to_have_attribute("aria-selected", "true")
    bob.locator("label.sell-side").click()
    bob.get_by_label("Amount").fill("0.2")
    bob.get_by_role("button", name="Sell BTC").click()
    expect(bob.locator("#order-message")).to_contain_text("filled")

    # Both see the trade and their balances change, without reloading.
    for page in (ann, bob):
        expect(page.locator("#trades")).to_contain_text("0.20000", timeout=WAIT_MS)
    expect(balances).to_contain_text("0.19980", timeout=WAIT_MS)  # 0.2 BTC less the 0.1 % fee
    expect(bob.locator("#mini-balances")).to_contain_text("19.98", timeout=WAIT_MS)
    expect(open_orders).to_contain_text("0.20000", timeout=WAIT_MS)  # filled so far
    ann.get_by_role("tab", name="Trade history").click()
    expect(ann.locator("#my-trades")).to_contain_text("maker", timeout=WAIT_MS)
    shot(ann, "trade")
    shot(bob, "trade-bob")

    # Ann cancels the remainder: her held quote comes back.
    ann.get_by_role("tab", name="Open orders").click()
    ann.get_by_role("button", name="Cancel buy 0.50000 at 100.00").click()
    expect(ann.locator("#list-message")).to_contain_text("Cancelled")
    expect(open_orders).to_contain_text("No open orders.", timeout=WAIT_MS)
    expect(balances).to_contain_text("9,980.00", timeout=WAIT_MS)
    expect(ann.locator("#book-bids")).not_to_contain_text("100.00", timeout=WAIT_MS)

    # The trading page on a phone.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, storage_state=ann_ctx.storage_state(),
    )  # fmt: skip
    mobile = phone.new_page()
    mobile.goto(base + "/trade/BTCUSDT/")
    expect(mobile.locator("#mini-balances")).to_contain_text("9,980.00", timeout=WAIT_MS)
    shot(mobile, "trade-phone")
    assert mobile.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.close()

    # An API key: its secret is shown once.
    ann.goto(base + "/accounts/api-keys/")
    ann.get_by_label("Label").fill("bot")
    ann.get_by_label("Withdraw (request withdrawals to your address book)").check()
    ann.get_by_role("button", name="Create key").click()
    secret = ann.locator("#new-secret")
    expect(secret).not_to_be_empty()
    key = orm(lambda: ApiKey.objects.get(user__username="ann"))
    assert secret.inner_text() == orm(api_key_secret, key)
    assert key.permissions == ["read", "trade", "withdraw"]
    expect(ann.locator("#keys")).to_contain_text("bot")
    shot(ann, "api-keys")
    ann.reload()
    expect(ann.locator("#keys")).to_contain_text("bot")
    assert orm(api_key_secret, key) not in ann.content()
    expect(ann.locator("#secret-box")).to_be_hidden()

    # A withdrawal to an address-book entry; it lands in the operator's review queue.
    address = orm(sim_address_new, "BTC")
    ann.goto(base + "/wallet/")
    expect(ann.locator("#balances")).to_contain_text("0.19980000", timeout=WAIT_MS)
    ann.locator("#ab-address").fill(address)
    ann.locator("#ab-label").fill("cold wallet")
    ann.get_by_role("button", name="Add address").click()
    expect(ann.locator("#ab-message")).to_contain_text("Address added.")
    expect(ann.locator("#w-address")).to_contain_text("cold wallet", timeout=WAIT_MS)
    ann.get_by_label("Amount").fill("0.1")
    ann.get_by_role("button", name="Request withdrawal").click()
    expect(ann.locator("#w-message")).to_contain_text("awaiting approval")
    expect(ann.locator("#withdrawals")).to_contain_text("awaiting approval", timeout=WAIT_MS)
    expect(ann.locator("#balances")).to_contain_text("0.09980000", timeout=WAIT_MS)  # held
    shot(ann, "wallet")
    withdrawal = orm(lambda: Withdrawal.objects.get(user__username="ann"))
    assert (withdrawal.status, withdrawal.amount, withdrawal.source) == (
        "REQUESTED",
        Decimal("0.1"),
        "ui",
    )

    op = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    admin_login(op, base, "operator", ui_stack.operator_password)
    op.goto(base + "/admin/wallet/withdrawal/?queue=review")
    queue = op.locator("#result_list tbody tr")
    expect(queue).to_have_count(1)
    expect(queue).to_contain_text("ann")
    expect(queue.locator("th").first).to_have_text(str(withdrawal.pk))
    shot(op, "admin-withdrawal-queue")

    # Two-factor set-up: the key as a QR code drawn in the page; enrol with the app's code.
    ann.goto(base + "/accounts/two-factor/")
    ann.get_by_role("button", name="Set up two-factor authentication").click()
    qr = ann.get_by_role("img", name="QR code of the otpauth address below")
    expect(qr.locator("svg")).to_be_visible()
    size = qr.locator("svg").bounding_box()
    assert size is not None and size["width"] == size["height"] >= 150  # room for a camera
    shot(ann, "two-factor")
    secret = ann.get_by_label("Key (base32)").input_value()
    ann.get_by_label("Code from the app").fill(f"{TOTP(b32decode(secret)).token():06d}")
    ann.get_by_role("button", name="Turn on").click()
    expect(ann.get_by_role("status")).to_have_text("Two-factor authentication is on.")
    expect(qr).to_have_count(0)
    assert outside == []  # nothing was loaded from anywhere but the stack

    # Site-styled error pages; logout over GET asks instead of a blank 405.
    assert ann.goto(base + "/no-such-page/").status == 404
    expect(ann.get_by_role("heading", name="This page does not exist")).to_be_visible()
    ann.goto(base + "/accounts/logout/")
    expect(ann.get_by_role("button", name="Log out").last).to_be_visible()
    assert errors == []

    def settled() -> bool:
        return not Trade.objects.filter(settled_at__isnull=True).exists()

    orm(wait_for, settled, 30, "settlement", ui_stack.procs)
    orm(assert_orders_accounted)
    orm(assert_ledger_invariants)
