from __future__ import annotations

from django.db import models


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
