"""The simulated chain: a stand-in blockchain in PostgreSQL (SimChain, SimTransaction).

NOT a real chain. Addresses look like `simbtc1...`; `manage.py chain_deposit` puts a payment
to an address into the mempool, `manage.py chain_mine [N]` mines N blocks (every mempool
transaction goes into the first), `manage.py chain_reorg TXID` drops a transaction as a reorg
would, and `manage.py chain_fail --mode retryable|final|off` makes the node fail sends, for
drills. The backend sends in its own committed transaction, as an external system would: a
worker that dies after a send finds the send there when it comes back, and the idempotency
key (unique on SimTransaction) turns the repeated send into a look-up.

Every write to a chain first locks its SimChain row, so transactions get ids in commit order
per chain (the watcher's cursor relies on it) and a test can hold a send at that point.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from wallet.models import Network, SimChain, SimTransaction

from . import ChainFinalError, ChainRetryableError, Transfer, TxStatus

ADDRESS_BODY = re.compile(r"^[a-z0-9]{8,64}$")


def address_prefix(chain: str) -> str:
    return f"sim{chain.lower()}1"


def chain_locked(code: str) -> SimChain:
    """The chain's row, created on first use and locked (caller's transaction)."""
    SimChain.objects.get_or_create(code=code)
    return SimChain.objects.select_for_update().get(code=code)


def _txid(*parts: str) -> str:
    return hashlib.sha256("|".join((*parts, secrets.token_hex(16))).encode()).hexdigest()


def sim_address_new(chain: str) -> str:
    """A fresh address on the simulated chain (e.g. an outside wallet to withdraw to)."""
    return address_prefix(chain) + secrets.token_hex(16)


@transaction.atomic(durable=True)
def sim_pay(*, chain: str, asset: str, address: str, amount: Decimal, tag: str = "") -> str:
    """Someone outside pays `amount` of `asset` to `address`: a mempool transaction. Commits."""
    if amount <= 0:
        raise ChainFinalError("amount must be positive")
    if not SimulatedChain.valid(chain, address, tag):
        raise ChainFinalError(f"{address!r} is not an address of simulated chain {chain}")
    chain_locked(chain)
    txid = _txid(chain, address, str(amount))
    SimTransaction.objects.create(
        chain=chain, txid=txid, vout=0, asset=asset, address=address, tag=tag, amount=amount
    )
    return txid


@transaction.atomic(durable=True)
def sim_mine(*, chain: str, blocks: int = 1) -> tuple[int, int]:
    """Mine `blocks` blocks; the mempool goes into the first. Returns (height, txs included)."""
    if blocks < 1:
        raise ChainFinalError("mine at least one block")
    sim = chain_locked(chain)
    included = SimTransaction.objects.filter(
        chain=chain, block__isnull=True, dropped_at__isnull=True
    ).update(block=sim.height + 1)
    sim.height += blocks
    sim.save(update_fields=["height"])
    return sim.height, included


@transaction.atomic(durable=True)
def sim_reorg(*, chain: str, txid: str) -> int:
    """Drop a transaction from the chain, as a reorg that does not include it again would.
    Returns the number of outputs dropped."""
    chain_locked(chain)
    return SimTransaction.objects.filter(chain=chain, txid=txid, dropped_at__isnull=True).update(
        dropped_at=timezone.now(), block=None
    )


@transaction.atomic(durable=True)
def sim_fail_mode_set(*, chain: str, mode: str) -> None:
    if mode not in SimChain.FailMode.values:
        raise ChainFinalError(f"unknown fail mode {mode!r}")
    sim = chain_locked(chain)
    sim.fail_mode = mode
    sim.save(update_fields=["fail_mode"])


def sim_chains() -> list[str]:
    """Every chain a simulated network uses."""
    codes = set(
        Network.objects.filter(backend=Network.Backend.SIMULATED).values_list("code", flat=True)
    )
    return sorted(codes | set(SimChain.objects.values_list("code", flat=True)))


class SimulatedChain:
    """The ChainBackend of networks whose backend is "simulated"."""

    name = "simulated"
    simulated = True

    @staticmethod
    def valid(chain: str, address: str, tag: str) -> bool:
        prefix = address_prefix(chain)
        return (
            address.startswith(prefix)
            and bool(ADDRESS_BODY.match(address[len(prefix) :]))
            and tag == ""  # the simulated chains have no memo/tag
        )

    def address_new(self, *, network: Network) -> tuple[str, str]:
        return sim_address_new(network.code), ""

    def address_valid(self, *, network: Network, address: str, tag: str) -> bool:
        return self.valid(network.code, address, tag)

    def send(
        self, *, network: Network, address: str, tag: str, amount: Decimal, idempotency_key: str
    ) -> str:
        if transaction.get_connection().in_atomic_block:
            raise RuntimeError("a chain send must not run inside one of our transactions")
        with transaction.atomic():  # the chain's own transaction, committed on exit
            sim = chain_locked(network.code)
            existing = (
                SimTransaction.objects.filter(idempotency_key=idempotency_key)
                .values_list("txid", flat=True)
                .first()
            )
            if existing is not None:
                return existing
            if sim.fail_mode == SimChain.FailMode.RETRYABLE:
                raise ChainRetryableError(f"simulated node for {network.code} is unavailable")
            if sim.fail_mode == SimChain.FailMode.FINAL:
                raise ChainFinalError(f"simulated chain {network.code} refused the transfer")
            if not self.valid(network.code, address, tag):
                raise ChainFinalError(f"invalid address {address!r} for {network.code}")
            txid = _txid(network.code, idempotency_key)
            SimTransaction.objects.create(
                chain=network.code,
                txid=txid,
                vout=0,
                asset=network.asset.code,
                address=address,
                tag=tag,
                amount=amount,
                idempotency_key=idempotency_key,
            )
        return txid

    def send_lookup(self, *, network: Network, idempotency_key: str) -> str | None:
        return (
            SimTransaction.objects.filter(idempotency_key=idempotency_key)
            .values_list("txid", flat=True)
            .first()
        )

    def tx_status(self, *, network: Network, txid: str) -> TxStatus:
        blocks = list(
            SimTransaction.objects.filter(
                chain=network.code, txid=txid, dropped_at__isnull=True
            ).values_list("block", flat=True)
        )
        if not blocks:
            return TxStatus(found=False)
        block = blocks[0]
        if block is None:
            return TxStatus(found=True, confirmations=0)
        height = SimChain.objects.filter(code=network.code).values_list("height", flat=True).get()
        return TxStatus(found=True, confirmations=max(0, height - block + 1))

    def transfers(self, *, network: Network, after: int, limit: int) -> tuple[list[Transfer], int]:
        rows = list(
            SimTransaction.objects.filter(
                chain=network.code,
                asset=network.asset.code,
                id__gt=after,
                dropped_at__isnull=True,
            ).order_by("id")[:limit]
        )
        if not rows:
            return [], after
        height = (
            SimChain.objects.filter(code=network.code).values_list("height", flat=True).first() or 0
        )
        transfers = [
            Transfer(
                txid=row.txid,
                vout=row.vout,
                address=row.address,
                tag=row.tag,
                amount=row.amount,
                confirmations=0 if row.block is None else max(0, height - row.block + 1),
            )
            for row in rows
        ]
        return transfers, rows[-1].id
