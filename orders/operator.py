"""Operators' order actions (support): cancelling users' orders from the back office."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from admin_rbac.services import Actor, audit_record
from exchange_site.errors import InvalidInput
from exchange_site.redis import get_redis
from matching.engine import CancelOrder
from matching.stream import StreamCommand, commands_enqueue

from .models import OPEN_STATUSES, Order


@transaction.atomic(durable=True)
def orders_cancel_by_operator(*, order_ids: Iterable[int], actor: Actor, reason: str) -> int:
    """Request the cancel of the given orders that are still open, as their owners would (the
    engine decides against trades in stream order; a finished order is left alone). One audit
    entry per order. Writes cancel requests; enqueues the cancels after commit. Returns the
    number of orders asked to cancel."""
    if not reason.strip():
        raise InvalidInput("a reason is required")
    orders = list(
        Order.objects.filter(pk__in=list(order_ids), status__in=OPEN_STATUSES)
        .select_related("market")
        .order_by("id")
    )
    now = timezone.now()
    Order.objects.filter(pk__in=[o.pk for o in orders], cancel_requested_at__isnull=True).update(
        cancel_requested_at=now
    )
    by_symbol: dict[str, list[tuple[StreamCommand, str | None]]] = {}
    for order in orders:
        by_symbol.setdefault(order.market.symbol, []).append(
            (CancelOrder(order.id, order.user_id), None)
        )
        audit_record(
            actor=actor, action="order.cancel", target=order,
            before={"status": order.status}, after={"cancel_requested": True}, reason=reason,
        )  # fmt: skip

    def enqueue() -> None:
        client = get_redis()
        for symbol, items in by_symbol.items():
            commands_enqueue(client, symbol, items)

    transaction.on_commit(enqueue)
    return len(orders)


def orders_open_of_users(*, user_ids: Iterable[int]) -> list[int]:
    """Ids of the users' open orders."""
    return list(
        Order.objects.filter(user_id__in=list(user_ids), status__in=OPEN_STATUSES)
        .order_by("id")
        .values_list("pk", flat=True)
    )
