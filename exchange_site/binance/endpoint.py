"""The `endpoint` decorator: one declaration per operation, used for handling and for the schema.

    @endpoint("GET", security=Security.NONE, weight=1, params=spec(SYMBOL), response=...)
    async def avg_price(call: Call) -> dict[str, Any]: ...

and in the app's api_urls.py: `path("v3/avgPrice", route(avg_price))`.

Handling order for every request (contract section 2, "Check order"):
0. size: a body over settings.API_MAX_BODY_BYTES (413 -1101; the ASGI front refuses it before
   reading it) or more than settings.API_MAX_PARAMS fields (-1101), before anything is parsed;
1. the address's request weight (ratelimit.rate_limit_ip), before any authentication: 429 -1003
   with Retry-After for a public request over the per-IP limit; every response carries
   X-MBX-USED-WEIGHT-1M once counted;
2. SIGNED: API key (through settings.API_KEY_AUTHENTICATOR, see auth.py: -2014 missing or
   malformed, -2015 unknown/disabled/IP/permission), `timestamp`/`signature` present (-1102),
   signature (-1022); any of these failing on an address over its IP limit: 429 -1003 instead;
   then the key's limits (ratelimit.rate_limit_key: -1003 weight, -1015 orders), charged only
   now, and the timing (-1021, -1131);
3. endpoint parameters (-1100, -1101, -1102, -1106, -1128, enum codes, -1014);
4. the endpoint itself; DomainErrors it raises become {"code", "msg"}, except InvalidInput (the
   operators' and the ledger's error, whose text is internal).
Redis or PostgreSQL unreachable: 503 -1001. Anything unexpected, InvalidInput included: 500 -1000
"An unknown error occurred while processing the request.", the detail logged only.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import redis.exceptions
import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from exchange_site.errors import DomainError, InvalidInput

from . import errors
from .auth import SigningKey, key_authenticator
from .params import ParamSpec, merge_parts, spec
from .ratelimit import rate_limit_ip, rate_limit_key
from .responses import error_response, json_response
from .signing import timing_check

log = structlog.get_logger(__name__)

BODY_METHODS = frozenset({"POST", "PUT", "DELETE"})
UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class Security(enum.Enum):
    NONE = "NONE"
    USER_DATA = "USER_DATA"  # needs the key's read permission
    TRADE = "TRADE"  # needs the key's trade permission
    WITHDRAW = "WITHDRAW"  # Binance's USER_DATA plus the key's withdraw permission
    # The key header only (read permission), no timestamp or signature: Binance's listen-key
    # endpoints (/api/v3/userDataStream).
    USER_STREAM = "USER_STREAM"

    @property
    def keyed(self) -> bool:
        """The request must carry an API key (X-MBX-APIKEY)."""
        return self is not Security.NONE

    @property
    def signed(self) -> bool:
        """The request must also carry timestamp and signature."""
        return self is not Security.NONE and self is not Security.USER_STREAM


@dataclass(frozen=True, slots=True)
class Call:
    """What an endpoint function receives."""

    request: HttpRequest
    params: dict[str, Any]
    key: SigningKey | None  # SIGNED endpoints: the key the request was authenticated with

    @property
    def user_id(self) -> int:
        if self.key is None:  # pragma: no cover - only SIGNED endpoints ask
            raise errors.key_rejected()
        return self.key.user_id


Handler = Callable[[Call], Awaitable[Any]]
Weight = int | Callable[[Mapping[str, str]], int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    func: Handler
    security: Security
    weight: Weight
    params: ParamSpec
    response: dict[str, Any]  # OpenAPI schema of the 200 body
    summary: str
    description: str = ""
    tag: str = "Market"
    orders: int = 0  # new orders counted against the order-rate limit
    weight_doc: str = ""

    @property
    def name(self) -> str:
        return self.func.__name__

    def weight_for(self, raw: Mapping[str, str]) -> int:
        if isinstance(self.weight, int):
            return self.weight
        try:
            return self.weight(raw)
        except (ValueError, TypeError):  # malformed params: answered later, weigh the default
            return self.weight({})

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        headers: dict[str, str] = {}
        try:
            return await self._handle(request, headers)
        except InvalidInput:
            # The operators' error (configuration, ledger invariants): its text is internal,
            # and reaching it from a request is a bug in the request's validation.
            log.exception("api_internal_error", endpoint=self.name)
            bug = errors.unknown_error()
            return error_response(bug.code, bug.msg, status=bug.http_status, headers=headers)
        except DomainError as exc:
            response = error_response(exc.code, exc.msg, status=exc.http_status, headers=headers)
            data = getattr(exc, "data", None)
            if data is not None:  # e.g. cancelReplace's per-side outcome
                response = json_response(
                    {"code": exc.code, "msg": exc.msg, "data": data},
                    status=exc.http_status,
                    headers=headers,
                )
            return response
        except UNAVAILABLE:
            log.warning("api_dependency_down", endpoint=self.name, exc_info=True)
            down = errors.dependency_down()
            return error_response(down.code, down.msg, status=down.http_status, headers=headers)
        except Exception:
            log.exception("api_unexpected_error", endpoint=self.name)
            bug = errors.unknown_error()
            return error_response(bug.code, bug.msg, status=bug.http_status, headers=headers)

    async def _handle(self, request: HttpRequest, headers: dict[str, str]) -> HttpResponse:
        query = raw_query(request)
        body = request_body(request) if request.method in BODY_METHODS else b""
        fields_check(query, body)
        raw = merge_parts(query, body)
        ip = request.META.get("REMOTE_ADDR") or "unknown"
        weight = self.weight_for(raw.values)

        # 1. The address pays first, before any key is looked up or any HMAC computed.
        ip_usage = await rate_limit_ip(ip=ip, weight=weight)
        headers["X-MBX-USED-WEIGHT-1M"] = str(ip_usage.used)
        if ip_usage.over and not self.security.signed:
            headers["Retry-After"] = str(ip_usage.retry_after_s)
            raise ip_usage.error()

        key: SigningKey | None = None
        if self.security.keyed:
            try:
                key = await self._authenticate(
                    request, query, body, raw.values, over_ip_limit=ip_usage.over
                )
            except errors.ApiError:
                if ip_usage.over:  # no key lifts the ceiling of this address
                    headers["Retry-After"] = str(ip_usage.retry_after_s)
                    raise ip_usage.error() from None
                raise
            # 2. The key pays once it is checked (and its signature, when SIGNED).
            usage = await rate_limit_key(ip=ip_usage, key=key, weight=weight, orders=self.orders)
            headers.update(usage.headers)
            if usage.error is not None:
                headers["Retry-After"] = str(usage.retry_after_s)
                raise usage.error
        if key is not None and self.security.signed:
            timing_check(
                timestamp=raw.values.get("timestamp", ""),
                recv_window=raw.values.get("recvWindow"),
                now_us=time.time_ns() // 1000,
            )
        if key is not None:
            await key_authenticator().mark_used(key)

        if raw.duplicate is not None:
            raise errors.duplicate_param()
        params = self.params.validate(raw.values)
        result = await self.func(Call(request, params, key))
        if isinstance(result, HttpResponse):
            for name, value in headers.items():
                result[name] = value
            return result
        return json_response(result, headers=headers)

    async def _authenticate(
        self,
        request: HttpRequest,
        query: bytes,
        body: bytes,
        values: Mapping[str, str],
        *,
        over_ip_limit: bool,
    ) -> SigningKey:
        """The key of a keyed request, its permissions and address (-2014/-2015), the presence
        of timestamp and signature (-1102) and the signature (-1022); timing comes after the
        key's rate limits (contract section 2)."""
        key = await key_authenticator().authorize(
            request.headers.get("X-MBX-APIKEY"),
            ip=request.META.get("REMOTE_ADDR") or "unknown",
            need_trade=self.security is Security.TRADE,
            need_withdraw=self.security is Security.WITHDRAW,
            over_ip_limit=over_ip_limit,
        )
        if not self.security.signed:  # USER_STREAM: the key header alone
            return key
        if values.get("timestamp", "") == "":
            raise errors.mandatory("timestamp")
        signature = values.get("signature", "")
        if signature == "":
            raise errors.mandatory("signature")
        key.signature_check(query=query, body=body, signature=signature)
        return key


