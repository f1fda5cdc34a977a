"""Binance wallet endpoints under /sapi/v1/capital/ (contract section 10), for bots.

Same framework as /api/v3/ (exchange_site.binance): `@endpoint` declarations, SIGNED checks,
errors as {"code", "msg"}. Business rules live in wallet.services; these views parse, call one
service on the API thread pool and render Binance's shapes.

Status codes, as Binance numbers them:
- deposits: 0 pending (waiting for confirmations), 1 credited, 2 dropped (vanished from the
  chain before it was credited: Binance's "rejected");
- withdrawals: 2 awaiting approval (requested), 4 processing (approved, processing or sent and
  waiting for confirmations), 6 completed (confirmed), 1 cancelled, 3 rejected, 5 failure.
Withdrawal errors: Binance's codes where Binance has one (-4007, -4018, -4019, -4022, -4023,
-4026, -4028, -4029, -4032, -4035, -4036, -1111), ours for the rest (-9101 deposits suspended,
-9102 withdrawOrderId reused for another withdrawal, -9103 unknown network). A key without the
withdraw permission gets -2015.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clearing.selectors import balance_list
from exchange_site.binance import openapi
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, Security, endpoint
from exchange_site.binance.openapi import DECIMAL, INT, STRING, TIME_MS, array, component, obj
from exchange_site.binance.params import Kind, Param, spec
from exchange_site.binance.times import from_ms, to_ms
from exchange_site.money import fmt

from . import selectors
from .models import Deposit, Network, Withdrawal
from .services.networks import deposit_address_get_or_create
from .services.withdrawals import withdrawal_request

COIN_PATTERN = r"^[A-Z0-9]{1,16}$"
NETWORK_PATTERN = r"^[A-Z0-9]{1,16}$"
ADDRESS_PATTERN = r"^[A-Za-z0-9]{1,128}$"
TAG_PATTERN = r"^[A-Za-z0-9]{0,64}$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

DEPOSIT_STATUS = {Deposit.Status.PENDING: 0, Deposit.Status.CREDITED: 1, Deposit.Status.DROPPED: 2}
DEPOSIT_STATUS_BY_CODE = {v: k for k, v in DEPOSIT_STATUS.items()}
W = Withdrawal.Status
WITHDRAW_STATUS = {
    W.REQUESTED: 2, W.APPROVED: 4, W.PROCESSING: 4, W.SENT: 4, W.CONFIRMED: 6,
    W.CANCELLED: 1, W.REJECTED: 3, W.FAILED: 5,
}  # fmt: skip

COIN = Param("coin", Kind.STR, required=True, pattern=COIN_PATTERN, description="e.g. BTC")
COIN_OPTIONAL = Param("coin", Kind.STR, pattern=COIN_PATTERN, description="e.g. BTC")
NETWORK = Param(
    "network", Kind.STR, pattern=NETWORK_PATTERN, description="Network code; default: the"
    " coin's default network (see capital/config/getall).",
)  # fmt: skip
OFFSET = Param("offset", Kind.INT, default=0, description="Items to skip (newest first).")
LIMIT = Param("limit", Kind.INT, minimum=1, maximum=1000, default=1000, description="1-1000.")
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last representable instant
START_TIME = Param("startTime", Kind.INT, maximum=MAX_TIME_MS, description="Inclusive, ms.")
END_TIME = Param("endTime", Kind.INT, maximum=MAX_TIME_MS, description="Inclusive, ms.")


def _apply_time(value: datetime | None) -> str:
    # Binance renders applyTime/completeTime as "YYYY-MM-DD HH:MM:SS" (UTC), not as ms.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


# ------------------------------------------------------------------------ config/getall

NETWORK_ITEM = component(
    "WalletNetwork",
    obj(
        {
            "network": STRING, "coin": STRING, "name": STRING, "withdrawFee": DECIMAL,
            "withdrawMin": DECIMAL, "withdrawMax": DECIMAL, "withdrawIntegerMultiple": DECIMAL,
            "depositEnable": openapi.BOOL, "withdrawEnable": openapi.BOOL, "minConfirm": INT,
            "unLockConfirm": INT, "isDefault": openapi.BOOL, "depositDesc": STRING,
            "withdrawDesc": STRING, "specialTips": STRING, "busy": openapi.BOOL,
            "sameAddress": openapi.BOOL, "resetAddressStatus": openapi.BOOL,
            "addressRegex": STRING, "memoRegex": STRING,
        }
    ),
)  # fmt: skip
COIN_INFO = component(
    "WalletCoin",
    obj(
        {
            "coin": STRING, "name": STRING, "free": DECIMAL, "locked": DECIMAL,
            "freeze": DECIMAL, "withdrawing": DECIMAL, "ipoing": DECIMAL, "ipoable": DECIMAL,
            "storage": DECIMAL, "isLegalMoney": openapi.BOOL, "trading": openapi.BOOL,
            "depositAllEnable": openapi.BOOL, "withdrawAllEnable": openapi.BOOL,
            "networkList": array(NETWORK_ITEM),
        }
    ),
)  # fmt: skip


def _network_item(n: Network) -> dict[str, Any]:
    places = n.asset.precision
    simulated = " Simulated chain (not a real blockchain)." if n.simulated else ""
    return {
        "network": n.code,
        "coin": n.asset.code,
        "name": n.name or n.code,
        "withdrawFee": fmt(n.withdraw_fee, places),
        "withdrawMin": fmt(n.withdraw_min, places),
        "withdrawMax": fmt(n.withdraw_max, places),
        "withdrawIntegerMultiple": fmt(Decimal(1).scaleb(-places), places),
        "depositEnable": n.deposit_enabled,
        "withdrawEnable": n.withdraw_enabled,
        "minConfirm": n.min_confirmations,
        "unLockConfirm": n.min_confirmations,
        "isDefault": n.is_default,
        "depositDesc": "" if n.deposit_enabled else "Deposits suspended.",
        "withdrawDesc": "" if n.withdraw_enabled else "Withdrawals suspended.",
        "specialTips": simulated.strip(),
        "busy": False,
        "sameAddress": False,
        "resetAddressStatus": False,
        "addressRegex": f"^sim{n.code.lower()}1[a-z0-9]{{8,64}}$" if n.simulated else "",
        "memoRegex": "",
    }


def _config_all(user_id: int) -> list[dict[str, Any]]:
    networks: dict[str, list[Network]] = {}
    for n in selectors.network_list():
        networks.setdefault(n.asset.code, []).append(n)
    balances = {b.asset: b for b in balance_list(user_id=user_id)}
    result = []
    for asset in selectors.asset_list():
        places = asset.precision
        nets = networks.get(asset.code, [])
        balance = balances.get(asset.code)
        zero = fmt(Decimal(0), places)
        result.append(
            {
                "coin": asset.code,
                "name": asset.name or asset.code,
                "free": fmt(balance.available if balance else None, places),
                "locked": fmt(balance.locked if balance else None, places),
                "freeze": zero, "withdrawing": zero, "ipoing": zero, "ipoable": zero,
                "storage": zero, "isLegalMoney": False, "trading": True,
                "depositAllEnable": any(n.deposit_enabled for n in nets),
                "withdrawAllEnable": any(n.withdraw_enabled for n in nets),
                "networkList": [_network_item(n) for n in nets],
            }
        )  # fmt: skip
    return result


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=10,
    response=array(COIN_INFO),
    summary="All coins: balances and deposit/withdrawal networks",
    description="Networks whose chain is simulated say so in `name` and `specialTips`.",
    tag="Wallet",
)
async def config_getall(call: Call) -> list[dict[str, Any]]:
    return await db_call(_config_all, call.user_id)


# ------------------------------------------------------------------------ deposit address

DEPOSIT_ADDRESS = component(
    "DepositAddress", obj({"coin": STRING, "address": STRING, "tag": STRING, "url": STRING})
)


def _deposit_address(user_id: int, coin: str, network: str | None) -> dict[str, str]:
    row = deposit_address_get_or_create(user_id=user_id, coin=coin, network=network)
    return {"coin": coin, "address": row.address, "tag": row.tag, "url": ""}


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=10,
    params=spec(COIN, NETWORK),
    response=DEPOSIT_ADDRESS,
    summary="Deposit address (made on the first request)",
    description="Errors: -4018 unknown coin, -9103 unknown network, -9101 deposits suspended."
    " `url` (a block explorer link) is empty: the simulated chain has no explorer.",
    tag="Wallet",
)
async def deposit_address(call: Call) -> dict[str, str]:
    p = call.params
    return await db_call(_deposit_address, call.user_id, p["coin"], p["network"])


# ------------------------------------------------------------------------ deposit history

DEPOSIT = component(
    "Deposit",
    obj(
        {
            "id": STRING, "amount": DECIMAL, "coin": STRING, "network": STRING,
            "status": {"type": "integer", "enum": [0, 1, 2]}, "address": STRING,
            "addressTag": STRING, "txId": STRING, "insertTime": TIME_MS, "completeTime": INT,
            "transferType": INT, "confirmTimes": STRING, "unlockConfirm": INT,
            "walletType": INT,
        }
    ),
)  # fmt: skip


def _deposits(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    status = DEPOSIT_STATUS_BY_CODE.get(p["status"]) if p["status"] is not None else None
    if p["status"] is not None and status is None:
        return []
    rows = selectors.deposit_list(
        user_id=user_id, coin=p["coin"], status=status, txid=p["txId"],
        start=from_ms(p["startTime"]) if p["startTime"] is not None else None,
        end=from_ms(p["endTime"]) if p["endTime"] is not None else None,
        offset=p["offset"], limit=p["limit"],
    )  # fmt: skip
    out = []
    for d in rows:
        required = d.network.min_confirmations
        out.append(
            {
                "id": str(d.pk),
                "amount": fmt(d.amount, d.asset.precision),
                "coin": d.asset.code,
                "network": d.chain,
                "status": DEPOSIT_STATUS[Deposit.Status(d.status)],
                "address": d.address.address,
                "addressTag": d.address.tag,
                "txId": d.txid,
                "insertTime": to_ms(d.seen_at),
                "completeTime": to_ms(d.credited_at) if d.credited_at else 0,
                "transferType": 0,
                "confirmTimes": f"{min(d.confirmations, required)}/{required}",
                "unlockConfirm": required,
                "walletType": 0,
            }
        )
    return out


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=1,
    params=spec(
        COIN_OPTIONAL,
        Param("status", Kind.INT, maximum=9, description="0 pending, 1 credited, 2 dropped."),
        START_TIME, END_TIME, OFFSET, LIMIT,
        Param("txId", Kind.STR, pattern=r"^[A-Za-z0-9]{1,128}$"),
    ),
    response=array(DEPOSIT),
    summary="Deposit history (newest first)",
    description="status: 0 pending (waiting for confirmations), 1 credited, 2 dropped (left the"
    " chain before it was credited).",
    tag="Wallet",
)  # fmt: skip
async def deposit_history(call: Call) -> list[dict[str, Any]]:
    return await db_call(_deposits, call.user_id, call.params)


# ------------------------------------------------------------------------ withdraw apply

WITHDRAW_ID = component("WithdrawId", obj({"id": STRING}))


def _apply(user_id: int, p: dict[str, Any]) -> dict[str, str]:
    w = withdrawal_request(
        user_id=user_id, coin=p["coin"], address=p["address"], amount=p["amount"],
        network=p["network"], address_tag=p["addressTag"] or "",
        withdraw_order_id=p["withdrawOrderId"], totp_code=p["totpCode"],
        source=Withdrawal.Source.API,
    )  # fmt: skip
    return {"id": str(w.pk)}


@endpoint(
    "POST",
    security=Security.WITHDRAW,
    weight=10,
    params=spec(
        COIN,
        Param("address", Kind.STR, required=True, pattern=ADDRESS_PATTERN,
              description="An address of your address book whose cool-down has passed."),
        Param("amount", Kind.DECIMAL, required=True,
              description="Debited from your balance; the network fee is part of it."),
        NETWORK,
        Param("addressTag", Kind.STR, pattern=TAG_PATTERN, description="Memo/tag, if any."),
        Param("withdrawOrderId", Kind.STR, pattern=CLIENT_ID_PATTERN,
              description="Your idempotency key: the same request again returns the same id."),
        Param("totpCode", Kind.STR, pattern=r"^[0-9]{6,8}$",
              description="Platform extension: the current TOTP code, required once the account"
              " has two-factor authentication enabled."),
    ),
    response=WITHDRAW_ID,
    summary="Request a withdrawal",
    description="Places a hold at once; the withdrawal is then reviewed (one approver, two"
    " above the network's threshold; a verified account's small withdrawal is approved"
    " automatically) and sent. Errors: -4018 unknown coin, -9103 unknown network, -4019"
    " withdrawals suspended, -1111 precision, -4022 below the minimum, -4028 not above the fee,"
    " -4023 above the maximum or the 24 h / 30 day limit, -4007 malformed address, -9102"
    " withdrawOrderId reused, -4032 two-factor code missing or invalid, -4035 address not in"
    " the address book, -4036 address still in its cool-down, -4026 insufficient balance,"
    " -2015 key without the withdraw permission.",
    tag="Wallet",
)  # fmt: skip
async def withdraw_apply(call: Call) -> dict[str, str]:
    return await db_call(_apply, call.user_id, call.params)


# ------------------------------------------------------------------------ withdraw history

WITHDRAWAL = component(
    "Withdrawal",
    obj(
        {
            "id": STRING, "amount": DECIMAL, "transactionFee": DECIMAL, "coin": STRING,
            "status": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]}, "address": STRING,
            "addressTag": STRING, "txId": STRING, "applyTime": STRING, "completeTime": STRING,
            "network": STRING, "transferType": INT, "withdrawOrderId": STRING,
            "info": STRING, "confirmNo": INT, "walletType": INT, "txKey": STRING,
        }
    ),
)  # fmt: skip


def _withdrawals(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = None
    if p["status"] is not None:
        statuses = [str(s) for s, code in WITHDRAW_STATUS.items() if code == p["status"]]
    ids = None
    if p["idList"] is not None:
        ids = [int(x) for x in p["idList"].split(",") if x]
    rows = selectors.withdrawal_list(
        user_id=user_id, coin=p["coin"], statuses=statuses,
        withdraw_order_id=p["withdrawOrderId"], ids=ids,
        start=from_ms(p["startTime"]) if p["startTime"] is not None else None,
        end=from_ms(p["endTime"]) if p["endTime"] is not None else None,
        offset=p["offset"], limit=p["limit"],
    )  # fmt: skip
    out = []
    for w in rows:
        places = w.asset.precision
        out.append(
            {
                "id": str(w.pk),
                "amount": fmt(w.amount, places),
                "transactionFee": fmt(w.fee, places),
                "coin": w.asset.code,
                "status": WITHDRAW_STATUS[W(w.status)],
                "address": w.address,
                "addressTag": w.address_tag,
                "txId": w.txid,
                "applyTime": _apply_time(w.requested_at),
                "completeTime": _apply_time(w.confirmed_at),
                "network": w.network.code,
                "transferType": 0,
                "withdrawOrderId": w.withdraw_order_id or "",
                "info": w.reason,
                "confirmNo": w.confirmations,
                "walletType": 0,
                "txKey": "",
            }
        )
    return out


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=10,
    params=spec(
        COIN_OPTIONAL,
        Param("withdrawOrderId", Kind.STR, pattern=CLIENT_ID_PATTERN),
        Param("status", Kind.INT, maximum=9, description="Binance's withdrawal status number."),
        OFFSET, LIMIT,
        Param("idList", Kind.STR, pattern=r"^[0-9]{1,20}(,[0-9]{1,20}){0,44}$",
              description="Comma-separated ids, at most 45."),
        START_TIME, END_TIME,
    ),
    response=array(WITHDRAWAL),
    summary="Withdrawal history (newest first)",
    description="status: 2 awaiting approval, 4 processing (approved, being sent, or sent and"
    " waiting for confirmations; txId is set once sent), 6 completed (confirmed), 1 cancelled,"
    " 3 rejected, 5 failure. `amount` is what left the balance, `transactionFee` is part of"
    " it; `info` carries the reason of a rejection, cancellation or failure. applyTime and"
    " completeTime are UTC \"YYYY-MM-DD HH:MM:SS\" strings, as Binance sends them.",
    tag="Wallet",
)  # fmt: skip
async def withdraw_history(call: Call) -> list[dict[str, Any]]:
    return await db_call(_withdrawals, call.user_id, call.params)
