"""The operators' audit log: one append-only row per operator (or system) action.

A PostgreSQL trigger (migration 0001) refuses UPDATE and DELETE on the table, so history cannot
be rewritten through the application, the admin or a stray query. Rows are written by
admin_rbac.services.audit_record inside the transaction of the action they describe.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The operator; NULL for the system (circuit breaker, command line). PROTECT: an operator
    # with history cannot be deleted (deactivate instead).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # username, or "system:<component>"
    action = models.CharField(max_length=64)  # "<entity>.<verb>", e.g. "market.set_status"
    target_type = models.CharField(max_length=100, blank=True)  # "<app_label>.<model>"
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    # The trader the action concerns (the target user, the owner of a key, an order...): the
    # user's audit trail in the admin.
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=("target_type", "target_id"), name="audit_target"),
            models.Index(fields=("actor", "id"), name="audit_actor"),
            models.Index(fields=("subject_user", "id"), name="audit_subject"),
            models.Index(fields=("action", "id"), name="audit_action"),
        ]
        permissions = [
            ("view_dashboard", "Can view the operators' dashboard"),
            ("assign_role", "Can assign operator roles"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_name} {self.action} {self.target_type}:{self.target_id}"


class UserFlag(models.Model):
    """Abnormal trading behaviour noticed by the periodic scan (admin_rbac.behaviour), one row
    per user and kind, refreshed while it lasts. For operators to look at; nothing automatic
    follows from a flag."""

    class Kind(models.TextChoices):
        CANCEL_TO_FILL = "cancel_to_fill", "cancel-to-fill ratio"
        ORDER_BURST = "order_burst", "order burst"
        SELF_TRADE = "self_trade", "self-trade attempts"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    value = models.DecimalField(max_digits=20, decimal_places=4)  # the measure that crossed
    detail = models.CharField(max_length=255)
    occurrences = models.PositiveIntegerField(default=1)  # scans that raised it
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("user", "kind"), name="userflag_user_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.value}"
