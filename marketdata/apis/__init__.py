"""The public market-data endpoints of /api/v3/ (the URL conf routes these names).

- `schema`: parameters, request weights and OpenAPI response components;
- `render`: Binance shapes from markets and selector rows;
- `endpoints`: parameters -> markets and one read (marketdata.selectors) -> render.
"""

from .endpoints import (
    agg_trades,
    avg_price,
    depth,
    exchange_info,
    klines,
    ping,
    server_time,
    ticker_24hr,
    ticker_book,
    ticker_price,
    trades,
    ui_klines,
)

__all__ = [
    "agg_trades",
    "avg_price",
    "depth",
    "exchange_info",
    "klines",
    "ping",
    "server_time",
    "ticker_24hr",
    "ticker_book",
    "ticker_price",
    "trades",
    "ui_klines",
]
