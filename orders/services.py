"""Order-side writes: market configuration and the order path."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from exchange_site.errors import InvalidInput
from wallet.services import asset_get_or_create

from .models import Market


@transaction.atomic(durable=True)
def market_create(
    *,
    base: str,
    quote: str,
    tick_size: Decimal,
    step_size: Decimal,
    min_qty: Decimal | None = None,
    max_qty: Decimal = Decimal("9000"),
    min_price: Decimal | None = None,
    max_price: Decimal = Decimal("1000000"),
    min_notional: Decimal = Decimal("5"),
    max_notional: Decimal = Decimal("9000000"),
    maker_fee: Decimal = Decimal("0.001"),
    taker_fee: Decimal = Decimal("0.001"),
    price_band_pct: Decimal = Decimal("0"),
    symbol: str | None = None,
) -> Market:
    """Create a market (and its missing assets). Commits."""
    symbol = symbol or f"{base}{quote}"
    if symbol != f"{base}{quote}":
        raise InvalidInput(f"symbol must be base+quote ({base}{quote}), got {symbol}")
    if base == quote:
        raise InvalidInput("base and quote must differ")
    if Market.objects.filter(symbol=symbol).exists():
        raise InvalidInput(f"market {symbol} already exists")
    min_qty = step_size if min_qty is None else min_qty
    min_price = tick_size if min_price is None else min_price
    for name, value in {
        "tick": tick_size,
        "step": step_size,
        "min-qty": min_qty,
        "max-qty": max_qty,
        "min-price": min_price,
        "max-price": max_price,
    }.items():
        if value <= 0:
            raise InvalidInput(f"{name} must be positive")
    if min_qty > max_qty or min_price > max_price:
        raise InvalidInput("min must not exceed max")
    if min_qty % step_size or max_qty % step_size:
        raise InvalidInput("min-qty and max-qty must be multiples of step")
    if min_price % tick_size or max_price % tick_size:
        raise InvalidInput("min-price and max-price must be multiples of tick")
    for name, fee in {"maker-fee": maker_fee, "taker-fee": taker_fee}.items():
        if not Decimal(0) <= fee < 1:
            raise InvalidInput(f"{name} must be in [0, 1)")
    if price_band_pct < 0:
        raise InvalidInput("price band must not be negative")
    base_asset, _ = asset_get_or_create(code=base)
    quote_asset, _ = asset_get_or_create(code=quote)
    for size, asset in ((step_size, base_asset), (tick_size, quote_asset)):
        if size.as_tuple().exponent < -asset.precision:  # type: ignore[operator]
            raise InvalidInput(
                f"{size} has more decimals than {asset.code} precision {asset.precision}"
            )
    return Market.objects.create(
        symbol=symbol,
        base=base_asset,
        quote=quote_asset,
        tick_size=tick_size,
        step_size=step_size,
        min_qty=min_qty,
        max_qty=max_qty,
        min_price=min_price,
        max_price=max_price,
        min_notional=min_notional,
        max_notional=max_notional,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        price_band_pct=price_band_pct,
    )
