"""Trading states as Prometheus gauges, read from PostgreSQL at scrape time (so every web
process reports the same, current values): exchange_market_trading_state{market} and
exchange_global_trading_state, 1 = TRADING, 2 = CANCEL_ONLY, 3 = HALT (the engine's values)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_VALUES = {"TRADING": 1, "CANCEL_ONLY": 2, "HALT": 3}


class TradingStateCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: registering must not query the database.
        yield GaugeMetricFamily("exchange_market_trading_state", "", labels=["market"])
        yield GaugeMetricFamily("exchange_global_trading_state", "")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from orders.markets import global_status_get
        from orders.models import Market

        markets = GaugeMetricFamily(
            "exchange_market_trading_state",
            "Effective trading state per market: 1 TRADING, 2 CANCEL_ONLY, 3 HALT",
            labels=["market"],
        )
        exchange = GaugeMetricFamily(
            "exchange_global_trading_state",
            "Global trading state: 1 TRADING, 2 CANCEL_ONLY, 3 HALT",
        )
        try:
            for symbol, status in Market.objects.values_list("symbol", "status"):
                markets.add_metric([symbol], _VALUES[status])
            exchange.add_metric([], _VALUES[global_status_get()])
        except DatabaseError:
            return  # no sample rather than a failed scrape
        yield markets
        yield exchange


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(TradingStateCollector())
        _registered = True
