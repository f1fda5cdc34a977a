"""A seeded burst of orders and cancels from several threads, through the real services."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal

from accounts.models import User
from exchange_site.errors import DomainError
from orders.models import OPEN_STATUSES, Order
from orders.services import order_cancel, order_place
from tests.threads import threads_run


def burst(
    users: list[User],
    symbol: str,
    n: int,
    *,
    threads: int = 4,
    seed: int = 7,
    cancel_ratio: float = 0.3,
) -> Counter[str]:
    """Place ~n commands (limit orders around 50000, a fifth crossing, and cancels of own
    open orders); returns counts of outcomes."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def work(t: int) -> None:
        rng = random.Random(seed * 100 + t)
        for _ in range(n // threads):
            user = rng.choice(users)
            try:
                if rng.random() < cancel_ratio:
                    open_ids = list(
                        Order.objects.filter(
                            user=user,
                            status__in=OPEN_STATUSES,
                            cancel_requested_at__isnull=True,
                        ).values_list("id", flat=True)[:20]
                    )
                    if not open_ids:
                        continue
                    order_cancel(user_id=user.id, symbol=symbol, order_id=rng.choice(open_ids))
                    kind = "cancel"
                else:
                    side = rng.choice(["BUY", "SELL"])
                    offset = rng.randint(-20, 80) * (1 if side == "SELL" else -1)
                    price = Decimal(50000 + offset)
                    qty = Decimal(rng.choice([1, 1, 2, 3, 5, 8])) / 1000
                    order_place(
                        user_id=user.id, symbol=symbol, side=side, type="LIMIT",
                        time_in_force=rng.choice(["GTC", "GTC", "GTC", "IOC"]),
                        price=price, quantity=qty,
                    )  # fmt: skip
                    kind = "place"
            except DomainError as exc:
                kind = f"rejected {exc.code}"
            with lock:
                outcomes[kind] += 1

    threads_run(work, threads, start_together=False)
    return outcomes
