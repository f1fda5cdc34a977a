from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from exchange_site.commands import JsonCommand, decimal_arg
from orders.services import market_create


class Command(JsonCommand):
    help = (
        "Create a market (and its missing assets); the running matcher of its shard trades it"
        " within seconds. Prints the market as JSON."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("symbol")
        parser.add_argument("--base", required=True)
        parser.add_argument("--quote", required=True)
        parser.add_argument("--tick", required=True, type=decimal_arg)
        parser.add_argument("--step", required=True, type=decimal_arg)
        parser.add_argument("--min-qty", type=decimal_arg)
        parser.add_argument("--max-qty", type=decimal_arg)
        parser.add_argument("--min-notional", type=decimal_arg)
        parser.add_argument("--maker-fee", type=decimal_arg)
        parser.add_argument("--taker-fee", type=decimal_arg)
        parser.add_argument("--price-band-pct", type=decimal_arg)
        parser.add_argument("--shard", type=int, default=0, help="matcher shard (default 0)")
        parser.add_argument("--reason", default="", help="recorded in the audit log")
        parser.add_argument(
            "--if-missing", action="store_true", help="succeed quietly if it exists"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        from orders.models import Market

        existing = Market.objects.filter(symbol=o["symbol"]).first()
        if existing is not None and o["if_missing"]:
            market = existing
        else:
            optional = {
                "min_qty": o["min_qty"],
                "max_qty": o["max_qty"],
                "min_notional": o["min_notional"],
                "maker_fee": o["maker_fee"],
                "taker_fee": o["taker_fee"],
                "price_band_pct": o["price_band_pct"],
            }
            market = market_create(
                symbol=o["symbol"],
                base=o["base"],
                quote=o["quote"],
                tick_size=o["tick"],
                step_size=o["step"],
                shard=o["shard"],
                reason=o["reason"],
                **{k: v for k, v in optional.items() if v is not None},
            )
        self.emit(
            {
                "symbol": market.symbol,
                "base": market.base.code,
                "quote": market.quote.code,
                "tick_size": market.tick_size.normalize(),
                "step_size": market.step_size.normalize(),
                "min_qty": market.min_qty.normalize(),
                "min_notional": market.min_notional.normalize(),
                "maker_fee": market.maker_fee.normalize(),
                "taker_fee": market.taker_fee.normalize(),
                "status": market.status,
            }
        )
