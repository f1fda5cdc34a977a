"""Public market-data endpoints: shapes (validated against the served OpenAPI schemas) and
values, from trades in PostgreSQL and the depth store in Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from exchange_site.binance.times import from_ms, to_ms
from exchange_site.redis import get_redis
from marketdata.depthstore import depth_write
from marketdata.services import candles_roll
from orders.models import Market
from orders.tests.factories import trade_make
from tests.api_client import ApiClient, assert_matches_schema, make_market, now_ms

HOUR_MS = 3_600_000
ZERO = "0.00000000"


def ok(api: ApiClient, path: str, params: dict[str, Any] | None = None) -> Any:
    response = api.get(path, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_schema("GET", path, body)
    return body


def error(api: ApiClient, path: str, params: dict[str, Any]) -> tuple[int, str]:
    response = api.get(path, params)
    assert response.status_code == 400
    body = response.json()
    return body["code"], body["msg"]


# ping, time, exchangeInfo ---------------------------------------------------------------------


def test_ping_and_time(api: ApiClient) -> None:
    assert ok(api, "/api/v3/ping") == {}
    before = now_ms()
    server = ok(api, "/api/v3/time")["serverTime"]
    assert before <= server <= now_ms()


def test_exchange_info_symbol(api: ApiClient, market: Market) -> None:
    info = ok(api, "/api/v3/exchangeInfo")
    assert info["timezone"] == "UTC"
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    ]
    (symbol,) = info["symbols"]
    assert symbol["symbol"] == "BTCUSDT"
    assert symbol["status"] == "TRADING"
    assert (symbol["baseAsset"], symbol["quoteAsset"]) == ("BTC", "USDT")
    assert symbol["orderTypes"] == [
        "LIMIT",
        "LIMIT_MAKER",
        "MARKET",
        "STOP_LOSS",
        "STOP_LOSS_LIMIT",
        "TAKE_PROFIT",
        "TAKE_PROFIT_LIMIT",
    ]
    assert symbol["cancelReplaceAllowed"] is True
    assert symbol["amendAllowed"] is True
    assert symbol["quoteOrderQtyMarketAllowed"] is True
    assert symbol["isSpotTradingAllowed"] is True
    assert symbol["allowedSelfTradePreventionModes"] == [
        "NONE",
        "EXPIRE_TAKER",
        "EXPIRE_MAKER",
        "EXPIRE_BOTH",
    ]
    assert symbol["permissionSets"] == [["SPOT"]]
    assert "TRD_GRP_003" not in symbol["permissions"]
    derivative_keys = {"contractType", "deliveryDate", "expiryDate", "underlying", "marginAsset"}
    assert not derivative_keys & set(symbol) and "tradability" not in symbol
    assert symbol["filters"] == [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ]


def test_exchange_info_price_band_status_and_filters(api: ApiClient, market: Market) -> None:
    eth = make_market("ETH", price_band_pct=Decimal("10"))
    Market.objects.filter(pk=eth.pk).update(status="CANCEL_ONLY")
    info = ok(api, "/api/v3/exchangeInfo", {"symbols": '["ETHUSDT","BTCUSDT"]'})
    assert [s["symbol"] for s in info["symbols"]] == ["ETHUSDT", "BTCUSDT"]
    eth_info = info["symbols"][0]
    assert eth_info["status"] == "CANCEL_ONLY"
    assert eth_info["filters"][-1] == {
        "filterType": "PERCENT_PRICE_BY_SIDE",
        "bidMultiplierUp": "1.10000000",
        "bidMultiplierDown": "0.90000000",
        "askMultiplierUp": "1.10000000",
        "askMultiplierDown": "0.90000000",
        "avgPriceMins": 5,
    }
    single = ok(api, "/api/v3/exchangeInfo", {"symbol": "BTCUSDT"})
    assert [s["symbol"] for s in single["symbols"]] == ["BTCUSDT"]
    invalid = (-1121, "Invalid symbol.")
    assert error(api, "/api/v3/exchangeInfo", {"symbol": "NOPEUSDT"}) == invalid
    assert error(api, "/api/v3/exchangeInfo", {"symbols": '["BTCUSDT","NOPE"]'}) == invalid
    assert error(api, "/api/v3/exchangeInfo", {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'})[
        0
    ] == (-1128)
    assert error(api, "/api/v3/exchangeInfo", {"symbols": "BTCUSDT"})[0] == -1100


def test_exchange_info_rate_limits_follow_settings(api: ApiClient, market: Market) -> None:
    tiers = {"default": {"weight_1m": 1200, "orders_10s": None}}
    with override_settings(API_RATE_LIMITS=tiers):
        info = ok(api, "/api/v3/exchangeInfo")
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}
    ]


# depth, bookTicker ----------------------------------------------------------------------------


def write_book(update_id: int = 42) -> None:
    # Ticks of 0.01 USDT and lots of 0.00001 BTC.
    depth_write(
        get_redis(),
        symbol="BTCUSDT",
        update_id=update_id,
        bids={4_999_900: 100_000, 4_999_800: 5, 4_999_950: 1},
        asks={5_000_100: 200_000, 5_000_200: 3},
        full=True,
    )


def test_depth(api: ApiClient, market: Market) -> None:
    write_book()
    book = ok(api, "/api/v3/depth", {"symbol": "BTCUSDT"})
    assert book == {
        "lastUpdateId": 42,
        "bids": [
            ["49999.50000000", "0.00001000"],
            ["49999.00000000", "1.00000000"],
            ["49998.00000000", "0.00005000"],
        ],
        "asks": [["50001.00000000", "2.00000000"], ["50002.00000000", "0.00003000"]],
    }
    top = ok(api, "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1"})
    assert (top["bids"], top["asks"]) == (
        [["49999.50000000", "0.00001000"]],
        [["50001.00000000", "2.00000000"]],
    )
    # A later book change shows with its update id.
    depth_write(get_redis(), symbol="BTCUSDT", update_id=43, bids={4_999_950: 0}, asks={})
    assert ok(api, "/api/v3/depth", {"symbol": "BTCUSDT"})["lastUpdateId"] == 43
    assert error(api, "/api/v3/depth", {"symbol": "NOPEUSDT"}) == (-1121, "Invalid symbol.")
    assert error(api, "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5001"})[0] == -1100
    assert error(api, "/api/v3/depth", {})[0] == -1102


def test_depth_of_an_unpublished_book_is_empty(api: ApiClient, market: Market) -> None:
    assert ok(api, "/api/v3/depth", {"symbol": "BTCUSDT"}) == {
        "lastUpdateId": 0,
        "bids": [],
        "asks": [],
    }


def test_book_ticker(api: ApiClient, market: Market) -> None:
    make_market("ETH")
    write_book()
    assert ok(api, "/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}) == {
        "symbol": "BTCUSDT",
        "bidPrice": "49999.50000000",
        "bidQty": "0.00001000",
        "askPrice": "50001.00000000",
        "askQty": "2.00000000",
    }
    both = ok(api, "/api/v3/ticker/bookTicker")
    assert [t["symbol"] for t in both] == ["BTCUSDT", "ETHUSDT"]
    assert both[1]["bidPrice"] == both[1]["askQty"] == ZERO


# trades, aggTrades ----------------------------------------------------------------------------


def test_trades_recent_ascending(api: ApiClient, market: Market) -> None:
    now = timezone.now()
    t1 = trade_make(market, price="50000", qty="0.1", at=now - timedelta(seconds=3))
    t2 = trade_make(market, price="50001", qty="0.2", at=now - timedelta(seconds=2))
    t3 = trade_make(market, price="49999.99", qty="0.00001", at=now, is_buyer_maker=False)
    rows = ok(api, "/api/v3/trades", {"symbol": "BTCUSDT"})
    assert [r["id"] for r in rows] == [t1.pk, t2.pk, t3.pk]
    assert rows[2] == {
        "id": t3.pk,
        "price": "49999.99000000",
        "qty": "0.00001000",
        "quoteQty": "0.49999990",
        "time": to_ms(t3.created_at),
        "isBuyerMaker": False,
        "isBestMatch": True,
    }
    assert [r["id"] for r in ok(api, "/api/v3/trades", {"symbol": "BTCUSDT", "limit": 2})] == [
        t2.pk,
        t3.pk,
    ]
    assert error(api, "/api/v3/trades", {"symbol": "BTCUSDT", "limit": "1001"})[0] == -1100


def test_agg_trades(api: ApiClient, market: Market) -> None:
    start = to_ms(timezone.now()) - 2 * HOUR_MS
    at = [start - 1, start, start + HOUR_MS, start + HOUR_MS + 1]
    trades = [trade_make(market, price="100", qty="1", at=from_ms(ms)) for ms in at]
    # A range of exactly one hour, both ends inclusive.
    rows = ok(
        api,
        "/api/v3/aggTrades",
        {"symbol": "BTCUSDT", "startTime": start, "endTime": start + HOUR_MS},
    )
    assert [r["a"] for r in rows] == [trades[1].pk, trades[2].pk]
    assert rows[0] == {
        "a": trades[1].pk,
        "p": "100.00000000",
        "q": "1.00000000",
        "f": trades[1].pk,
        "l": trades[1].pk,
        "T": start,
        "m": True,
        "M": True,
    }
    recent = ok(api, "/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 3})
    assert [r["a"] for r in recent] == [t.pk for t in trades[1:]]
    from_id = ok(api, "/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": trades[2].pk})
    assert [r["a"] for r in from_id] == [trades[2].pk, trades[3].pk]
    oldest = ok(api, "/api/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": 0, "limit": 1})
    assert [r["a"] for r in oldest] == [trades[0].pk]


# klines ---------------------------------------------------------------------------------------


def test_klines_aggregate_trades_per_interval(api: ApiClient, market: Market) -> None:
    base = (now_ms() // HOUR_MS - 2) * HOUR_MS  # an hour boundary two hours ago
    for offset, price, qty, buyer_maker in [
        (1_000, "100", "1", True),
        (30_000, "110", "2", False),  # taker bought
        (59_999, "90", "1", True),
        (60_000 + 5, "95", "3", False),
        (3 * 60_000, "99", "1", True),
    ]:
        trade_make(
            market, price=price, qty=qty, at=from_ms(base + offset), is_buyer_maker=buyer_maker
        )
    candles_roll(market_id=market.pk)  # what the worker does after each matcher batch
    rows = ok(
        api,
        "/api/v3/klines",
        {"symbol": "BTCUSDT", "interval": "1m", "startTime": base, "endTime": base + HOUR_MS},
    )
    # endTime is inclusive: the candle opening exactly at it is the 61st.
    assert [r[0] for r in rows] == [base + i * 60_000 for i in range(61)]
    assert rows[0] == [
        base,
        "100.00000000",
        "110.00000000",
        "90.00000000",
        "90.00000000",
        "4.00000000",
        base + 59_999,
        "410.00000000",
        3,
        "2.00000000",
        "220.00000000",
        "0",
    ]
    assert rows[1][1:6] == ["95.00000000"] * 4 + ["3.00000000"]
    # A minute without trades carries the previous close, with zero volume.
    flat = ["95.00000000"] * 4 + [ZERO, base + 180_000 - 1, ZERO, 0, ZERO, ZERO, "0"]
    assert rows[2] == [base + 120_000, *flat]
    assert rows[3][4] == "99.00000000" and rows[60][1:5] == ["99.00000000"] * 4

    def opens(**params: Any) -> list[int]:
        query = {"symbol": "BTCUSDT", "interval": "1m", **params}
        return [r[0] for r in ok(api, "/api/v3/klines", query)]

    # Most recent `limit` candles up to now (or endTime), ascending.
    before = now_ms() // 60_000 * 60_000
    latest = opens(limit=2)
    after = now_ms() // 60_000 * 60_000  # the minute may turn during the request
    assert latest in ([before - 60_000, before], [after - 60_000, after])
    assert opens(endTime=base + 120_000, limit=3) == [base, base + 60_000, base + 120_000]
    # startTime after the first candle's open skips that candle; before the first trade (e.g.
    # a client paging from 0) starts at the first trade's candle.
    assert opens(startTime=base + 1, limit=2) == [base + 60_000, base + 120_000]
    assert opens(startTime=0, limit=2) == [base, base + 60_000]
    hourly = ok(api, "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": base})
    # Up to the current hour, none in the future.
    assert [h[0] for h in hourly] == [base, base + HOUR_MS, base + 2 * HOUR_MS]
    assert hourly[0][8] == 5 and hourly[0][6] == base + HOUR_MS - 1
    assert error(api, "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "2m"}) == (
        -1120,
        "Invalid interval.",
    )
    assert error(api, "/api/v3/klines", {"symbol": "BTCUSDT"})[0] == -1102


@pytest.mark.parametrize(
    ("interval", "open_at", "close_at"),
    [
        # 2026-11-18 is a Wednesday: its week opens on Monday 2026-11-16 00:00 UTC.
        ("1w", datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)),
        ("1M", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("1d", datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)),
        # 3-day candles count from the epoch: day 20775 (2026-11-18) is a multiple of 3.
        ("3d", datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)),
    ],
)
def test_kline_calendar_buckets(
    api: ApiClient, market: Market, interval: str, open_at: datetime, close_at: datetime
) -> None:
    trade_make(market, price="100", qty="1", at=datetime(2026, 11, 18, 13, 5, tzinfo=UTC))
    candles_roll(market_id=market.pk)
    rows = ok(
        api,
        "/api/v3/klines",
        {"symbol": "BTCUSDT", "interval": interval, "startTime": to_ms(open_at)},
    )
    # The candle holding the trade; later ones (up to now) carry its close, without trades.
    assert (rows[0][0], rows[0][6], rows[0][8]) == (to_ms(open_at), to_ms(close_at) - 1, 1)
    assert all(r[8] == 0 for r in rows[1:])


def test_every_contract_interval_is_accepted(api: ApiClient, market: Market) -> None:
    trade_make(market, price="100", qty="1", at=timezone.now() - timedelta(seconds=1))
    candles_roll(market_id=market.pk)
    intervals = "1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M"
    for interval in intervals.split(" "):
        # The 30 most recent candles hold the trade (1 s ago) whatever the interval.
        rows = ok(api, "/api/v3/klines", {"symbol": "BTCUSDT", "interval": interval, "limit": 30})
        assert sum(r[8] for r in rows) == 1, interval


# tickers, avgPrice ----------------------------------------------------------------------------


def test_ticker_24hr(api: ApiClient, market: Market) -> None:
    eth = make_market("ETH")
    now = timezone.now()
    trade_make(market, price="80", qty="1", at=now - timedelta(hours=30))  # before the window
    first = trade_make(market, price="100", qty="1", at=now - timedelta(hours=20))
    trade_make(market, price="120", qty="1", at=now - timedelta(hours=10))
    last = trade_make(market, price="90", qty="2", at=now - timedelta(minutes=1))
    write_book()
    t = ok(api, "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"})
    assert t["symbol"] == "BTCUSDT"
    assert (t["openPrice"], t["highPrice"], t["lowPrice"], t["lastPrice"]) == (
        "100.00000000",
        "120.00000000",
        "90.00000000",
        "90.00000000",
    )
    assert (t["priceChange"], t["priceChangePercent"]) == ("-10.00000000", "-10.000")
    assert (t["volume"], t["quoteVolume"], t["weightedAvgPrice"]) == (
        "4.00000000",
        "400.00000000",
        "100.00000000",
    )
    assert (t["prevClosePrice"], t["lastQty"]) == ("80.00000000", "2.00000000")
    assert (t["firstId"], t["lastId"], t["count"]) == (first.pk, last.pk, 3)
    assert (t["bidPrice"], t["bidQty"], t["askPrice"]) == (
        "49999.50000000",
        "0.00001000",
        "50001.00000000",
    )
    assert t["closeTime"] - t["openTime"] == 24 * HOUR_MS
    quiet = ok(api, "/api/v3/ticker/24hr", {"symbol": eth.symbol})
    assert (quiet["firstId"], quiet["lastId"], quiet["count"]) == (-1, -1, 0)
    assert quiet["lastPrice"] == quiet["openPrice"] == quiet["bidQty"] == ZERO
    everything = ok(api, "/api/v3/ticker/24hr")
    assert [x["symbol"] for x in everything] == ["BTCUSDT", "ETHUSDT"]
    chosen = ok(api, "/api/v3/ticker/24hr", {"symbols": '["ETHUSDT"]'})
    assert [x["symbol"] for x in chosen] == ["ETHUSDT"]
    mini = ok(api, "/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "type": "MINI"})
    assert "bidQty" not in mini and mini["count"] == 3
    assert error(api, "/api/v3/ticker/24hr", {"symbol": "NOPE"}) == (-1121, "Invalid symbol.")


def test_ticker_price(api: ApiClient, market: Market) -> None:
    make_market("ETH")
    now = timezone.now()
    trade_make(market, price="100", qty="1", at=now - timedelta(days=3))
    trade_make(market, price="101.5", qty="1", at=now - timedelta(days=2))
    assert ok(api, "/api/v3/ticker/price", {"symbol": "BTCUSDT"}) == {
        "symbol": "BTCUSDT",
        "price": "101.50000000",
    }
    assert ok(api, "/api/v3/ticker/price") == [
        {"symbol": "BTCUSDT", "price": "101.50000000"},
        {"symbol": "ETHUSDT", "price": ZERO},
    ]


def test_avg_price(api: ApiClient, market: Market) -> None:
    body = ok(api, "/api/v3/avgPrice", {"symbol": "BTCUSDT"})
    assert (body["mins"], body["price"]) == (5, ZERO)
    now = timezone.now()
    trade_make(market, price="200", qty="1", at=now - timedelta(minutes=10))
    fallback = ok(api, "/api/v3/avgPrice", {"symbol": "BTCUSDT"})
    assert fallback["price"] == "200.00000000"  # no trade in 5 min: the last price
    trade_make(market, price="100", qty="1", at=now - timedelta(minutes=2))
    last = trade_make(market, price="130", qty="2", at=now - timedelta(minutes=1))
    body = ok(api, "/api/v3/avgPrice", {"symbol": "BTCUSDT"})
    assert body["price"] == "120.00000000"  # (100 + 260) / 3
    assert body["closeTime"] == to_ms(last.created_at)
