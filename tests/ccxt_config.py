"""The configuration of an unmodified ccxt binance client on the local stack (the contract's
section 8): every REST family local, spot only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ccxt

from tests.live import Trader


def ccxt_config(
    base_url: str,
    trader: Trader | None = None,
    *,
    ws: dict[str, Any] | None = None,
    options: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The config dict for ccxt.binance or ccxt.pro.binance; `ws` the WebSocket URLs (ccxt pro),
    `options` added to the client's options."""
    api: dict[str, Any] = {key: f"{base_url}/x/{key}" for key in ccxt.binance().urls["api"]}
    api |= {"public": base_url + "/api/v3", "private": base_url + "/api/v3"}
    if ws is not None:
        api["ws"] = ws
    config: dict[str, Any] = {
        "urls": {"api": api},
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            **(options or {}),
        },
        "timeout": 15000,
    }
    if trader is not None:
        config |= {"apiKey": trader.api_key, "secret": trader.secret}
    return config
