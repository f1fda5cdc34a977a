"""The trader UI's account endpoints (/ui/api/balances, /ui/api/apikeys): session-authenticated
DRF views over clearing.selectors and accounts.services, as the Binance API uses them."""

from __future__ import annotations

from typing import Any

from clearing.selectors import balance_list
from exchange_site.errors import DomainError
from exchange_site.money import fmt
from exchange_site.uiapi import Request, Response, UiApiView, field
from wallet.selectors import asset_list

from .models import ApiKey, User
from .services import (
    api_key_issue,
    api_key_owner_delete,
    api_key_owner_set_enabled,
)


def balances_render(user_id: int) -> list[dict[str, Any]]:
    """Every listed asset's available and locked amounts, at the asset's precision."""
    precision = {a.code: a.precision for a in asset_list()}
    return [
        {
            "asset": b.asset,
            "free": fmt(b.available, precision.get(b.asset, 8)),
            "locked": fmt(b.locked, precision.get(b.asset, 8)),
            "precision": precision.get(b.asset, 8),
        }
        for b in balance_list(user_id=user_id)
    ]


class BalancesApi(UiApiView):
    def get(self, request: Request) -> Response:
        return Response(balances_render(self.user_id))


def key_render(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.pk,
        "label": key.label,
        "key": key.key,
        "permissions": key.permissions,
        "ipAllowlist": key.ip_allowlist,
        "enabled": key.enabled,
        "createdAt": key.created_at.isoformat(),
        "lastUsedAt": key.last_used_at.isoformat() if key.last_used_at else None,
    }


class ApiKeysApi(UiApiView):
    """GET: the user's keys (never a secret). POST: a new key; its secret is in this answer
    only."""

    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.filter(user_id=self.user_id).order_by("-created_at")
        return Response([key_render(k) for k in keys])

    def post(self, request: Request) -> Response:
        data = request.data
        perms = data.get("permissions") if isinstance(data, dict) else None
        if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
            raise DomainError("Choose the key's permissions.", code=-1102)
        if not perms:
            raise DomainError("A key needs at least one permission.", code=-1102)
        if "read" not in perms:
            perms = ["read", *perms]  # every key can read its own account (Binance keys do)
        user = User.objects.get(pk=self.user_id)
        key, secret = api_key_issue(
            user=user,
            permissions=perms,
            label=(field(data, "label", required=False) or "")[:64],
            ip_allowlist=field(data, "ipAllowlist", required=False) or "",
        )
        return Response({**key_render(key), "secret": secret}, status=201)


class ApiKeyApi(UiApiView):
    """PATCH {"enabled": bool}: disable or enable. DELETE: delete."""

    def patch(self, request: Request, key_id: int) -> Response:
        enabled = request.data.get("enabled") if isinstance(request.data, dict) else None
        if not isinstance(enabled, bool):
            raise DomainError("Parameter 'enabled' must be true or false.", code=-1100)
        key = api_key_owner_set_enabled(user_id=self.user_id, key_id=key_id, enabled=enabled)
        return Response(key_render(key))

    def delete(self, request: Request, key_id: int) -> Response:
        api_key_owner_delete(user_id=self.user_id, key_id=key_id)
        return Response(status=204)
