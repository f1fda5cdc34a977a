"""Wallet: deposits, withdrawals, the simulated chain and two-factor authentication."""

from __future__ import annotations

from .env import env

# A new address-book entry can receive withdrawals only after this many seconds (24 h).
WALLET_ADDRESS_COOLDOWN_S = env("WALLET_ADDRESS_COOLDOWN_S", 86400.0, cast=float)
# Period of the chain watcher (deposits seen/credited, sent withdrawals confirmed).
WALLET_WATCH_EVERY_S = env("WALLET_WATCH_EVERY_S", 3.0, cast=float)
# Approved or processing withdrawals untouched for this long are re-driven by the sweep.
WALLET_SWEEP_AGE_S = env("WALLET_SWEEP_AGE_S", 10.0, cast=float)
# Sends ending in a retryable backend error before the withdrawal is left to an operator.
WALLET_SEND_MAX_ATTEMPTS = env("WALLET_SEND_MAX_ATTEMPTS", 5, cast=int)
# A credited deposit is re-checked for a reorg until it is this many blocks past its
# network's min_confirmations.
WALLET_REORG_WATCH_BLOCKS = env("WALLET_REORG_WATCH_BLOCKS", 6, cast=int)
# HMAC-SHA256 secret of the deposit webhook (an external chain watcher); empty: disabled.
WALLET_WEBHOOK_SECRET = env("WALLET_WEBHOOK_SECRET", "")
# Accepted clock difference of a webhook call's X-Timestamp (seconds).
WALLET_WEBHOOK_MAX_AGE_S = env("WALLET_WEBHOOK_MAX_AGE_S", 300, cast=int)

OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Exchange")
