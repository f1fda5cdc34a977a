"""Assets, chain networks, deposit addresses, deposits, withdrawals and their safety rails.

Money never moves here: balances change only through clearing.services.ledger_post (deposit
credits, withdrawal holds, sends, releases). These tables record what happened on a chain and
where each withdrawal is in its state machine (docs/wallet.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from exchange_site.money import AmountField


class Asset(models.Model):
    """A tradable asset. `precision` is the display and ledger scale (decimal places)."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=64, blank=True)
    precision = models.PositiveSmallIntegerField(default=8)

    class Meta:
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[A-Z0-9]{1,16}$"), name="asset_code_upper_alnum"
            ),
            models.CheckConstraint(
                condition=models.Q(precision__lte=18), name="asset_precision_lte_18"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Network(models.Model):
    """One way an asset moves on and off the exchange (Binance's `networkList` entry).

    `code` names the chain (Binance's `network`, e.g. "BTC", "ETH"); `backend` names the chain
    backend that talks to it (wallet.chain). Amounts are in the asset's units.
    """

    class Backend(models.TextChoices):
        SIMULATED = "simulated", "simulated chain (PostgreSQL, not a real blockchain)"

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="networks")
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=64, blank=True)
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.SIMULATED)
    is_default = models.BooleanField(default=False)
    deposit_enabled = models.BooleanField(default=True)
    withdraw_enabled = models.BooleanField(default=True)
    withdraw_fee = AmountField(default=0)  # charged out of the requested amount
    withdraw_min = AmountField(default=0)
    withdraw_max = AmountField(default=1_000_000)
    # Deposits are credited, and sent withdrawals confirmed, at this many confirmations.
    min_confirmations = models.PositiveIntegerField(default=1)
    # Review policy. A verified user's withdrawal below `auto_approve_below` needs no operator
    # (0 = always reviewed); one above `dual_approval_above` needs two distinct approvers.
    auto_approve_below = AmountField(default=0)
    dual_approval_above = AmountField(default=1_000_000)
    # The deposit watcher's position in the backend's transfer feed (backend-defined cursor).
    scan_cursor = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("asset__code", "code")
        constraints = [
            models.UniqueConstraint(fields=("asset", "code"), name="network_asset_code"),
            models.UniqueConstraint(
                fields=("asset",), condition=models.Q(is_default=True), name="network_one_default"
            ),
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[A-Z0-9]{1,16}$"), name="network_code_upper_alnum"
            ),
            models.CheckConstraint(
                condition=models.Q(withdraw_fee__gte=0, withdraw_min__gte=0, withdraw_max__gt=0),
                name="network_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id and self.asset.code}/{self.code}"

    @property
    def simulated(self) -> bool:
        return self.backend == Network.Backend.SIMULATED


class DepositAddress(models.Model):
    """A user's address for one asset on one network, made by the backend on first request."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="addresses")
    address = models.CharField(max_length=128)
    tag = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deposit addresses"
        constraints = [
            models.UniqueConstraint(fields=("user", "network"), name="deposit_address_per_user"),
            models.UniqueConstraint(fields=("network", "address", "tag"), name="deposit_address"),
        ]

    def __str__(self) -> str:
        return self.address


class Deposit(models.Model):
    """A transfer to one of our deposit addresses, from first sight to credit (or drop).

    Identified by (chain, txid, vout): a repeated report of the same output is the same deposit,
    and its ledger key `deposit:<chain>:<txid>:<vout>` applies the credit once.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"  # seen, waiting for confirmations
        CREDITED = "CREDITED"  # credited to the user's available balance
        DROPPED = "DROPPED"  # vanished from the chain before it was credited (reorg)

    class Source(models.TextChoices):
        WATCHER = "watcher"
        WEBHOOK = "webhook"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="deposits")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="deposits")
    chain = models.CharField(max_length=16)  # the network code, part of the identity
    txid = models.CharField(max_length=128)
    vout = models.PositiveIntegerField()
    amount = AmountField()
    confirmations = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WATCHER)
    seen_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)
    # Deep enough that it is no longer re-checked for a reorg.
    final_at = models.DateTimeField(null=True, blank=True)
    # Vanished from the chain AFTER it was credited: an operator must decide (flagged).
    reorged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=("chain", "txid", "vout"), name="deposit_output"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="deposit_amount_gt_0"),
        ]
        indexes = [
            models.Index(
                fields=("network",),
                condition=models.Q(status="PENDING")
                | models.Q(status="CREDITED", final_at__isnull=True),
                name="deposit_watched",
            ),
            models.Index(fields=("user", "-id"), name="deposit_user"),
        ]
        permissions = [("resolve_deposit", "Can resolve a deposit flagged after a reorg")]

    def __str__(self) -> str:
        return f"{self.chain}:{self.txid}:{self.vout}"

    @property
    def ledger_key(self) -> str:
        return f"deposit:{self.chain}:{self.txid}:{self.vout}"

    @property
    def flagged(self) -> bool:
        return self.reorged_at is not None and self.resolved_at is None


