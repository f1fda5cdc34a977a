"""Withdrawals in flight as Prometheus gauges, read from PostgreSQL at scrape time (every web
process reports the same values): exchange_withdrawals_open{status} and
exchange_withdrawals_oldest_seconds{status}, the time since the oldest one entered its state.
The "withdrawal stuck" alert (docker/alerts.yml) fires on the age of APPROVED, PROCESSING and
SENT ones, and on exchange_withdrawals_stuck (flagged for an operator)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Open states and the timestamp at which a withdrawal entered each.
_ENTERED = {
    "REQUESTED": "requested_at",
    "APPROVED": "approved_at",
    "PROCESSING": "processing_at",
    "SENT": "sent_at",
}


class WithdrawalCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("exchange_withdrawals_open", "", labels=["status"])
        yield GaugeMetricFamily("exchange_withdrawals_oldest_seconds", "", labels=["status"])
        yield GaugeMetricFamily("exchange_withdrawals_stuck", "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from wallet.models import Withdrawal

        count = GaugeMetricFamily(
            "exchange_withdrawals_open", "Withdrawals in an open state", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "exchange_withdrawals_oldest_seconds",
            "Seconds since the oldest withdrawal in this state entered it",
            labels=["status"],
        )
        stuck = GaugeMetricFamily(
            "exchange_withdrawals_stuck", "Withdrawals flagged as needing an operator"
        )
        now = timezone.now()
        try:
            for status, field in _ENTERED.items():
                row = Withdrawal.objects.filter(status=status).aggregate(
                    n=Count("id"), at=Min(field)
                )
                count.add_metric([status], row["n"])
                age = (now - row["at"]).total_seconds() if row["at"] is not None else 0.0
                oldest.add_metric([status], max(0.0, age))
            open_stuck = Withdrawal.objects.filter(stuck=True, status__in=list(_ENTERED))
            stuck.add_metric([], open_stuck.count())
        except DatabaseError:
            return  # no sample rather than a failed scrape
        yield count
        yield oldest
        yield stuck


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(WithdrawalCollector())
        _registered = True
