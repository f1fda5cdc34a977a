"""Test settings: the same real PostgreSQL and Redis, a separate Redis database by default."""

from __future__ import annotations

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-only-secret-not-used-in-production")
# A fixed Fernet key for tests only (urlsafe base64 of 32 bytes).
os.environ.setdefault("API_KEY_ENCRYPTION_KEY", "dGVzdC1vbmx5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDA=")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
