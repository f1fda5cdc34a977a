"""The client's IP address: the TCP peer, or the X-Forwarded-For entry a trusted proxy added.

Behind the recommended TLS proxy every request's peer is the proxy: taken as is, every client
would share one rate-limit bucket and API-key IP allow-lists could not work. Taken from
X-Forwarded-For blindly, any client could name any address. So the header counts only when the
peer is in TRUSTED_PROXIES (CIDR list), and only as far as the proxies we trust wrote it: walking
the list from the right (the entry our proxy appended), trusted hops are skipped and the first
address that is not a trusted proxy is the client.

Used by both HTTP entries: the lean API front (exchange_site.binance.asgi) and Django's
middleware stack (trusted_proxy_middleware), so rate limits, IP allow-lists, login throttling and
the audit log all see the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, MutableMapping
from functools import lru_cache
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotANetwork(ValueError):
    """An entry of a network list that is neither a CIDR nor an address (`text`)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"not an IP network: {text!r}")
        self.text = text


def networks_parse(raw: str | Iterable[str]) -> tuple[Network, ...]:
    """A comma list (or an iterable) of CIDRs or single addresses; NotANetwork names a bad one."""
    items = raw.split(",") if isinstance(raw, str) else raw
    out: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise NotANetwork(text) from exc
    return tuple(out)


def address_parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def address_in(addr: Address, proxies: tuple[Network, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in proxies)


def client_ip(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The client address for a request from `peer` carrying X-Forwarded-For `forwarded_for`."""
    peer_addr = address_parse(peer)
    if peer_addr is None or not proxies or not forwarded_for or not address_in(peer_addr, proxies):
        return peer
    client = peer_addr
    for hop in reversed(forwarded_for.split(",")):
        addr = address_parse(hop)
        if addr is None:
            # Garbage in the chain: what lies left of it is unverifiable; the last hop we could
            # verify (a trusted proxy) stands for the client.
            break
        client = addr
        if not address_in(addr, proxies):
            break
    return str(client)


@lru_cache(maxsize=8)
def _proxies(raw: tuple[str, ...]) -> tuple[Network, ...]:
    return networks_parse(raw)


def trusted_proxies() -> tuple[Network, ...]:
    return _proxies(tuple(settings.TRUSTED_PROXIES))


def meta_client_ip(meta: MutableMapping[str, Any]) -> str:
    """Resolve the client of a request's META (REMOTE_ADDR, HTTP_X_FORWARDED_FOR)."""
    peer = str(meta.get("REMOTE_ADDR") or "")
    return client_ip(peer, meta.get("HTTP_X_FORWARDED_FOR"), trusted_proxies())


def meta_apply(meta: MutableMapping[str, Any]) -> None:
    """Put the client's address in REMOTE_ADDR; a request that did not come through a trusted
    proxy loses its X-Forwarded-* headers, so nothing downstream (SECURE_PROXY_SSL_HEADER
    included) can be fooled by them."""
    peer = str(meta.get("REMOTE_ADDR") or "")
    peer_addr = address_parse(peer)
    proxies = trusted_proxies()
    if peer_addr is None or not address_in(peer_addr, proxies):
        for name in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"):
            meta.pop(name, None)
        return
    meta["REMOTE_ADDR"] = client_ip(peer, meta.get("HTTP_X_FORWARDED_FOR"), proxies)


def request_client_ip(request: HttpRequest) -> str:
    """For libraries that ask for a callable (django-axes' AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR
    has been resolved by trusted_proxy_middleware already."""
    return str(request.META.get("REMOTE_ADDR") or "")


@sync_and_async_middleware
def trusted_proxy_middleware(get_response: Any) -> Any:
    """First in MIDDLEWARE: every later middleware and view sees the client's address."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            meta_apply(request.META)
            response: HttpResponse = await get_response(request)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        meta_apply(request.META)
        response: HttpResponse = get_response(request)
        return response

    return middleware
