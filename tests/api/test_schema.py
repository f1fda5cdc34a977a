"""The OpenAPI document and the docs page: served, valid, complete, generated from the
parameter declarations."""

from __future__ import annotations

from django.urls import get_resolver
from openapi_spec_validator import validate

from exchange_site.binance.endpoint import Endpoint
from exchange_site.binance.params import SYMBOL_PATTERN, json_array_pattern
from exchange_site.binance.schema import routed_endpoints
from tests.api_client import ApiClient, make_market

CONTRACT_OPERATIONS = {
    ("get", "/api/v3/ping"),
    ("get", "/api/v3/time"),
    ("get", "/api/v3/exchangeInfo"),
    ("get", "/api/v3/depth"),
    ("get", "/api/v3/trades"),
    ("get", "/api/v3/uiKlines"),
    ("get", "/api/v3/aggTrades"),
    ("get", "/api/v3/klines"),
    ("get", "/api/v3/ticker/24hr"),
    ("get", "/api/v3/ticker/price"),
    ("get", "/api/v3/ticker/bookTicker"),
    ("get", "/api/v3/avgPrice"),
    ("post", "/api/v3/order"),
    ("post", "/api/v3/order/test"),
    ("delete", "/api/v3/order"),
    ("get", "/api/v3/order"),
    ("get", "/api/v3/openOrders"),
    ("delete", "/api/v3/openOrders"),
    ("get", "/api/v3/allOrders"),
    ("get", "/api/v3/myTrades"),
    ("get", "/api/v3/account"),
    ("post", "/api/v3/order/cancelReplace"),
    ("put", "/api/v3/order/amend/keepPriority"),
    # Contract 7.4: listen keys of the user data stream.
    ("post", "/api/v3/userDataStream"),
    ("put", "/api/v3/userDataStream"),
    ("delete", "/api/v3/userDataStream"),
    # Contract section 10: the wallet.
    ("get", "/sapi/v1/capital/config/getall"),
    ("get", "/sapi/v1/capital/deposit/address"),
    ("get", "/sapi/v1/capital/deposit/hisrec"),
    ("post", "/sapi/v1/capital/withdraw/apply"),
    ("get", "/sapi/v1/capital/withdraw/history"),
}


def routed() -> dict[tuple[str, str], Endpoint]:
    result = {}
    for path, endpoints in routed_endpoints(get_resolver().url_patterns):
        for method, ep in endpoints.items():
            result[(method.lower(), path)] = ep
    return result


def test_schema_is_served_valid_and_lists_every_operation(api: ApiClient) -> None:
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    validate(document)  # OpenAPI 3.0 structural validation
    served = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert served == CONTRACT_OPERATIONS == set(routed())


def test_schema_parameters_are_the_declared_ones(api: ApiClient) -> None:
    document = api.get("/api/schema/").json()
    for (method, path), ep in routed().items():
        operation = document["paths"][path][method]
        if method in ("post", "put"):
            body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
            names = set(body["schema"]["properties"])
            required = set(body["schema"].get("required", []))
        else:
            params = operation.get("parameters", [])
            names = {p["name"] for p in params}
            required = {p["name"] for p in params if p["required"]}
        declared = {p.name for p in ep.params.params}
        signed = {"timestamp", "recvWindow", "signature"} if ep.security.signed else set()
        assert names == declared | signed, (method, path)
        assert required == {p.name for p in ep.params.params if p.required} | (
            signed - {"recvWindow"}
        )
        assert operation["security"] == ([{"ApiKey": []}] if ep.security.keyed else [])
        assert "application/json" in operation["responses"]["200"]["content"]


def test_enum_codes_and_patterns_reach_the_schema(api: ApiClient) -> None:
    document = api.get("/api/schema/").json()
    klines = {p["name"]: p for p in document["paths"]["/api/v3/klines"]["get"]["parameters"]}
    assert "1M" in klines["interval"]["schema"]["enum"]
    assert klines["limit"]["schema"]["maximum"] == 1000
    order = document["paths"]["/api/v3/order"]["post"]["requestBody"]["content"]
    props = order["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert props["type"]["enum"] == [
        "LIMIT",
        "LIMIT_MAKER",
        "MARKET",
        "STOP_LOSS",
        "STOP_LOSS_LIMIT",
        "TAKE_PROFIT",
        "TAKE_PROFIT_LIMIT",
    ]
    assert "Required when type is" in props["price"]["description"]
    assert "-1014" in props["icebergQty"]["description"]
    assert "Error" in document["components"]["schemas"]


def test_docs_page_uses_local_static_files(api: ApiClient) -> None:
    page = api.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/docs/static/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    assert "https://" not in html and "http://" not in html  # no CDN
    bundle = api.get("/api/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert b"SwaggerUIBundle" in bundle.content
    css = api.get("/api/docs/static/swagger-ui.css")
    assert css.status_code == 200
    missing = api.get("/api/docs/static/../../settings.py")
    assert missing.status_code == 404


def test_schema_says_what_the_server_does_with_symbol_and_symbols(api: ApiClient) -> None:
    """symbols is a string holding a JSON array (its pattern is the one enforced), symbol with
    symbols is -1128 and said so, and an empty symbol= is refused, not taken as absent."""
    make_market()
    document = api.get("/api/schema/").json()
    for path in ("/api/v3/exchangeInfo", "/api/v3/ticker/24hr", "/api/v3/ticker/price"):
        operation = document["paths"][path]["get"]
        symbols = next(p for p in operation["parameters"] if p["name"] == "symbols")
        assert symbols["schema"]["type"] == "string"
        assert symbols["schema"]["pattern"] == json_array_pattern(SYMBOL_PATTERN)
        assert "JSON array" in symbols["description"]
        assert "-1128" in operation["description"]
        both = api.get(path, {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'})
        assert both.json() == {"code": -1128, "msg": "Combination of optional parameters invalid."}
        empty = api.get(path, {"symbol": ""})
        assert empty.status_code == 400
        assert empty.json()["code"] == -1100
        assert "'symbol'" in empty.json()["msg"]
