"""Markets, orders and trades in the back office.

A market's page edits its filters and risk limits directly (audited, with a required reason).
Its trading state, fees and engine fields are shown read-only with the way to change them
safely: the kill switch, the fee-change page (applied in stream order, never retroactively) and
the engine-fields page (only while halted with no open order).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from admin_rbac.auditing import AuditedAdmin, confirmed_action
from admin_rbac.services import Actor
from exchange_site.admin_utils import (
    PlainDecimalsForm,
    ReadOnlyAdmin,
    amount,
    market_amount,
    plain,
    user_input_filter,
)
from exchange_site.errors import DomainError
from wallet.models import Asset

from .markets import (
    ENGINE_FIELDS,
    UNIT_FILTERS,
    global_status_get,
    market_check,
    market_effective_status,
    market_engine_fields_blocker,
    market_engine_fields_change,
    market_fees_change,
)
from .models import OPEN_STATUSES, Market, MarketFeeChange, Order, Trade
from .operator import orders_cancel_by_operator

STATE_FIELDS = ("status", "operator_status", "breaker_until")
FEE_FIELDS = ("maker_fee", "taker_fee")
FILTER_FIELDS = ("min_price", "max_price", "min_qty", "max_qty", "min_notional", "max_notional")
RISK_FIELDS = ("price_band_pct", "max_open_orders", "user_order_rate_limit",
               "user_order_rate_window_s", "breaker_move_pct", "breaker_window_s",
               "breaker_cooldown_s")  # fmt: skip


class MarketForm(PlainDecimalsForm):
    def _post_clean(self) -> None:
        # (django-stubs lack _post_clean) After it, the instance holds the submitted values.
        super()._post_clean()  # type: ignore[misc]
        market = self.instance
        if market.base_id is None or market.quote_id is None or self.errors:
            return
        try:
            market_check(market)
        except DomainError as exc:
            self.add_error(None, exc.msg)


class MarketFeeChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MarketFeeChange
    extra = 0
    can_delete = False
    fields = ("requested_at", "requested_by", "maker", "taker", "reason", "applied_seq",
              "applied_at")  # fmt: skip
    readonly_fields = fields
    ordering = ("-id",)
    verbose_name_plural = "fee history (a change applies to trades after applied_seq)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MarketFeeChange]:
        return super().get_queryset(request).select_related("requested_by")

    @admin.display(description="maker")
    def maker(self, c: MarketFeeChange) -> str:
        return f"{plain(c.previous_maker_fee)} -> {plain(c.maker_fee)}"

    @admin.display(description="taker")
    def taker(self, c: MarketFeeChange) -> str:
        return f"{plain(c.previous_taker_fee)} -> {plain(c.taker_fee)}"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Market)
class MarketAdmin(AuditedAdmin):
    form = MarketForm
    audit_reason_required = True
    list_display = ("symbol", "status", "operator_status", "breaker_until", "base", "quote",
                    "tick", "step", "maker", "taker", "band", "shard")  # fmt: skip
    list_filter = ("status", "shard")
    search_fields = ("symbol",)
    list_select_related = ("base", "quote")
    inlines = (MarketFeeChangeInline,)

    @admin.display(description="tick")
    def tick(self, m: Market) -> str:
        return plain(m.tick_size)

    @admin.display(description="step")
    def step(self, m: Market) -> str:
        return plain(m.step_size)

    @admin.display(description="maker fee")
    def maker(self, m: Market) -> str:
        return plain(m.maker_fee)

    @admin.display(description="taker fee")
    def taker(self, m: Market) -> str:
        return plain(m.taker_fee)

    @admin.display(description="band %")
    def band(self, m: Market) -> str:
        return plain(m.price_band_pct)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                ("Market (the engine's units: cannot change while orders are open)",
                 {"fields": ENGINE_FIELDS}),
                ("Fees", {"fields": FEE_FIELDS}),
                ("Filters", {"fields": FILTER_FIELDS}),
                ("Risk limits", {"fields": RISK_FIELDS}),
                ("Audit", {"fields": ["audit_reason"]}),
            ]  # fmt: skip
        return [
            ("Market (the engine's units)", {"fields": (*ENGINE_FIELDS, "engine_panel")}),
            ("Trading state", {"fields": (*STATE_FIELDS, "state_panel")}),
            ("Fees", {"fields": (*FEE_FIELDS, "fees_panel")}),
            ("Filters", {"fields": FILTER_FIELDS}),
            ("Risk limits", {"fields": RISK_FIELDS}),
            ("Audit", {"fields": ["audit_reason"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return STATE_FIELDS
        return (*ENGINE_FIELDS, *STATE_FIELDS, *FEE_FIELDS, "engine_panel", "state_panel",
                "fees_panel")  # fmt: skip

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders and trades refer to it; halt it instead

    def save_model(self, request: HttpRequest, obj: Market, form: Any, change: bool) -> None:
        if not change:  # a new market starts in the exchange's current state
            obj.status = market_effective_status(obj, global_status=global_status_get())
        super().save_model(request, obj, form, change)

    # ------------------------------------------------------------------ panels

    @admin.display(description="how to change these")
    def engine_panel(self, m: Market) -> SafeString:
        blocker = market_engine_fields_blocker(m)
        halt = reverse("admin_rbac:kill_switch") + f"?market={m.symbol}&status=HALT"
        resume = reverse("admin_rbac:kill_switch") + f"?market={m.symbol}&status=TRADING"
        change = reverse("admin:orders_market_engine", args=[m.pk])
        return format_html(
            "Prices and quantities in the book and in the command stream are integers of this"
            " tick and step, and the stream is named by the symbol and served by the shard's"
            " matcher: changing them under open orders would reprice those orders. Safe path:"
            ' <ol><li><a href="{}">halt the market</a>,</li><li><a href="{}">cancel all its'
            ' orders</a> (same page, tick "cancel all"),</li><li><a href="{}">change the'
            ' fields</a>{},</li><li><a href="{}">resume trading</a>.</li></ol>',
            halt, halt, change, f" (now blocked: {blocker})" if blocker else " (possible now)",
            resume,
        )  # fmt: skip

    @admin.display(description="how to change it")
    def state_panel(self, m: Market) -> SafeString:
        url = reverse("admin_rbac:kill_switch") + f"?market={m.symbol}"
        return format_html(
            "The effective state is the most restrictive of the market's own state, the global"
            ' state ({}) and an active circuit breaker. Change it on the <a href="{}">kill'
            " switch</a>.", global_status_get(), url,
        )  # fmt: skip

    @admin.display(description="how to change them")
    def fees_panel(self, m: Market) -> SafeString:
        url = reverse("admin:orders_market_fees", args=[m.pk])
        pending = m.fee_changes.filter(applied_at=None).count()
        return format_html(
            'The rates in force. <a href="{}">Schedule a fee change</a>: it applies to the'
            " trades after the point of the market's stream where the matcher meets it, never to"
            " earlier ones.{}", url, f" {pending} change(s) not applied yet." if pending else "",
        )  # fmt: skip

    # ------------------------------------------------------------------ extra pages

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/fees/", wrap(self.fees_view), name="orders_market_fees"),
            path("<int:pk>/engine/", wrap(self.engine_view), name="orders_market_engine"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, market: Market, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin_rbac/form_page.html",
            {**self.admin_site.each_context(request), "opts": self.model._meta,
             "original": market, **context},
        )  # fmt: skip

    def fees_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("orders.change_market_fees"):
            raise PermissionDenied
        market = Market.objects.get(pk=pk)
        form = FeesForm(
            request.POST or None,
            initial={"maker_fee": plain(market.maker_fee), "taker_fee": plain(market.taker_fee)},
        )
        if request.method == "POST" and form.is_valid():
            try:
                change = market_fees_change(
                    market_id=market.pk, maker_fee=form.cleaned_data["maker_fee"],
                    taker_fee=form.cleaned_data["taker_fee"], actor=Actor.from_request(request),
                    reason=form.cleaned_data["reason"],
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, exc.msg)
            else:
                self.message_user(
                    request, f"Fee change {change.pk} scheduled: it applies from the matcher's"
                    " position in the market's stream.", messages.SUCCESS,
                )  # fmt: skip
                return HttpResponseRedirect(reverse("admin:orders_market_change", args=[pk]))
        return self._page(
            request, market, title=f"Fees of {market.symbol}", form=form, submit_label="Schedule",
            intro="New rates apply to trades executed after this change reaches the matcher"
            " through the market's command stream; trades before keep their rates. The point"
            " is recorded in the fee history.",
        )  # fmt: skip

    def engine_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("orders.change_market_engine_fields"):
            raise PermissionDenied
        market = Market.objects.select_related("base", "quote").get(pk=pk)
        initial = {f: getattr(market, f) for f in ENGINE_FIELDS}
        initial |= {f: plain(getattr(market, f)) for f in ("tick_size", "step_size", *UNIT_FILTERS)}
        form = EngineFieldsForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            changes = {
                f: form.cleaned_data[f]
                for f in (*ENGINE_FIELDS, *UNIT_FILTERS)
                if form.cleaned_data[f] != getattr(market, f)
            }
            try:
                if not changes:
                    raise DomainError("nothing to change")
                market_engine_fields_change(
                    market_id=market.pk, changes=changes, actor=Actor.from_request(request),
                    reason=form.cleaned_data["reason"],
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, exc.msg)
            else:
                self.message_user(
                    request, f"Changed {', '.join(changes)}. Resume trading on the kill switch"
                    " when ready.", messages.SUCCESS,
                )  # fmt: skip
                return HttpResponseRedirect(reverse("admin:orders_market_change", args=[pk]))
        return self._page(
            request, market, title=f"Engine fields of {market.symbol}", form=form,
            submit_label="Change", blocker=market_engine_fields_blocker(market),
            notes=self.engine_panel(market),
        )  # fmt: skip


class FeesForm(forms.Form):
    maker_fee = forms.DecimalField(max_digits=36, decimal_places=18, min_value=0,
                                   help_text="fraction: 0.001 = 0.1 %")  # fmt: skip
    taker_fee = forms.DecimalField(max_digits=36, decimal_places=18, min_value=0)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class EngineFieldsForm(forms.Form):
    symbol = forms.CharField(max_length=32, help_text="base + quote codes")
    base = forms.ModelChoiceField(queryset=Asset.objects.all())
    quote = forms.ModelChoiceField(queryset=Asset.objects.all())
    tick_size = forms.DecimalField(max_digits=36, decimal_places=18)
    step_size = forms.DecimalField(max_digits=36, decimal_places=18)
    shard = forms.IntegerField(min_value=0, max_value=32767,
                               help_text="the matcher shard serving the market")  # fmt: skip
    min_price = forms.DecimalField(max_digits=36, decimal_places=18,
                                   help_text="a multiple of the tick")  # fmt: skip
    max_price = forms.DecimalField(max_digits=36, decimal_places=18)
    min_qty = forms.DecimalField(max_digits=36, decimal_places=18,
                                 help_text="a multiple of the step")  # fmt: skip
    max_qty = forms.DecimalField(max_digits=36, decimal_places=18)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


# --------------------------------------------------------------------------- orders, trades


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "market", "user", "side", "type", "price_shown", "quantity_shown",
                    "executed_shown", "status", "created_at")  # fmt: skip
    list_filter = ("market", "status", "side", "type", user_input_filter("user"), "created_at")
    search_fields = ("=id", "client_order_id", "user__username")
    list_select_related = ("market__base", "market__quote", "user")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("cancel_orders",)
    fields = ("id", "market", "user", "client_order_id", "side", "type", "time_in_force",
              "price_shown", "stop_shown", "quantity_shown", "quote_order_qty_shown",
              "executed_shown", "cumulative_quote_shown", "status", "stp_mode", "reject_reason",
              "is_working", "accepted_seq", "priority_seq", "cancel_requested_at", "created_at",
              "working_at", "done_at", "hold_shown")  # fmt: skip
    readonly_fields = fields
    price_shown = market_amount("price", "quote", "price")
    stop_shown = market_amount("stop_price", "quote", "stop price")
    quantity_shown = market_amount("quantity", "base", "quantity")
    quote_order_qty_shown = market_amount("quote_order_qty", "quote", "quote order qty")
    executed_shown = market_amount("executed_qty", "base", "executed")
    cumulative_quote_shown = market_amount("cumulative_quote_qty", "quote", "cumulative quote")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # (A queryset with select_related here makes the changelist skip list_select_related.)
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="hold")
    def hold_shown(self, o: Order) -> str:
        from clearing.models import Hold

        hold = Hold.objects.filter(order=o).select_related("asset").first()
        if hold is None:
            return "-"
        p = hold.asset.precision
        return (f"{amount(hold.amount, p)} of {amount(hold.original_amount, p)}"
                f" {hold.asset.code} still held")  # fmt: skip

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.cancel_user_orders")

    @admin.action(description="Cancel selected orders", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        def run(reason: str) -> str:
            n = orders_cancel_by_operator(
                order_ids=queryset.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True),
                actor=Actor.from_request(request), reason=reason,
            )  # fmt: skip
            return f"Asked the engine to cancel {n} open order(s)."

        return confirmed_action(
            self, request, queryset, action="cancel_orders", title="Cancel orders",
            question="Cancel these orders (those still open)?", run=run,
        )  # fmt: skip


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = ("id", "market", "seq", "price_shown", "qty_shown", "quote_shown", "buyer",
                    "seller", "created_at", "settled_at")  # fmt: skip
    list_filter = ("market", user_input_filter("buyer", "seller"), "created_at",
                   ("settled_at", admin.EmptyFieldListFilter))  # fmt: skip
    search_fields = ("=id", "=maker_order__id", "=taker_order__id")
    list_select_related = ("market__base", "market__quote", "buyer", "seller")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ("id", "market", "seq", "maker_order", "taker_order", "buyer", "seller",
              "price_shown", "qty_shown", "quote_shown", "is_buyer_maker", "buyer_fee_shown",
              "seller_fee_shown", "created_at", "settled_at")  # fmt: skip
    readonly_fields = fields
    price_shown = market_amount("price", "quote", "price")
    qty_shown = market_amount("qty", "base", "qty")
    quote_shown = market_amount("quote_qty", "quote", "quote qty")
    buyer_fee_shown = market_amount("buyer_fee", "base", "buyer fee (base)")
    seller_fee_shown = market_amount("seller_fee", "quote", "seller fee (quote)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trade]:
        return super().get_queryset(request).select_related(*self.list_select_related)
