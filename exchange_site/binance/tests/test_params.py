"""Parameter declarations: validation codes and the raw query/body merge. No database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange_site.binance import errors
from exchange_site.binance.params import (
    MAX_SYMBOLS,
    SYMBOL,
    SYMBOL_OPTIONAL,
    SYMBOLS,
    Kind,
    NotTogether,
    OneOf,
    Param,
    limit,
    merge_parts,
    spec,
    when,
)

ORDERISH = spec(
    SYMBOL,
    Param(
        "side",
        Kind.ENUM,
        required=True,
        choices=("BUY", "SELL"),
        enum_error=(-1117, "Invalid side."),
    ),
    Param("type", Kind.ENUM, required=True, choices=("LIMIT", "MARKET")),
    Param(
        "price",
        Kind.DECIMAL,
        required_when=when("type", "LIMIT"),
        forbidden_when=when("type", "MARKET"),
    ),
    Param("quantity", Kind.DECIMAL),
    Param("quoteOrderQty", Kind.DECIMAL),
    Param("icebergQty", Kind.STR, unsupported=True),
    Param("flag", Kind.BOOL, default=False),
    SYMBOLS,
    limit(500, 1000),
    rules=(OneOf(("quantity", "quoteOrderQty"), exactly=True, when=when("type", "MARKET")),),
)
DEC = r"^[0-9]{1,20}(\.[0-9]{1,20})?$"
SYMBOLS_RANGE = r'^\[("[A-Z0-9]{1,32}"(,"[A-Z0-9]{1,32}"){0,}){0,1}\]$'


def mandatory(name: str) -> tuple[int, str]:
    return -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def illegal(name: str, legal: str) -> tuple[int, str]:
    return -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."


def not_required(name: str) -> tuple[int, str]:
    return -1106, f"Parameter '{name}' sent when not required."


def err(raw: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(errors.ApiError) as exc:
        ORDERISH.validate(raw)
    return exc.value.code, exc.value.msg


BASE = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "price": "50000"}


def test_valid_values_are_typed() -> None:
    values = ORDERISH.validate(
        {**BASE, "quantity": "0.01000", "flag": "TRUE", "symbols": '["A","B","A"]', "x": "1"}
    )
    assert values["price"] == Decimal("50000")
    assert values["quantity"] == Decimal("0.01")
    assert values["flag"] is True
    assert values["symbols"] == ["A", "B"]
    assert values["limit"] == 500  # default
    assert values["quoteOrderQty"] is None
    assert "x" not in values  # undeclared parameters are ignored


# A MARKET order without a price (price= sent empty is malformed, not absent).
MARKET = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, mandatory("symbol")),
        ({**BASE, "symbol": ""}, mandatory("symbol")),
        ({**BASE, "symbol": "btcusdt"}, illegal("symbol", "^[A-Z0-9]{1,32}$")),
        ({**BASE, "side": "buy"}, (-1117, "Invalid side.")),
        ({**BASE, "type": "OCO"}, illegal("type", "LIMIT, MARKET")),
        ({**BASE, "price": "1e5"}, illegal("price", DEC)),
        ({**BASE, "price": "-1"}, illegal("price", DEC)),
        ({**BASE, "price": "NaN"}, illegal("price", DEC)),
        ({**BASE, "price": " 1"}, illegal("price", DEC)),
        ({**BASE, "limit": "0"}, illegal("limit", "1-1000")),
        ({**BASE, "limit": "1001"}, illegal("limit", "1-1000")),
        ({**BASE, "limit": "1.5"}, illegal("limit", "^[0-9]{1,20}$")),
        ({**BASE, "flag": "yes"}, illegal("flag", "true, false")),
        ({**BASE, "symbols": "BTCUSDT"}, illegal("symbols", SYMBOLS_RANGE)),
        ({**BASE, "symbols": "[]"}, illegal("symbols", SYMBOLS_RANGE)),
        ({**BASE, "symbols": "[1.5]"}, illegal("symbols", SYMBOLS_RANGE)),
        ({**BASE, "symbols": '["btc"]'}, illegal("symbols", SYMBOLS_RANGE)),
        ({**BASE, "icebergQty": "1"}, (-1014, "Unsupported order combination.")),
        ({**BASE, "price": ""}, mandatory("price")),
        ({**BASE, "type": "MARKET"}, not_required("price")),
        (MARKET, mandatory("quantity")),
        ({**MARKET, "quantity": "1", "quoteOrderQty": "2"}, not_required("quoteOrderQty")),
    ],
)
def test_errors(raw: dict[str, str], expected: tuple[int, str]) -> None:
    assert err(raw) == expected


def test_market_with_exactly_one_amount_passes() -> None:
    for amount in ("quantity", "quoteOrderQty"):
        values = ORDERISH.validate({**MARKET, amount: "10"})
        assert values[amount] == Decimal(10)


def test_merge_query_wins_and_duplicates_are_flagged() -> None:
    raw = merge_parts(b"symbol=ETHUSDT&a=%2B1", b"symbol=BTCUSDT&b=x+y")
    assert raw.values == {"symbol": "ETHUSDT", "a": "+1", "b": "x y"}
    assert raw.duplicate is None
    assert merge_parts(b"a=1&a=2", b"").duplicate == "a"
    assert merge_parts(b"", b"a=1&a=2").duplicate == "a"
    # Undecodable bytes become U+FFFD, which no declared pattern accepts (-1100, never a 500).
    assert merge_parts(b"symbol=%FF", b"").values["symbol"] == "\ufffd"


def test_openapi_schemas_of_params() -> None:
    assert Param("p", Kind.DECIMAL).openapi_schema()["type"] == "string"
    assert limit(500, 1000).openapi_schema() == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": 1000,
        "default": 500,
    }
    side = Param("side", Kind.ENUM, choices=("BUY", "SELL"))
    assert side.openapi_schema() == {"type": "string", "enum": ["BUY", "SELL"]}
    price = Param("price", Kind.DECIMAL, required_when=when("type", "LIMIT"))
    assert "Required when type is LIMIT." in price.openapi_description()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Sent empty is not "absent": the schema declares no empty value for these.
        ({**BASE, "quantity": ""}, illegal("quantity", DEC)),
        ({**BASE, "limit": ""}, illegal("limit", "^[0-9]{1,20}$")),
        ({**BASE, "flag": ""}, illegal("flag", "true, false")),
        ({**BASE, "symbols": ""}, illegal("symbols", SYMBOLS_RANGE)),
        ({**BASE, "symbol": ""}, mandatory("symbol")),
        # Patterns apply to the whole value: "$" alone would accept a trailing newline.
        ({**BASE, "symbol": "BTCUSDT\n"}, illegal("symbol", "^[A-Z0-9]{1,32}$")),
        ({**BASE, "limit": "5\n"}, illegal("limit", "^[0-9]{1,20}$")),
        ({**BASE, "price": "1\n"}, illegal("price", DEC)),
        ({**BASE, "symbols": '["BTCUSDT\\n"]'}, illegal("symbols", SYMBOLS_RANGE)),
    ],
)
def test_empty_and_newline_ended_values(raw: dict[str, str], expected: tuple[int, str]) -> None:
    assert err(raw) == expected


def test_symbols_is_a_json_array_with_json_whitespace() -> None:
    assert ORDERISH.validate({**BASE, "symbols": ' [ "BTCUSDT" ,"ETHUSDT"]\n'})["symbols"] == [
        "BTCUSDT",
        "ETHUSDT",
    ]
    too_many = "[" + ",".join(['"BTCUSDT"'] * (MAX_SYMBOLS + 1)) + "]"
    assert err({**BASE, "symbols": too_many}) == illegal("symbols", SYMBOLS_RANGE)


def test_symbol_with_symbols_is_1128_and_documented() -> None:
    rule = NotTogether(("symbol", "symbols"))
    both = spec(SYMBOL_OPTIONAL, SYMBOLS, rules=(rule,))
    with pytest.raises(errors.ApiError) as caught:
        both.validate({"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'})
    assert (caught.value.code, caught.value.msg) == (
        -1128,
        "Combination of optional parameters invalid.",
    )
    assert "-1128" in rule.describe()
