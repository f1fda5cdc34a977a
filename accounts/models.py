from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The platform's user: traders and operators alike (operators are staff)."""

    class Meta:
        db_table = "accounts_user"
        permissions = [("disable_user", "Can disable and enable users")]


class ApiKey(models.Model):
    """An HMAC API key. The secret is encrypted at rest: HMAC verification needs the plain value."""

    class Tier(models.TextChoices):
        DEFAULT = "default"
        PRO = "pro"
        UNLIMITED = "unlimited"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    label = models.CharField(max_length=64, blank=True)
    # Public key id sent as X-MBX-APIKEY: 64 url-safe characters.
    key = models.CharField(max_length=64, unique=True)
    secret_encrypted = models.BinaryField()
    can_read = models.BooleanField(default=True)
    can_trade = models.BooleanField(default=False)
    can_withdraw = models.BooleanField(default=False)
    # Comma-separated IPs or CIDR networks; empty means any address.
    ip_allowlist = models.TextField(blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.DEFAULT)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        permissions = [("disable_apikey", "Can disable and enable API keys")]

    def __str__(self) -> str:
        return f"{self.key[:8]}… ({self.user_id})"

    @property
    def permissions(self) -> list[str]:
        perms = [
            ("read", self.can_read),
            ("trade", self.can_trade),
            ("withdraw", self.can_withdraw),
        ]
        return [name for name, on in perms if on]
