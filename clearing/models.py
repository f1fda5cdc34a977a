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
        # Reads the user and asset rows: select_related("user", "asset") where listed.
        owner = self.user.username if self.user is not None else "system"
        return f"{owner} · {self.asset.code} · {self.kind}"


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


class Adjustment(models.Model):
    """A manual balance correction under maker-checker: one operator proposes it with a reason,
    another approves it, and only then does it post through the ledger (against the EXTERNAL
    account, key "adjustment:<id>"). clearing.adjustments holds the services."""

    class Status(models.TextChoices):
        PROPOSED = "PROPOSED"
        APPROVED = "APPROVED"
        REJECTED = "REJECTED"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    asset = models.ForeignKey("wallet.Asset", on_delete=models.PROTECT, related_name="+")
    amount = AmountField()  # signed: + credits the user's available balance, - debits it
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="adjustment_nonzero"),
            # Maker-checker, also in the database: nobody decides their own proposal.
            models.CheckConstraint(
                condition=~models.Q(decided_by=models.F("proposed_by")),
                name="adjustment_four_eyes",
            ),
        ]
        permissions = [
            ("propose_adjustment", "Can propose a manual balance adjustment"),
            ("approve_adjustment", "Can approve or reject a manual balance adjustment"),
        ]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.amount.normalize():f} {self.status}"


class ReconcileRun(models.Model):
    """The result of one invariant check (the reconcile task and command), for the dashboard."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    problems = models.PositiveIntegerField()
    details = models.JSONField(default=list)  # the first broken invariants, as text

    def __str__(self) -> str:
        return f"reconcile {self.created_at:%Y-%m-%d %H:%M:%S}: {self.problems} problem(s)"


class SettlementCursor(models.Model):
    """Per market: settlement's lock row and how far finished orders' holds are released.

    Settlement locks this row (FOR UPDATE SKIP LOCKED) so one settler works a market at a time
    and another market's settlement never waits for it. `released_seq`: every finished order
    whose done_seq is below it has had its hold released (at it: looked at again, as a
    rejection outside the engine takes the market's current seq).
    """

    market = models.OneToOneField("orders.Market", on_delete=models.PROTECT, related_name="+")
    released_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.market_id}@{self.released_seq}"
