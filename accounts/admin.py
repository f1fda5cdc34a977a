"""Users (traders and operators) and API keys in the back office.

A user's page gathers what support needs: balances in every asset, open orders, recent trades,
API keys, behaviour flags and the audit trail, each with a link to the full filtered list.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from admin_rbac.auditing import AuditedAdmin, confirmed_action
from admin_rbac.models import AuditEntry
from admin_rbac.roles import ROLES
from admin_rbac.services import Actor
from clearing.models import LedgerAccount
from exchange_site.admin_utils import amount
from orders.models import OPEN_STATUSES, Order, Trade
from orders.operator import orders_cancel_by_operator, orders_open_of_users

from .models import ApiKey, User
from .services import api_keys_set_enabled, users_set_active

PAGE_ROWS = 20


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]], more: str = "") -> SafeString:
    if not rows:
        return format_html("<p>none</p>{}", more)
    header = format_html_join("", "<th>{}</th>", ((h,) for h in head))
    cells = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )  # fmt: skip
    return format_html("<table><tr>{}</tr>{}</table>{}", header, cells, more)


def _switch(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest, queryset: QuerySet[Any], on: bool, noun: str, suffix: str,
    service: Callable[..., int], ids_arg: str, flag_arg: str, note: str = "",
) -> Any:  # fmt: skip
    """Enable or disable the selected rows through `service`, after a confirmation with a
    reason (the service audits)."""
    verb = "enable" if on else "disable"

    def run(reason: str) -> str:
        n = service(**{ids_arg: [row.pk for row in queryset], flag_arg: on},
                    actor=Actor.from_request(request), reason=reason)  # fmt: skip
        return f"{verb.capitalize()}d {n} {noun}."

    return confirmed_action(
        modeladmin, request, queryset, action=f"{verb}_{suffix}",
        title=f"{verb.capitalize()} {noun}", question=f"{verb.capitalize()} these {noun}?{note}",
        run=run,
    )  # fmt: skip


def _link(url: str, text: str) -> SafeString:
    return format_html('<p><a href="{}">{}</a></p>', url, text)


class ApiKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("key_prefix", "label", "can_read", "can_trade", "can_withdraw", "tier", "enabled",
              "created_at", "last_used_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="key")
    def key_prefix(self, key: ApiKey) -> str:
        return f"{key.key[:12]}…"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class OperatorUserAdmin(AuditedAdmin, UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "email", "is_active", "is_staff", "roles", "date_joined",
                    "last_login")  # fmt: skip
    list_filter = ("is_active", "is_staff", "groups")
    inlines = (ApiKeyInline,)
    actions = ("disable_users", "enable_users", "cancel_open_orders", "disable_api_keys")
    show_full_result_count = False
    overview = ("balances", "open_orders", "recent_trades", "flags", "audit_trail")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def roles(self, user: User) -> str:
        return ", ".join(sorted(g.name for g in user.groups.all() if g.name in ROLES))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        if not request.user.has_perm("admin_rbac.assign_role"):
            # Roles (groups), superuser and raw permissions: only who may assign roles.
            hidden = {"groups", "user_permissions", "is_superuser"}
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]})
                for name, opts in fieldsets
            ]
        return [("Overview", {"fields": self.overview}), *fieldsets]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), *self.overview)

    # ------------------------------------------------------------------ overview panels

    @admin.display(description="balances")
    def balances(self, user: User) -> SafeString:
        accounts = LedgerAccount.objects.filter(user=user).select_related("asset")
        by_asset: dict[str, dict[str, Any]] = {}
        for a in accounts.order_by("asset__code"):
            row = by_asset.setdefault(a.asset.code, {"precision": a.asset.precision})
            row[a.kind] = a.balance
        rows = []
        for code, row in by_asset.items():
            p = row["precision"]
            avail = row.get("AVAILABLE", Decimal(0))
            locked = row.get("LOCKED", Decimal(0))
            rows.append((code, amount(avail, p), amount(locked, p), amount(avail + locked, p)))
        url = reverse("admin:clearing_ledgeraccount_changelist") + f"?user__id__exact={user.pk}"
        propose = reverse("admin:clearing_adjustment_add") + f"?user={user.pk}"
        links = format_html("{}{}", _link(url, "ledger accounts"),
                            _link(propose, "propose an adjustment"))  # fmt: skip
        return _table(("asset", "available", "locked", "total"), rows, links)

    @admin.display(description="open orders")
    def open_orders(self, user: User) -> SafeString:
        qs = Order.objects.filter(user=user, status__in=OPEN_STATUSES).select_related(
            "market__base", "market__quote"
        )
        rows = [
            (o.id, o.market.symbol, o.side, o.type, amount(o.price, o.market.quote.precision),
             amount(o.quantity, o.market.base.precision),
             amount(o.executed_qty, o.market.base.precision), o.status, o.created_at)
            for o in qs.order_by("-id")[:PAGE_ROWS]
        ]  # fmt: skip
        url = reverse("admin:orders_order_changelist")
        url += f"?user__id__exact={user.pk}&status__in={','.join(OPEN_STATUSES)}"
        return _table(("id", "market", "side", "type", "price", "quantity", "executed",
                       "status", "created"), rows, _link(url, "all open orders"))  # fmt: skip

    @admin.display(description="recent trades")
    def recent_trades(self, user: User) -> SafeString:
        qs = Trade.objects.filter(Q(buyer=user) | Q(seller=user)).select_related(
            "market__base", "market__quote"
        )
        rows = [
            (t.id, t.market.symbol, "BUY" if t.buyer_id == user.pk else "SELL",
             amount(t.price, t.market.quote.precision), amount(t.qty, t.market.base.precision),
             t.created_at, "yes" if t.settled_at else "no")
            for t in qs.order_by("-id")[:PAGE_ROWS]
        ]  # fmt: skip
        url = reverse("admin:orders_trade_changelist") + f"?user={user.username}"
        return _table(("id", "market", "side", "price", "qty", "time", "settled"), rows,
                      _link(url, "all trades"))  # fmt: skip

    @admin.display(description="behaviour flags")
    def flags(self, user: User) -> SafeString:
        from admin_rbac.models import UserFlag

        rows = [
            (f.kind, f.value, f.occurrences, f.first_seen, f.last_seen)
            for f in UserFlag.objects.filter(user=user).order_by("kind")
        ]
        url = reverse("admin:admin_rbac_userflag_changelist") + f"?user__id__exact={user.pk}"
        return _table(("flag", "last value", "times", "first seen", "last seen"), rows,
                      _link(url, "flags"))  # fmt: skip

    @admin.display(description="audit trail")
    def audit_trail(self, user: User) -> SafeString:
        entries = AuditEntry.objects.filter(subject_user=user).order_by("-id")[:PAGE_ROWS]
        rows = [(e.created_at, e.actor_name, e.action, e.target_repr, e.reason) for e in entries]
        url = reverse("admin:admin_rbac_auditentry_changelist")
        url += f"?subject_user__id__exact={user.pk}"
        return _table(("time", "operator", "action", "target", "reason"), rows,
                      _link(url, "full audit trail"))  # fmt: skip

    # ------------------------------------------------------------------ support actions

    def has_disable_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.disable_user")

    def has_cancel_orders_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.cancel_user_orders")

    def has_disable_keys_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.disable_apikey")

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], active: bool) -> Any:
        return _switch(
            self, request, queryset, active, "users", "users", users_set_active, "user_ids",
            "active",
            note=" A disabled user can neither log in nor use an API key.",
        )  # fmt: skip

    @admin.action(description="Disable selected users", permissions=["disable"])
    def disable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._set_active(request, queryset, False)

    @admin.action(description="Enable selected users", permissions=["disable"])
    def enable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._set_active(request, queryset, True)

    @admin.action(description="Cancel all open orders of selected users",
                  permissions=["cancel_orders"])  # fmt: skip
    def cancel_open_orders(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        def run(reason: str) -> str:
            ids = orders_open_of_users(user_ids=[u.pk for u in queryset])
            n = orders_cancel_by_operator(order_ids=ids, actor=Actor.from_request(request),
                                          reason=reason)  # fmt: skip
            return f"Asked the engine to cancel {n} open order(s)."

        return confirmed_action(
            self, request, queryset, action="cancel_open_orders", title="Cancel open orders",
            question="Cancel every open order of these users?", run=run,
        )  # fmt: skip

    @admin.action(description="Disable all API keys of selected users",
                  permissions=["disable_keys"])  # fmt: skip
    def disable_api_keys(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        def run(reason: str) -> str:
            ids = ApiKey.objects.filter(user__in=queryset).values_list("pk", flat=True)
            n = api_keys_set_enabled(key_ids=ids, enabled=False,
                                     actor=Actor.from_request(request), reason=reason)  # fmt: skip
            return f"Disabled {n} API key(s)."

        return confirmed_action(
            self, request, queryset, action="disable_api_keys", title="Disable API keys",
            question="Disable every API key of these users?", run=run,
        )  # fmt: skip

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # The password change and its audit entry commit together.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
    list_display = ("key_prefix", "user", "label", "can_read", "can_trade", "can_withdraw",
                    "tier", "enabled", "last_used_at")  # fmt: skip
    list_filter = ("enabled", "tier", "can_trade", "can_withdraw")
    search_fields = ("key", "user__username", "label")
    list_select_related = ("user",)
    exclude = ("secret_encrypted",)
    readonly_fields = ("key", "user", "created_at", "last_used_at")
    actions = ("disable_keys", "enable_keys")

    @admin.display(description="key")
    def key_prefix(self, key: ApiKey) -> str:
        return f"{key.key[:12]}…"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are issued through the trader UI or `manage.py issue_api_key`

    def has_disable_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.disable_apikey")

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[ApiKey], on: bool) -> Any:
        return _switch(
            self, request, queryset, on, "API keys", "keys", api_keys_set_enabled, "key_ids",
            "enabled",
        )  # fmt: skip

    @admin.action(description="Disable selected API keys", permissions=["disable"])
    def disable_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> Any:
        return self._set_enabled(request, queryset, False)

    @admin.action(description="Enable selected API keys", permissions=["disable"])
    def enable_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> Any:
        return self._set_enabled(request, queryset, True)
