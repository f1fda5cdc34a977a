"""Matching engine: a pure library (stdlib + sortedcontainers). Integers in, events out.

No Django, I/O or clock here (docs/architecture.md); ``matching/engine/ruff.toml`` bans ``django``
and a test imports the package in a fresh interpreter to prove it. Contract: INTERFACE.md.

``OrderBook`` is the mypyc-compiled book (``matching.engine._cbook``, built from book.py by
scripts/build_engine.py) when it was built from the current book.py, else the pure-Python one.
``IMPLEMENTATIONS`` lists both (the engine tests run against each); ``ENGINE_IMPL=python`` in the
environment forces the pure one.
"""

import hashlib as _hashlib
import importlib as _importlib
import os as _os
from pathlib import Path as _Path
from typing import TYPE_CHECKING

from matching.engine.book import OrderBook
from matching.engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    PlaceOrder,
    SetMarketState,
)
from matching.engine.events import (
    AmendRejected,
    BookSnapshot,
    CancelRejected,
    DepthChanges,
    Event,
    MarketStateChanged,
    OrderAccepted,
    OrderAmended,
    OrderDone,
    OrderRejected,
    OrderSnapshot,
    RestingOrder,
    StopTriggered,
    TradeExecuted,
)
from matching.engine.types import (
    DoneReason,
    MarketState,
    OrderType,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)


def _implementations() -> dict[str, type[OrderBook]]:
    found: dict[str, type[OrderBook]] = {"python": OrderBook}
    try:
        compiled = _importlib.import_module("matching.engine._cbook")
    except ImportError:
        return found
    source = _Path(__file__).with_name("book.py").read_bytes()
    if getattr(compiled, "SOURCE_SHA256", None) == _hashlib.sha256(source).hexdigest():
        found["compiled"] = compiled.OrderBook
    return found


IMPLEMENTATIONS = _implementations()
ENGINE_IMPL = _os.environ.get("ENGINE_IMPL") or (
    "compiled" if "compiled" in IMPLEMENTATIONS else "python"
)
if not TYPE_CHECKING:
    OrderBook = IMPLEMENTATIONS.get(ENGINE_IMPL, OrderBook)

__all__ = [
    "ENGINE_IMPL",
    "IMPLEMENTATIONS",
    "AmendOrder",
    "AmendRejected",
    "BookSnapshot",
    "CancelAll",
    "CancelOrder",
    "CancelRejected",
    "CancelReplace",
    "Command",
    "DepthChanges",
    "DoneReason",
    "Event",
    "MarketState",
    "MarketStateChanged",
    "OrderAccepted",
    "OrderAmended",
    "OrderBook",
    "OrderDone",
    "OrderRejected",
    "OrderSnapshot",
    "OrderType",
    "PlaceOrder",
    "RejectReason",
    "RestingOrder",
    "STPMode",
    "SetMarketState",
    "Side",
    "StopTriggered",
    "TimeInForce",
    "TradeExecuted",
]
