"""Operator pages beside the model admin: the dashboard and the kill switch.

Both are admin views (login, staff, the admin's look); each checks its own permission. The kill
switch takes two POSTs: the first shows what will happen and asks for confirmation, the second
(with confirm=yes) acts through orders.markets, which audits and reaches the engine through the
markets' streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from clearing.models import Adjustment, ReconcileRun
from clearing.settlement import unsettled_markets
from exchange_site.admin_utils import amount
from exchange_site.errors import DomainError
from marketdata.selectors import last_price_list, stats_list
from matching.models import MarketEngineState
from orders.markets import (
    exchange_set_status,
    global_status_get,
    market_open_orders_count,
    market_set_status,
)
from orders.models import OPEN_STATUSES, Market, MarketFeeChange, Order

from .services import Actor

GLOBAL = "__all__"
KILL_SWITCH_PERM = "orders.operate_kill_switch"


@dataclass(frozen=True, slots=True)
class MarketRow:
    market: Market
    last_price: str
    volume_24h: str
    quote_volume_24h: str
    open_orders: int
    settlement_lag_s: float | None
    matcher_seen: datetime | None


def dashboard_rows() -> list[MarketRow]:
    """One row per market; a fixed number of queries whatever the number of markets."""
    markets = list(Market.objects.select_related("base", "quote").order_by("symbol"))
    ids = [m.pk for m in markets]
    now = timezone.now()
    end_ms = int(now.timestamp() * 1000)
    last = last_price_list(market_ids=ids)
    stats = stats_list(market_ids=ids, start_ms=end_ms - 86_400_000, end_ms=end_ms)
    open_counts = dict(
        Order.objects.filter(status__in=OPEN_STATUSES)
        .values("market_id")
        .annotate(n=Count("id"))
        .values_list("market_id", "n")
    )
    lags = unsettled_markets()
    seen = dict(MarketEngineState.objects.values_list("market_id", "updated_at"))
    rows = []
    for m in markets:
        p, q = m.quote.precision, m.base.precision
        s = stats.get(m.pk)
        rows.append(
            MarketRow(
                market=m,
                last_price=amount(last[m.pk], p) if m.pk in last else "-",
                volume_24h=amount(s.volume, q) if s else amount(Decimal(0), q),
                quote_volume_24h=amount(s.quote_volume, p) if s else amount(Decimal(0), p),
                open_orders=open_counts.get(m.pk, 0),
                settlement_lag_s=round(lags[m.pk], 3) if m.pk in lags else None,
                matcher_seen=seen.get(m.pk),
            )
        )
    return rows


def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("admin_rbac.view_dashboard"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "global_status": global_status_get(),
        "rows": dashboard_rows(),
        "reconcile": ReconcileRun.objects.order_by("-id").first(),
        "adjustments_pending": Adjustment.objects.filter(status=Adjustment.Status.PROPOSED).count(),
        "fee_changes_pending": MarketFeeChange.objects.filter(applied_at=None).count(),
        "can_kill": request.user.has_perm(KILL_SWITCH_PERM),
        "stale_after": timedelta(seconds=30),
        "now": timezone.now(),
    }
    return TemplateResponse(request, "admin_rbac/dashboard.html", context)


# --------------------------------------------------------------------------- kill switch


class KillSwitchForm(forms.Form):
    target = forms.ChoiceField(label="Scope")
    status = forms.ChoiceField(choices=Market.Status.choices, label="New state")
    cancel_all = forms.BooleanField(
        required=False, label="Cancel all orders of the market (as EXPIRED)"
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required; recorded in the audit log.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        symbols = Market.objects.order_by("symbol").values_list("symbol", flat=True)
        target = self.fields["target"]
        assert isinstance(target, forms.ChoiceField)
        target.choices = [(GLOBAL, "Whole exchange (global)"), *((s, s) for s in symbols)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target") == GLOBAL and data.get("cancel_all"):
            raise forms.ValidationError("Cancel-all applies to one market at a time.")
        return data


def _summary(data: dict[str, Any]) -> list[str]:
    """What the confirmed action will do, in words."""
    status = data["status"]
    if data["target"] == GLOBAL:
        lines = [f"Set the global trading state from {global_status_get()} to {status}."]
        if status != Market.Status.TRADING:
            lines.append(
                f"Every market becomes at least {status}; each keeps its own state underneath"
                " and returns to it when the global state is lifted."
            )
        else:
            lines.append("Every market returns to its own state.")
        return lines
    market = Market.objects.get(symbol=data["target"])
    lines = [
        f"Set {market.symbol} from {market.operator_status} to {status}"
        f" (effective now: {market.status}; global: {global_status_get()})."
    ]
    if data["cancel_all"]:
        n = market_open_orders_count(market_id=market.pk)
        lines.append(f"Cancel all {n} open order(s) of {market.symbol}: the engine ends them"
                     " as EXPIRED after the commands already queued.")  # fmt: skip
    return lines


def kill_switch(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("orders.view_market"):
        raise PermissionDenied
    can_act = request.user.has_perm(KILL_SWITCH_PERM)
    if request.method == "POST" and not can_act:
        raise PermissionDenied
    initial = {"target": request.GET.get("market", GLOBAL), "status": request.GET.get("status")}
    form = KillSwitchForm(request.POST or None, initial=initial)
    confirm: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if request.POST.get("confirm") == "yes":
            try:
                _act(request, data)
            except DomainError as exc:
                messages.error(request, exc.msg)
            else:
                return HttpResponseRedirect(reverse("admin_rbac:kill_switch"))
        else:
            confirm = _summary(data)
    context = {
        **admin.site.each_context(request),
        "title": "Kill switch",
        "form": form,
        "confirm": confirm,
        "can_act": can_act,
        "global_status": global_status_get(),
        "markets": dashboard_rows(),
    }
    return TemplateResponse(request, "admin_rbac/kill_switch.html", context)


def _act(request: HttpRequest, data: dict[str, Any]) -> None:
    actor = Actor.from_request(request)
    if data["target"] == GLOBAL:
        changed = exchange_set_status(status=data["status"], actor=actor, reason=data["reason"])
        messages.success(
            request,
            f"Global state set to {data['status']};"
            f" {len(changed)} market(s) changed effective state.",
        )
        return
    market = Market.objects.get(symbol=data["target"])
    market = market_set_status(
        market_id=market.pk, status=data["status"], cancel_all=data["cancel_all"], actor=actor,
        reason=data["reason"],
    )  # fmt: skip
    messages.success(
        request,
        f"{market.symbol}: own state {market.operator_status}, effective {market.status}"
        + ("; all open orders are being cancelled." if data["cancel_all"] else "."),
    )
