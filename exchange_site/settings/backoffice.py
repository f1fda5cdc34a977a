"""The back office: abnormal-behaviour flags (admin_rbac.behaviour)."""

from __future__ import annotations

from .env import env

BEHAVIOUR_WINDOW_S = env("BEHAVIOUR_WINDOW_S", 3600, cast=int)
FLAG_CANCEL_MIN = env("FLAG_CANCEL_MIN", 20, cast=int)
FLAG_CANCEL_TO_FILL_RATIO = env("FLAG_CANCEL_TO_FILL_RATIO", 20, cast=int)
FLAG_BURST_PER_S = env("FLAG_BURST_PER_S", 20, cast=int)
FLAG_SELF_TRADE_MIN = env("FLAG_SELF_TRADE_MIN", 3, cast=int)
