"""The trader UI's wallet endpoints (/ui/api/wallet/...): session-authenticated DRF views over
the wallet services and selectors the /sapi/v1/capital/ endpoints use. Amounts are strings at
the asset's precision; errors are the services' {"code", "msg"}."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from exchange_site.money import fmt
from exchange_site.uiapi import Request, Response, UiApiView, decimal_field, field

from . import selectors
from .models import AddressBookEntry, Deposit, DepositAddress, Network, Withdrawal
from .services.addressbook import address_book_add, address_book_remove
from .services.networks import deposit_address_get_or_create
from .services.twofactor import totp_enabled
from .services.withdrawals import withdrawal_cancel, withdrawal_request

HISTORY_LIMIT = 50
CANCELLABLE = (Withdrawal.Status.REQUESTED, Withdrawal.Status.APPROVED)


def _network(n: Network) -> dict[str, Any]:
    places = n.asset.precision
    return {
        "coin": n.asset.code,
        "network": n.code,
        "name": n.name or n.code,
        "precision": places,
        "isDefault": n.is_default,
        "depositEnabled": n.deposit_enabled,
        "withdrawEnabled": n.withdraw_enabled,
        "withdrawFee": fmt(n.withdraw_fee, places),
        "withdrawMin": fmt(n.withdraw_min, places),
        "withdrawMax": fmt(n.withdraw_max, places),
        "minConfirmations": n.min_confirmations,
        "simulated": n.backend == Network.Backend.SIMULATED,
    }


def _address(a: DepositAddress) -> dict[str, Any]:
    return {"coin": a.network.asset.code, "network": a.network.code, "address": a.address,
            "tag": a.tag}  # fmt: skip


def _deposit(d: Deposit) -> dict[str, Any]:
    return {
        "id": d.pk, "coin": d.asset.code, "network": d.network.code,
        "amount": fmt(d.amount, d.asset.precision), "txid": d.txid, "status": d.status,
        "confirmations": d.confirmations, "minConfirmations": d.network.min_confirmations,
        "time": d.seen_at.isoformat(),
    }  # fmt: skip


def _withdrawal(w: Withdrawal) -> dict[str, Any]:
    places = w.asset.precision
    return {
        "id": w.pk, "coin": w.asset.code, "network": w.network.code, "address": w.address,
        "tag": w.address_tag, "amount": fmt(w.amount, places), "fee": fmt(w.fee, places),
        "status": w.status, "txid": w.txid, "time": w.requested_at.isoformat(),
        "cancellable": w.status in CANCELLABLE,
    }  # fmt: skip


def _reread(user_id: int, withdrawal_id: int) -> Withdrawal:
    w = selectors.withdrawal_get(user_id=user_id, withdrawal_id=withdrawal_id)
    assert w is not None  # the user's own, just written
    return w


def _entry(e: AddressBookEntry) -> dict[str, Any]:
    return {
        "id": e.pk, "coin": e.network.asset.code, "network": e.network.code,
        "address": e.address, "tag": e.tag, "label": e.label,
        "usableAt": e.usable_at.isoformat(), "usable": e.usable_at <= timezone.now(),
    }  # fmt: skip


class WalletApi(UiApiView):
    """GET: networks, deposit addresses, deposit and withdrawal history, the address book and
    whether two-factor authentication is on."""

    def get(self, request: Request) -> Response:
        uid = self.user_id
        return Response(
            {
                "networks": [_network(n) for n in selectors.network_list()],
                "addresses": [_address(a) for a in selectors.deposit_address_list(user_id=uid)],
                "deposits": [
                    _deposit(d) for d in selectors.deposit_list(user_id=uid, limit=HISTORY_LIMIT)
                ],
                "withdrawals": [
                    _withdrawal(w)
                    for w in selectors.withdrawal_list(user_id=uid, limit=HISTORY_LIMIT)
                ],
                "addressBook": [_entry(e) for e in selectors.address_book_list(user_id=uid)],
                "totpEnabled": totp_enabled(user_id=uid),
            }
        )


class DepositAddressApi(UiApiView):
    """POST {coin, network}: the user's deposit address (made on the first request)."""

    def post(self, request: Request) -> Response:
        row = deposit_address_get_or_create(
            user_id=self.user_id,
            coin=field(request.data, "coin") or "",
            network=field(request.data, "network", required=False),
        )
        mine = selectors.deposit_address_list(user_id=self.user_id)
        return Response(next(_address(a) for a in mine if a.pk == row.pk))


class WithdrawalsApi(UiApiView):
    """POST {coin, network, address, tag, amount, totp}: request a withdrawal."""

    def post(self, request: Request) -> Response:
        data = request.data
        w = withdrawal_request(
            user_id=self.user_id,
            coin=field(data, "coin") or "",
            network=field(data, "network", required=False),
            address=field(data, "address") or "",
            address_tag=field(data, "tag", required=False) or "",
            amount=decimal_field(data, "amount"),  # type: ignore[arg-type]
            totp_code=field(data, "totp", required=False),
            source=Withdrawal.Source.UI,
        )
        return Response(_withdrawal(_reread(self.user_id, w.pk)), status=201)


class WithdrawalCancelApi(UiApiView):
    """POST: cancel one of the user's withdrawals before processing starts."""

    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal_cancel(user_id=self.user_id, withdrawal_id=withdrawal_id)
        return Response(_withdrawal(_reread(self.user_id, withdrawal_id)))


class AddressBookApi(UiApiView):
    """POST {coin, network, address, tag, label, totp}: whitelist a withdrawal address."""

    def post(self, request: Request) -> Response:
        data = request.data
        entry = address_book_add(
            user_id=self.user_id,
            coin=field(data, "coin") or "",
            network=field(data, "network", required=False),
            address=field(data, "address") or "",
            tag=field(data, "tag", required=False) or "",
            label=(field(data, "label", required=False) or "")[:64],
            totp_code=field(data, "totp", required=False),
        )
        mine = selectors.address_book_list(user_id=self.user_id)
        return Response(next(_entry(e) for e in mine if e.pk == entry.pk), status=201)


class AddressBookEntryApi(UiApiView):
    """DELETE: take an entry off the address book."""

    def delete(self, request: Request, entry_id: int) -> Response:
        address_book_remove(user_id=self.user_id, entry_id=entry_id)
        return Response(status=204)
