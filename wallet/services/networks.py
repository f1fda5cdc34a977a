"""Networks (per-asset chain configuration) and deposit addresses."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from exchange_site.errors import InvalidInput
from wallet import errors
from wallet.chain import backend_for
from wallet.models import Asset, DepositAddress, Network


def network_resolve(*, coin: str, network: str | None = None) -> Network:
    """The network `network` of asset `coin`, or the asset's default one (its only one)."""
    asset = Asset.objects.filter(code=coin).first()
    if asset is None:
        raise errors.no_such_asset(coin)
    networks = list(Network.objects.select_related("asset").filter(asset=asset))
    if network:
        for candidate in networks:
            if candidate.code == network:
                return candidate
        raise errors.no_such_network(coin, network)
    default = [n for n in networks if n.is_default] or (networks if len(networks) == 1 else [])
    if not default:
        raise errors.no_such_network(coin, "(default)")
    return default[0]


@transaction.atomic(durable=True)
def network_upsert(
    *,
    coin: str,
    code: str,
    name: str = "",
    withdraw_fee: Decimal = Decimal(0),
    withdraw_min: Decimal = Decimal(0),
    withdraw_max: Decimal = Decimal(1_000_000),
    min_confirmations: int = 1,
    auto_approve_below: Decimal = Decimal(0),
    dual_approval_above: Decimal = Decimal(1_000_000),
    is_default: bool = True,
) -> tuple[Network, bool]:
    """Create the network `code` of asset `coin` (created with the network when missing), or
    return the existing one untouched. Commits."""
    from wallet.services import asset_get_or_create

    asset, _ = asset_get_or_create(code=coin)
    existing = Network.objects.filter(asset=asset, code=code).first()
    if existing is not None:
        return existing, False
    if not (Decimal(0) <= withdraw_fee and Decimal(0) <= withdraw_min < withdraw_max):
        raise InvalidInput("need 0 <= fee, 0 <= min < max")
    if is_default:
        Network.objects.filter(asset=asset, is_default=True).update(is_default=False)
    network = Network.objects.create(
        asset=asset,
        code=code,
        name=name or f"{code} (simulated)",
        withdraw_fee=withdraw_fee,
        withdraw_min=withdraw_min,
        withdraw_max=withdraw_max,
        min_confirmations=min_confirmations,
        auto_approve_below=auto_approve_below,
        dual_approval_above=dual_approval_above,
        is_default=is_default,
    )
    return network, True


def deposit_address_get_or_create(
    *, user_id: int, coin: str, network: str | None = None
) -> DepositAddress:
    """The user's deposit address for the asset on the network, made by the chain backend on
    the first request. The backend call happens outside any transaction; the row is inserted
    in its own (a concurrent first request keeps the address that committed first)."""
    net = network_resolve(coin=coin, network=network)
    existing = DepositAddress.objects.filter(user_id=user_id, network=net).first()
    if existing is not None:
        return existing
    if not net.deposit_enabled:
        raise errors.deposit_disabled(coin, net.code)
    address, tag = backend_for(net).address_new(network=net)
    return _deposit_address_insert(user_id=user_id, network=net, address=address, tag=tag)


@transaction.atomic(durable=True)
def _deposit_address_insert(
    *, user_id: int, network: Network, address: str, tag: str
) -> DepositAddress:
    row, _ = DepositAddress.objects.get_or_create(
        user_id=user_id, network=network, defaults={"address": address, "tag": tag}
    )
    return row
