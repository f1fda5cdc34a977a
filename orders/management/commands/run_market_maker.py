"""`manage.py run_market_maker --market BTCUSDT [--market ETHUSDT ...]`: a demo market maker.

Keeps a two-sided book around a random-walk price and trades a little against it, so a fresh
exchange looks alive. It is an ordinary trader: two demo users (a maker quoting limit orders
and a taker sending small market orders), orders placed and cancelled through orders.services,
the acceptance step the API uses, so every fill is matched, settled and shown like any other.
Balances are topped up from the EXTERNAL account (a demo deposit, through the ledger) when they
run low.

Prices are integers of ticks and quantities integers of lots all the way to the service: the
walk draws whole ticks; no float touches an amount. SIGTERM/SIGINT: the maker's orders are
cancelled, then it exits. With --demo the command obeys DEMO_MARKET_MAKER (0: stay idle, so the
Procfile line can stay) and DEMO_MARKETS (default: every market).
"""

from __future__ import annotations

import os
import random
import signal
import time
from argparse import ArgumentParser
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from accounts.models import User
from accounts.services import user_create
from clearing.selectors import balance_get
from clearing.services import balance_credit_external
from exchange_site.errors import DomainError
from marketdata.selectors import last_price_list
from orders import selectors, services, units
from orders.models import Market

log = structlog.get_logger(__name__)

MAKER, TAKER = "demo-maker", "demo-taker"
# Where a market with no trade yet starts, by base asset (quote units); others start at 100.
START_PRICES = {"BTC": Decimal("65000"), "ETH": Decimal("3200")}
# Keep this many quote units (and their worth in base) on each demo account.
FUNDING_QUOTE = Decimal("2000000")


@dataclass
class Quoter:
    """One market's state: the walk's mid price and anchor, in ticks."""

    market: Market
    mid_ticks: int
    anchor_ticks: int
    rng: random.Random
    placed: int = 0
    trades: int = 0
    errors: int = 0
    last_taker: float = field(default=0.0)