def request_body(request: HttpRequest) -> bytes:
    """The raw body, refused (-1101, HTTP 413) above settings.API_MAX_BODY_BYTES before it is
    read. The ASGI front (asgi.py) refuses it before building the request; this covers the
    normal Django stack (the WSGI test client)."""
    limit = settings.API_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise errors.body_too_large(limit)
    body = request.body
    if len(body) > limit:
        raise errors.body_too_large(limit)
    return body


def fields_check(query: bytes, body: bytes) -> None:
    """At most settings.API_MAX_PARAMS name=value pairs in the query and the body together,
    counted before anything is parsed (-1101)."""
    limit = settings.API_MAX_PARAMS
    count = (query.count(b"&") + 1 if query else 0) + (body.count(b"&") + 1 if body else 0)
    if count > limit:
        raise errors.too_many_params(limit, count)


def raw_query(request: HttpRequest) -> bytes:
    """The query string as received, for the signature: ASGI keeps the raw bytes in the scope;
    under WSGI (the test client) QUERY_STRING holds them decoded as latin-1."""
    scope = getattr(request, "scope", None)
    if scope is not None:
        query = scope.get("query_string", b"")
        # ASGI servers give bytes; Django's AsyncClient puts a str there.
        return query.encode("latin-1", "replace") if isinstance(query, str) else bytes(query)
    return str(request.META.get("QUERY_STRING", "")).encode("latin-1", "replace")


def endpoint(
    method: str,
    *,
    response: dict[str, Any],
    summary: str,
    security: Security = Security.NONE,
    weight: Weight = 1,
    params: ParamSpec | None = None,
    description: str = "",
    tag: str = "Market",
    orders: int = 0,
    weight_doc: str = "",
) -> Callable[[Handler], Endpoint]:
    def wrap(func: Handler) -> Endpoint:
        return Endpoint(
            method=method,
            func=func,
            security=security,
            weight=weight,
            params=params if params is not None else spec(),
            response=response,
            summary=summary,
            description=description,
            tag=tag,
            orders=orders,
            weight_doc=weight_doc,
        )

    return wrap


ApiView = Callable[..., Coroutine[Any, Any, HttpResponse]]


def route(*endpoints: Endpoint) -> ApiView:
    """The view of one path: dispatches on the method to its endpoints (405 otherwise).

    The endpoints stay reachable as `view.endpoints` (method -> Endpoint) for the schema.
    """
    table = {ep.method: ep for ep in endpoints}
    if len(table) != len(endpoints):
        raise ValueError("two endpoints with one method on one path")

    async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ep = table.get(request.method or "")
        if ep is None:
            exc = errors.not_supported(http_status=405)
            response = error_response(exc.code, exc.msg, status=405)
            response["Allow"] = ", ".join(sorted(table))
            return response
        return await ep(request)

    view.endpoints = table  # type: ignore[attr-defined]
    view.__name__ = view.__qualname__ = f"api_{endpoints[0].name}"
    # API requests carry no CSRF token; they are authenticated by signature or are public.
    return csrf_exempt(view)


__all__ = ["ApiView", "Call", "Endpoint", "Security", "endpoint", "route"]
