"""The wallet page of the trader UI, and the deposit webhook.

The page (`wallet_page`) is a shell: balances, addresses, history and requests go through
/ui/api/wallet (wallet/ui_apis.py) from accounts/static/ui/wallet.js.

The deposit webhook: an external chain watcher reports deposits instead of (or besides)
the polling watcher. Same service, same idempotency: (network, txid, vout).

    POST /wallet/webhooks/deposits
    X-Timestamp: <unix seconds>
    X-Signature: hex HMAC-SHA256(WALLET_WEBHOOK_SECRET, "<timestamp>.<raw body>")
    {"coin": "BTC", "network": "BTC", "txid": "...", "vout": 0, "address": "...", "tag": "",
     "amount": "0.5", "confirmations": 2, "found": true}

`amount` is a decimal string; `found: false` reports that the transaction left the chain.
Answers 200 {"id", "status"} with the deposit's state, 400 {"code", "msg"} for a bad report,
401 for a bad signature or a stale timestamp, 404 when the webhook is disabled (no secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from exchange_site.errors import DomainError

from .models import Deposit
from .services.deposits import deposit_observe
from .services.networks import network_resolve


def _error(code: int, msg: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "msg": msg}, status=status)


def _signature_ok(request: HttpRequest, secret: str) -> bool:
    stamp = request.headers.get("X-Timestamp", "")
    given = request.headers.get("X-Signature", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > settings.WALLET_WEBHOOK_MAX_AGE_S:
        return False
    expected = hmac.new(
        secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, given.lower())


def _report(body: bytes) -> dict[str, Any]:
    data = json.loads(body, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    amount = Decimal(str(data["amount"])) if isinstance(data["amount"], str) else None
    if amount is None or not amount.is_finite():
        raise ValueError("amount must be a decimal string")
    vout, confirmations = data.get("vout", 0), data.get("confirmations", 0)
    if not (isinstance(vout, int) and isinstance(confirmations, int)):
        raise ValueError("vout and confirmations must be integers")
    found = data.get("found", True)
    if not isinstance(found, bool):
        raise ValueError("found must be a boolean")
    return {
        "coin": str(data["coin"]), "network": str(data["network"]), "txid": str(data["txid"]),
        "vout": vout, "address": str(data["address"]), "tag": str(data.get("tag", "")),
        "amount": amount, "confirmations": confirmations, "found": found,
    }  # fmt: skip


@csrf_exempt
@require_POST
def deposit_webhook(request: HttpRequest) -> JsonResponse:
    secret = settings.WALLET_WEBHOOK_SECRET
    if not secret:
        return _error(-1020, "This operation is not supported.", 404)
    if not _signature_ok(request, secret):
        return _error(-1022, "Signature for this request is not valid.", 401)
    try:
        report = _report(request.body)
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        return _error(-1100, f"Malformed deposit report: {exc}", 400)
    try:
        network = network_resolve(coin=report["coin"], network=report["network"])
        deposit = deposit_observe(
            network_id=network.pk, txid=report["txid"], vout=report["vout"],
            address=report["address"], tag=report["tag"], amount=report["amount"],
            confirmations=report["confirmations"], found=report["found"],
            source=Deposit.Source.WEBHOOK,
        )  # fmt: skip
    except DomainError as exc:
        return _error(exc.code, exc.msg, 400)
    return JsonResponse({"id": deposit.pk, "status": deposit.status})


@login_required
def wallet_page(request: HttpRequest) -> HttpResponse:
    return render(request, "wallet/wallet.html")
