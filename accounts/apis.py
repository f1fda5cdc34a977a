"""GET /api/v3/account (contract 4.10): balances and the account's trading flags.

Commission fields: the platform's default fee rates (settings.API_ACCOUNT_MAKER_FEE /
API_ACCOUNT_TAKER_FEE, default 0.001 each), in Binance's two forms: basis points as integers
(makerCommission 10 = 0.1 %) and fractions as strings (commissionRates.maker "0.00100000").
Markets may charge their own rates (Market.maker_fee/taker_fee); the fills report the actual
commission. Buyer/seller commissions do not exist here: 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from clearing.selectors import balance_list
from exchange_site.binance import openapi
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, Security, endpoint
from exchange_site.binance.openapi import DECIMAL, INT, TIME_MS, array, component, obj
from exchange_site.binance.params import Kind, Param, spec
from exchange_site.binance.times import now_ms
from exchange_site.money import fmt
from wallet.models import Asset

from .apikeys import KeyInfo

BASIS_POINTS = Decimal(10000)

ACCOUNT = component(
    "Account",
    obj(
        {
            "makerCommission": INT,
            "takerCommission": INT,
            "buyerCommission": INT,
            "sellerCommission": INT,
            "commissionRates": obj(
                {"maker": DECIMAL, "taker": DECIMAL, "buyer": DECIMAL, "seller": DECIMAL}
            ),
            "canTrade": openapi.BOOL,
            "canWithdraw": openapi.BOOL,
            "canDeposit": openapi.BOOL,
            "brokered": openapi.BOOL,
            "requireSelfTradePrevention": openapi.BOOL,
            "preventSor": openapi.BOOL,
            "updateTime": TIME_MS,
            "accountType": openapi.enum("SPOT"),
            "permissions": array(openapi.STRING),
            "uid": INT,
            "balances": array(obj({"asset": openapi.STRING, "free": DECIMAL, "locked": DECIMAL})),
        }
    ),
)


def _balances(user_id: int, include_zero: bool) -> list[dict[str, str]]:
    precision = dict(Asset.objects.values_list("code", "precision"))
    return [
        {
            "asset": b.asset,
            "free": fmt(b.available, precision.get(b.asset, 8)),
            "locked": fmt(b.locked, precision.get(b.asset, 8)),
        }
        for b in balance_list(user_id=user_id, include_zero=include_zero)
    ]


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=20,
    params=spec(
        Param(
            "omitZeroBalances",
            Kind.BOOL,
            default=False,
            description="true: leave out assets whose free and locked are both zero.",
        )
    ),
    response=ACCOUNT,
    summary="Account information and balances",
    tag="Account",
)
async def account(call: Call) -> dict[str, Any]:
    key = call.key
    assert isinstance(key, KeyInfo)  # USER_DATA: authenticated by ApiKeyAuthenticator
    balances = await db_call(_balances, key.user_id, not call.params["omitZeroBalances"])
    maker = Decimal(settings.API_ACCOUNT_MAKER_FEE)
    taker = Decimal(settings.API_ACCOUNT_TAKER_FEE)
    return {
        "makerCommission": int(maker * BASIS_POINTS),
        "takerCommission": int(taker * BASIS_POINTS),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(maker),
            "taker": fmt(taker),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": key.can_trade,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        # No per-account change time is kept; the answer reflects the account as of now.
        "updateTime": now_ms(),
        "accountType": "SPOT",
        "permissions": ["SPOT"],
        "uid": key.user_id,
        "balances": balances,
    }
