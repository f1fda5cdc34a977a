"""The withdrawal address book: whitelisted destinations, usable after a cool-down."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wallet import errors
from wallet.chain import backend_for
from wallet.models import AddressBookEntry

from .networks import network_resolve
from .twofactor import totp_require


def address_book_add(
    *,
    user_id: int,
    coin: str,
    address: str,
    network: str | None = None,
    tag: str = "",
    label: str = "",
    totp_code: str | None = None,
    cooldown_s: float | None = None,
    totp_check: bool = True,
) -> AddressBookEntry:
    """Whitelist `address` for withdrawals of `coin`; usable after the cool-down
    (settings.WALLET_ADDRESS_COOLDOWN_S unless `cooldown_s`). Needs a two-factor code when the
    user enabled it (`totp_check=False` and `cooldown_s`: an operator's command, not the user).
    Adding an address already listed returns it."""
    net = network_resolve(coin=coin, network=network)
    if not backend_for(net).address_valid(network=net, address=address, tag=tag):
        raise errors.address_invalid(address, net.code)
    if totp_check:
        totp_require(user_id=user_id, code=totp_code)
    wait = settings.WALLET_ADDRESS_COOLDOWN_S if cooldown_s is None else cooldown_s
    return _insert(
        user_id=user_id, network_id=net.pk, address=address, tag=tag, label=label, wait_s=wait
    )


@transaction.atomic(durable=True)
def _insert(
    *, user_id: int, network_id: int, address: str, tag: str, label: str, wait_s: float
) -> AddressBookEntry:
    now = timezone.now()
    entry, _ = AddressBookEntry.objects.get_or_create(
        user_id=user_id,
        network_id=network_id,
        address=address,
        tag=tag,
        removed_at=None,
        defaults={"label": label, "usable_at": now + timedelta(seconds=wait_s)},
    )
    return entry


@transaction.atomic(durable=True)
def address_book_remove(*, user_id: int, entry_id: int) -> None:
    """Take an entry off the user's address book (kept for history). Commits."""
    updated = AddressBookEntry.objects.filter(
        pk=entry_id, user_id=user_id, removed_at__isnull=True
    ).update(removed_at=timezone.now())
    if not updated:
        raise errors.not_allowed("No such address-book entry.")
