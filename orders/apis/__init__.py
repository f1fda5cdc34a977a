"""The order endpoints of /api/v3/ (the URL conf routes these names).

- `schema`: parameter declarations and OpenAPI response components;
- `render`: Binance shapes from orders, trades and the services' outcomes;
- `endpoints`: parameters -> one service (orders.outcomes) or read (orders.selectors) -> render.
"""

from .endpoints import (
    all_orders_get,
    my_trades_get,
    open_orders_cancel,
    open_orders_get,
    order_amend_keep_priority,
    order_cancel,
    order_cancel_replace,
    order_get,
    order_new,
    order_test,
)

__all__ = [
    "all_orders_get",
    "my_trades_get",
    "open_orders_cancel",
    "open_orders_get",
    "order_amend_keep_priority",
    "order_cancel",
    "order_cancel_replace",
    "order_get",
    "order_new",
    "order_test",
]
