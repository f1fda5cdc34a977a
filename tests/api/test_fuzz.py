"""Random and malformed parameters on every endpoint: always a JSON answer, never a 5xx, an
error always {"code": <negative>, "msg"}, and nothing written (row counts unchanged)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings
from django.urls import get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import ApiKey
from clearing.models import Hold, LedgerAccount, LedgerTransaction
from exchange_site.binance.endpoint import Endpoint
from exchange_site.binance.params import INT64_MAX, INT_RE, Kind, Param
from exchange_site.binance.schema import routed_endpoints
from exchange_site.binance.times import MAX_TIME_MS
from exchange_site.money import DECIMAL_RE
from orders.models import Order, Trade
from tests.api_client import ApiClient, Response, make_market

OPERATIONS: list[tuple[str, str, Endpoint]] = sorted(
    (
        (method, path, ep)
        for path, endpoints in routed_endpoints(get_resolver().url_patterns)
        for method, ep in endpoints.items()
    ),
    key=lambda op: (op[1], op[0]),
)
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]
GENEROUS = {
    "default": {"weight_1m": None, "orders_10s": None},
    "pro": {"weight_1m": None, "orders_10s": None},
    "unlimited": {"weight_1m": None, "orders_10s": None},
}
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

any_text = st.text(min_size=1, max_size=30)

# Shapes that gave 500s or leaked internal text (issue 13): too long for a column, ending in a
# newline (a `$` matches before it), beyond an amount column or a datetime, more significant
# digits than a default Decimal context keeps.
HUGE_DECIMALS = st.sampled_from(
    ["1000000000000000000", "99999999999999999999", "99999999999999999999.99999999999999999999"]
)
OVER_PRECISE_DECIMALS = st.sampled_from(
    ["100000000.00000000000000000001", "0.00000000000000000001", "1.00000000000000000001"]
) | st.decimals(min_value=0, max_value=10**9, places=20).map(lambda d: f"{d:f}")
EDGE_INTS = st.sampled_from(
    [MAX_TIME_MS, MAX_TIME_MS + 1, INT64_MAX, INT64_MAX + 1, 10**20 - 1]
).map(str)


def newline_ended(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return values.flatmap(lambda v: st.sampled_from([f"{v}\n", f"{v}\r\n", f"{v}\x00"]))


def too_long(pattern: str) -> st.SearchStrategy[str]:
    """A value of the pattern's alphabet one character longer than it allows (36 + 1 for a
    client order id), sometimes with a newline too."""
    longest = max((int(n) for n in re.findall(r"\{\d+,(\d+)\}", pattern)), default=64)
    base = st.just("a" * (longest + 1)) | st.just("A" * (longest + 1))
    return base | newline_ended(st.just("a" * longest))


def fits(param: Param, value: str) -> bool:
    """Whether `value` could be accepted for `param` (then it is no use as a malformed one)."""
    try:
        param.parse(value)
    except Exception:
        return False
    return True


def malformed(param: Param) -> st.SearchStrategy[str]:
    specific = {
        # "\u0661" is an Arabic-Indic digit one: a digit to str.isdigit, not to the API.
        Kind.DECIMAL: st.sampled_from(["-1", "1e5", "1.", ".5", "NaN", " 1", "1,5", "\u0661"]),
        Kind.INT: st.sampled_from(["-5", "1.0", "9" * 25, "1e3", "", "0x10"]),
        Kind.BOOL: st.sampled_from(["yes", "1", "tru"]),
        Kind.JSON_ARRAY: st.sampled_from(["[", "[]", '["btcusdt"]', "{}", "[1]", '"BTCUSDT"']),
    }.get(param.kind, st.nothing())
    shaped = newline_ended(plausible(param))
    if param.pattern:
        shaped |= too_long(param.pattern)
    if param.kind is Kind.INT:
        shaped |= EDGE_INTS
    return (specific | shaped | any_text).filter(lambda v: v != "" and not fits(param, v))


def plausible(param: Param) -> st.SearchStrategy[str]:
    if param.kind is Kind.DECIMAL:
        usual = st.decimals(min_value=0, max_value=10**7, places=8).map(lambda d: f"{d:f}")
        return usual | HUGE_DECIMALS | OVER_PRECISE_DECIMALS
    if param.kind is Kind.INT:
        return (
            st.integers(min_value=0, max_value=INT64_MAX).map(str)
            | st.integers(0, 5).map(str)
            | EDGE_INTS
        )
    if param.kind is Kind.ENUM:
        return st.sampled_from(param.choices)
    if param.kind is Kind.BOOL:
        return st.sampled_from(["true", "false"])
    if param.kind is Kind.JSON_ARRAY:
        return st.sampled_from(['["BTCUSDT"]', '["BTCUSDT","NOPEUSDT"]'])
    if param.name == "symbol":
        return st.sampled_from(["BTCUSDT", "ETHUSDT", "NOPE"])
    if param.pattern:
        # Anchored patterns: from_regex alone would also end some values in a newline.
        return st.from_regex(re.compile(param.pattern), fullmatch=True).filter(
            lambda v: bool(v) and re.fullmatch(param.pattern or "", v) is not None
        ) | too_long(param.pattern)
    return any_text


@st.composite
def requests(draw: Any, ep: Endpoint, *, force_malformed: bool) -> dict[str, str]:
    params: dict[str, str] = {}
    for param in ep.params.params:
        if draw(st.booleans()):
            params[param.name] = draw(plausible(param) if not param.unsupported else any_text)
    if force_malformed and ep.params.params:
        target = draw(st.sampled_from(ep.params.params))
        params[target.name] = draw(malformed(target))
    names = st.from_regex(r"[a-zA-Z]{1,12}", fullmatch=True)
    extra = draw(st.dictionaries(names, any_text, max_size=2))
    for name, value in extra.items():
        params.setdefault(name, value)
    return params


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Order, Trade, LedgerTransaction, LedgerAccount, Hold, ApiKey)
    )


def check(response: Response, *, must_fail: bool) -> None:
    assert response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if must_fail or response.status_code >= 400:
        assert response.status_code >= 400, body
        assert set(body) == {"code", "msg"}, body
        assert isinstance(body["code"], int) and body["code"] < 0
        assert isinstance(body["msg"], str) and body["msg"]
    elif isinstance(body, dict):
        assert "code" not in body


def send(api: ApiClient, method: str, path: str, ep: Endpoint, params: dict[str, str]) -> Response:
    if ep.security.signed:
        return api.signed(method, path, params)
    return api.public(method, path, params)


@pytest.fixture
def fuzz_api(signed_api: ApiClient) -> ApiClient:
    make_market()  # BTCUSDT exists, so requests get past the symbol check
    return signed_api


@pytest.mark.parametrize(("method", "path", "ep"), OPERATIONS, ids=IDS)
def test_malformed_parameters_are_refused(
    fuzz_api: ApiClient, method: str, path: str, ep: Endpoint
) -> None:
    @FUZZ
    @given(params=requests(ep, force_malformed=True))
    def run(params: dict[str, str]) -> None:
        before = counts()
        response = send(fuzz_api, method, path, ep, params)
        check(response, must_fail=bool(ep.params.params))
        assert counts() == before

    with override_settings(API_RATE_LIMITS=GENEROUS, API_RATE_LIMIT_IP_WEIGHT_1M=10**9):
        run()


@pytest.mark.parametrize(("method", "path", "ep"), OPERATIONS, ids=IDS)
def test_random_plausible_parameters_never_5xx(
    fuzz_api: ApiClient, method: str, path: str, ep: Endpoint
) -> None:
    """Values that may pass validation reach the services: the unfunded trader can create
    nothing, whatever the combination."""

    @FUZZ
    @given(params=requests(ep, force_malformed=False))
    def run(params: dict[str, str]) -> None:
        before = counts()
        response = send(fuzz_api, method, path, ep, params)
        check(response, must_fail=False)
        assert counts() == before

    with override_settings(API_RATE_LIMITS=GENEROUS, API_RATE_LIMIT_IP_WEIGHT_1M=10**9):
        run()


@FUZZ
@given(query=st.text(max_size=60), path=st.sampled_from([p for _, p, _ in OPERATIONS]))
def test_raw_garbage_query_strings(fuzz_api: ApiClient, query: str, path: str) -> None:
    with override_settings(API_RATE_LIMIT_IP_WEIGHT_1M=10**9):
        response = fuzz_api.raw("GET", path, query=query, headers={"X-MBX-APIKEY": "x"})
    check(response, must_fail=False)


def test_malformed_strategy_never_yields_an_acceptable_value() -> None:
    assert not fits(Param("p", Kind.DECIMAL), "1e5")
    assert fits(Param("p", Kind.INT), "5") and INT_RE.match("5") and DECIMAL_RE.match("5")
