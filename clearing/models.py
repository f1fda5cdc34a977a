"""The double-entry ledger: accounts with balances, transactions, postings.

Every balance change is a LedgerTransaction whose postings sum to zero per asset, written by
clearing.services.ledger_post and nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from exchange_site.money import AmountField


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        AVAILABLE = "AVAILABLE"  # user funds free to use
        LOCKED = "LOCKED"  # user funds held by open orders and pending withdrawals
        FEES = "FEES"  # system: fees collected
        EXTERNAL = "EXTERNAL"  # system: the outside world (deposits in, withdrawals out)

    # NULL for system accounts.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    asset = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Derived from the postings, kept here so a balance check is one row read under a row lock.
    balance = AmountField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("user", "asset", "kind"), name="account_unique", nulls_distinct=False
            ),
            # EXTERNAL is the contra account of deposits: it goes negative by design.
            models.CheckConstraint(
                condition=models.Q(kind="EXTERNAL") | models.Q(balance__gte=0),
                name="account_balance_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=True, kind__in=("FEES", "EXTERNAL"))
                | models.Q(user__isnull=False, kind__in=("AVAILABLE", "LOCKED")),
                name="account_kind_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user_id if self.user_id is not None else "system"
        return f"{owner}/{self.asset_id}/{self.kind}"


class Hold(models.Model):
    """Funds locked for one purpose: an order ("order:<id>") or a withdrawal ("withdrawal:<id>").

    Invariant: a user's LOCKED balance in an asset = the sum of `amount` over their holds in it.
    Placement creates the hold with the lock; settlement consumes it trade by trade and releases
    what is left once the order is done and its trades are settled.
    """

    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    asset = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="hold"
    )
    amount = AmountField()  # still locked
    original_amount = AmountField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="hold_amount_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=("asset",), condition=models.Q(released_at__isnull=True), name="hold_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.amount}"


class LedgerTransaction(models.Model):
    # Business key, e.g. "trade:BTCUSDT:42", "deposit:<ref>", "order:17:lock". The unique
    # constraint is what makes a retried operation apply once.
    key = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=32)
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class Posting(models.Model):
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="postings"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    # Denormalised from the account so the zero-sum check per asset needs no join.
    asset = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    amount = AmountField()  # signed: + credit to the account, - debit

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="posting_nonzero"),
        ]
        indexes = [models.Index(fields=("account",), name="posting_account")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"
