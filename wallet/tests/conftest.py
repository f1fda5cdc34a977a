"""Wallet fixtures: a BTC network on the simulated chain, a funded trader with a usable
address-book entry, and operators holding the wallet permissions (as roles would grant them).

The simulated backend sends in its own committed transaction, as an external chain would, so
these tests use the transactional database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import redis
from django.contrib.auth.models import Permission
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.tests.factories import UserFactory
from clearing.services import balance_credit_external
from wallet.chain.simulated import sim_address_new
from wallet.models import Network
from wallet.services.addressbook import address_book_add
from wallet.services.networks import network_upsert


@dataclass
class WalletEnv:
    network: Network
    trader: User
    address: str  # in the trader's address book, usable now
    finance: User  # wallet.approve_withdrawal
    finance2: User
    ops: User  # wallet.operate_withdrawal


def grant(user: User, *codenames: str) -> User:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="wallet", codename__in=codenames)
    )
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def wallet_env(transactional_db: None, redis_client: redis.Redis) -> WalletEnv:
    network, _ = network_upsert(
        coin="BTC",
        code="BTC",
        name="Bitcoin (simulated)",
        withdraw_fee=Decimal("0.0005"),
        withdraw_min=Decimal("0.001"),
        withdraw_max=Decimal("5"),
        min_confirmations=2,
        auto_approve_below=Decimal("0.1"),
        dual_approval_above=Decimal("1"),
    )
    trader = UserFactory.create()
    balance_credit_external(
        user_id=trader.pk, asset_id=network.asset_id, amount=Decimal("3"), ref=f"t{trader.pk}"
    )
    address = sim_address_new("BTC")
    address_book_add(user_id=trader.pk, coin="BTC", address=address, cooldown_s=0)
    return WalletEnv(
        network=Network.objects.select_related("asset").get(pk=network.pk),
        trader=trader,
        address=address,
        finance=grant(UserFactory.create(), "approve_withdrawal"),
        finance2=grant(UserFactory.create(), "approve_withdrawal"),
        ops=grant(UserFactory.create(), "operate_withdrawal"),
    )


def totp_code(user: User, step_offset: int = 0) -> str:
    """The user's TOTP code `step_offset` time steps from now, as an authenticator shows it."""
    device = TOTPDevice.objects.filter(user=user).order_by("-id").first()
    assert device is not None
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + step_offset * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def code_for() -> Callable[[User, int], str]:
    return totp_code