class Withdrawal(models.Model):
    """A withdrawal and its persisted state machine (docs/wallet.md).

    REQUESTED (hold placed) -> APPROVED -> PROCESSING -> SENT -> CONFIRMED, or CANCELLED /
    REJECTED / FAILED with the hold released. `amount` is what leaves the user's balance;
    `fee` is part of it; the chain receives amount - fee.
    """

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED"
        APPROVED = "APPROVED"
        PROCESSING = "PROCESSING"
        SENT = "SENT"
        CONFIRMED = "CONFIRMED"
        CANCELLED = "CANCELLED"
        REJECTED = "REJECTED"
        FAILED = "FAILED"

    class Source(models.TextChoices):
        API = "api"
        UI = "ui"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="withdrawals")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=128)
    address_tag = models.CharField(max_length=64, blank=True)
    amount = AmountField()
    fee = AmountField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    # The client's idempotency key (Binance's withdrawOrderId), unique per user.
    # NULL, not "": the unique constraint must not treat "no id" as a value.
    withdraw_order_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # Handed to the chain backend with every send: a repeated send returns the first one's tx.
    idempotency_key = models.CharField(max_length=64, unique=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    auto_approved = models.BooleanField(default=False)
    txid = models.CharField(max_length=128, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # sends that ended in a retryable error
    # When the task retries after a retryable error (the sweep leaves it alone until then).
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Needs an operator: retries exhausted, or the sent transaction vanished from the chain.
    stuck = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)  # why rejected / cancelled / failed
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    processing_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=("user", "withdraw_order_id"), name="withdrawal_client_id"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=models.F("fee"), fee__gte=0),
                name="withdrawal_amount_gt_fee",
            ),
        ]
        indexes = [
            models.Index(
                fields=("status", "updated_at"),
                condition=models.Q(status__in=("REQUESTED", "APPROVED", "PROCESSING", "SENT")),
                name="withdrawal_open",
            ),
            models.Index(fields=("user", "-id"), name="withdrawal_user"),
        ]
        permissions = [
            ("approve_withdrawal", "Can approve or reject withdrawals"),
            ("operate_withdrawal", "Can retry, fail or cancel a stuck withdrawal"),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk} {self.amount} {self.asset_id} {self.status}"

    @property
    def hold_key(self) -> str:
        return f"withdrawal:{self.pk}"


PENDING_WITHDRAWAL = (
    Withdrawal.Status.REQUESTED,
    Withdrawal.Status.APPROVED,
    Withdrawal.Status.PROCESSING,
)
FINAL_WITHDRAWAL = (
    Withdrawal.Status.CONFIRMED,
    Withdrawal.Status.CANCELLED,
    Withdrawal.Status.REJECTED,
    Withdrawal.Status.FAILED,
)


class WithdrawalApproval(models.Model):
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("withdrawal", "approver"), name="approval_once"),
        ]

    def __str__(self) -> str:
        return f"{self.withdrawal_id} by {self.approver_id}"


class WithdrawalEvent(models.Model):
    """The withdrawal's history: every transition, by whom (null: the system) and why."""

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.withdrawal_id}: {self.action} {self.from_status}->{self.to_status}"


class AddressBookEntry(models.Model):
    """A withdrawal destination the user whitelisted; usable once its cool-down has passed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=128)
    tag = models.CharField(max_length=64, blank=True)
    label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    usable_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "address book entries"
        constraints = [
            models.UniqueConstraint(
                fields=("user", "network", "address", "tag"),
                condition=models.Q(removed_at__isnull=True),
                name="address_book_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.address} ({self.network})"


class WalletProfile(models.Model):
    """Per-user withdrawal settings: verification (auto-approval) and the limit tier."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.PROTECT, related_name="+"
    )
    verified = models.BooleanField(default=False)
    tier = models.CharField(max_length=32, default="standard")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.tier}{' verified' if self.verified else ''}"


class WithdrawalLimit(models.Model):
    """Rolling 24 h and 30 day withdrawal limits of a tier in one asset (no row: no limit)."""

    tier = models.CharField(max_length=32)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    daily = AmountField()
    monthly = AmountField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tier", "asset"), name="withdrawal_limit_tier_asset"),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.asset_id}: {self.daily}/day {self.monthly}/30d"


# --------------------------------------------------------------------------------------------
# The simulated chain (wallet.chain.simulated). NOT a blockchain: rows in PostgreSQL that the
# `chain_*` commands and the simulated backend write, so that deposits and withdrawals can be
# exercised end to end without one.


class SimChain(models.Model):
    """A simulated chain: its height, and a switch that makes its node fail (for drills)."""

    class FailMode(models.TextChoices):
        NONE = "", "none"
        RETRYABLE = "retryable", "node unavailable (retryable)"
        FINAL = "final", "sends refused (final)"

    code = models.CharField(max_length=16, unique=True)
    height = models.BigIntegerField(default=0)
    fail_mode = models.CharField(max_length=16, choices=FailMode.choices, blank=True, default="")

    class Meta:
        verbose_name = "simulated chain"

    def __str__(self) -> str:
        return f"{self.code} (simulated) at {self.height}"


class SimTransaction(models.Model):
    """One output of a simulated transaction. `block` NULL: in the mempool."""

    chain = models.CharField(max_length=16)
    txid = models.CharField(max_length=128)
    vout = models.PositiveIntegerField(default=0)
    asset = models.CharField(max_length=16)
    address = models.CharField(max_length=128)
    tag = models.CharField(max_length=64, blank=True)
    amount = AmountField()
    block = models.BigIntegerField(null=True, blank=True)
    # A send by the exchange carries its idempotency key: the same key never sends twice.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    dropped_at = models.DateTimeField(null=True, blank=True)  # reorged out
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "simulated chain transaction"
        constraints = [
            models.UniqueConstraint(fields=("chain", "txid", "vout"), name="simtx_output"),
        ]
        indexes = [models.Index(fields=("chain", "id"), name="simtx_chain_feed")]

    def __str__(self) -> str:
        return f"{self.chain}:{self.txid}:{self.vout} (simulated)"