class Command(BaseCommand):
    help = "Demo market maker: a two-sided book and some trading around a random-walk price."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--market", action="append", default=[], help="symbol (repeatable)")
        parser.add_argument("--levels", type=int, default=10, help="price levels per side")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between steps")
        parser.add_argument(
            "--trade-chance", type=float, default=0.3,
            help="chance per step of a taker market order (0: never, 1: every step)",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--steps", type=int, default=0, help="stop after N steps (0: run)")
        parser.add_argument(
            "--demo", action="store_true",
            help="obey DEMO_MARKET_MAKER (0: idle) and DEMO_MARKETS (default: all markets)",
        )  # fmt: skip

    def handle(self, *args: Any, **o: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        symbols: list[str] = o["market"]
        if o["demo"]:
            if os.environ.get("DEMO_MARKET_MAKER", "1") == "0":
                self.stdout.write("DEMO_MARKET_MAKER=0: the demo market maker stays idle")
                while not self.stopping:
                    time.sleep(1)
                return
            env = os.environ.get("DEMO_MARKETS", "")
            symbols = symbols or [s for s in env.split(",") if s.strip()]
            symbols = symbols or list(
                Market.objects.order_by("symbol").values_list("symbol", flat=True)
            )
        if not symbols:
            raise CommandError("name at least one --market")
        rng = random.Random(o["seed"])  # noqa: S311 - a demo's random walk, not security
        maker, taker = self._user(MAKER), self._user(TAKER)
        quoters = [self._quoter(s, rng) for s in symbols]
        self.stdout.write(f"market maker on {', '.join(symbols)} as {MAKER}/{TAKER}")
        steps = 0
        try:
            while not self.stopping and (not o["steps"] or steps < o["steps"]):
                started = time.monotonic()
                for q in quoters:
                    try:
                        self._step(q, maker, taker, o["levels"], o["trade_chance"])
                    except DomainError as exc:
                        q.errors += 1
                        log.info("market_maker.refused", symbol=q.market.symbol, code=exc.code,
                                 msg=exc.msg)  # fmt: skip
                    except Exception:  # a lost database or Redis: log, back off, go on
                        q.errors += 1
                        log.exception("market_maker.step_failed", symbol=q.market.symbol)
                        close_old_connections()
                        time.sleep(2)
                steps += 1
                time.sleep(max(0.0, o["interval"] - (time.monotonic() - started)))
        finally:
            for q in quoters:
                self._cancel_all(maker, q.market)
        for q in quoters:
            self.stdout.write(
                f"{q.market.symbol}: {q.placed} orders placed, {q.trades} market orders, "
                f"{q.errors} refused"
            )

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    # ------------------------------------------------------------------ setup

    def _user(self, name: str) -> User:
        user = User.objects.filter(username=name).first()
        return user or user_create(username=name, password=None)

    def _quoter(self, symbol: str, rng: random.Random) -> Quoter:
        try:
            market = selectors.market_get(symbol=symbol)
        except DomainError:
            raise CommandError(f"unknown market {symbol}") from None
        last = last_price_list(market_ids=[market.pk]).get(market.pk)
        start = last or START_PRICES.get(market.base.code, Decimal(100))
        ticks = int(start / market.tick_size)
        return Quoter(market, ticks, ticks, rng)

    def _fund(self, user: User, market: Market, mid: Decimal) -> None:
        """Top the user's base and quote up to the target when below half of it."""
        targets = {
            market.quote_id: FUNDING_QUOTE,
            market.base_id: (FUNDING_QUOTE / mid).quantize(market.step_size),
        }
        for asset_id, target in targets.items():
            have = balance_get(user_id=user.pk, asset_id=asset_id).available
            if have < target / 2:
                balance_credit_external(
                    user_id=user.pk, asset_id=asset_id, amount=target - have,
                    ref=f"market-maker:{user.username}:{asset_id}:{time.time_ns()}",
                )  # fmt: skip

    # ------------------------------------------------------------------ one step

    def _walk(self, q: Quoter) -> None:
        """Move the mid by a few ticks (about 0.02% of the price per step), pulled back
        towards the anchor when it strays beyond 3%."""
        scale = max(1, q.mid_ticks // 5000)
        step = q.rng.randint(-scale, scale) + q.rng.randint(-scale, scale)
        drift = q.mid_ticks - q.anchor_ticks
        if abs(drift) * 100 > q.anchor_ticks * 3:
            step -= scale if drift > 0 else -scale
        q.mid_ticks = max(10, q.mid_ticks + step)

    def _step(self, q: Quoter, maker: User, taker: User, levels: int, trade_chance: float) -> None:
        m = q.market
        self._walk(q)
        mid = units.ticks_to_price(q.mid_ticks, m.tick_size)
        self._fund(maker, m, mid)
        self._fund(taker, m, mid)
        gap = max(1, q.mid_ticks // 4000)  # ticks between levels: ~0.025%
        half_spread = max(1, q.mid_ticks // 8000)
        ladder = {
            "BUY": [q.mid_ticks - half_spread - i * gap for i in range(levels)],
            "SELL": [q.mid_ticks + half_spread + i * gap for i in range(levels)],
        }
        # Keep a resting order while it sits on its side of the mid within the ladder's reach;
        # cancel the rest; fill ladder rungs with no order near them. Few cancels per step.
        kept: dict[str, list[int]] = {"BUY": [], "SELL": []}
        for order in selectors.order_list_open(user_id=maker.pk, market=m):
            if order.cancel_requested_at is not None:
                continue
            ticks = int(order.price / m.tick_size)
            rungs = ladder[order.side]
            inside = min(rungs) - gap <= ticks <= max(rungs) + gap
            right_side = ticks < q.mid_ticks if order.side == "BUY" else ticks > q.mid_ticks
            if inside and right_side and all(abs(ticks - k) >= gap // 2 for k in kept[order.side]):
                kept[order.side].append(ticks)
            else:
                services.order_cancel(user_id=maker.pk, symbol=m.symbol, order_id=order.pk)
        for side, rungs in ladder.items():
            for ticks in rungs:
                if ticks <= 0 or any(abs(ticks - k) < gap for k in kept[side]):
                    continue
                price = units.ticks_to_price(ticks, m.tick_size)
                services.order_place(
                    user_id=maker.pk, symbol=m.symbol, side=side, type="LIMIT",
                    time_in_force="GTC", price=price, quantity=self._qty(q, price),
                    stp_mode="NONE",
                )  # fmt: skip
                kept[side].append(ticks)
                q.placed += 1
        if q.rng.random() < trade_chance:
            side = q.rng.choice(("BUY", "SELL"))
            services.order_place(
                user_id=taker.pk, symbol=m.symbol, side=side, type="MARKET",
                quantity=self._qty(q, mid, small=True), stp_mode="NONE",
            )  # fmt: skip
            q.trades += 1

    def _qty(self, q: Quoter, price: Decimal, *, small: bool = False) -> Decimal:
        """A random order size worth about 20-600 quote units (taker: 10-150), in whole lots,
        at least the market's minimums."""
        m = q.market
        low, high = (10, 150) if small else (20, 600)
        notional = Decimal(q.rng.randint(low, high)) + m.min_notional
        lots = max(1, int(notional / price / m.step_size))
        qty: Decimal = max(units.lots_to_qty(lots, m.step_size), m.min_qty)
        return qty

    def _cancel_all(self, maker: User, market: Market) -> None:
        try:
            services.order_cancel_all(user_id=maker.pk, symbol=market.symbol)
        except DomainError:
            pass  # nothing open
        except Exception:
            log.exception("market_maker.cancel_failed", symbol=market.symbol)
