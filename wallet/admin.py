"""Back-office screens of the wallet: networks, addresses, deposits, the withdrawal review
queue (filters, approve/reject with a reason, retry/fail/cancel of a stuck one) and the
simulated chain. Every operator action goes through one service, which checks the permission
(wallet.approve_withdrawal / wallet.operate_withdrawal / wallet.resolve_deposit) and audits it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from admin_rbac.auditing import AuditedAdmin
from exchange_site.admin_utils import ReadOnlyAdmin
from exchange_site.errors import DomainError

from .models import (
    AddressBookEntry,
    Asset,
    Deposit,
    DepositAddress,
    Network,
    SimChain,
    SimTransaction,
    WalletProfile,
    Withdrawal,
    WithdrawalApproval,
    WithdrawalEvent,
    WithdrawalLimit,
)
from .services.deposits import deposit_resolve
from .services.withdrawals import withdrawal_operator_act


class AssetForm(forms.ModelForm):  # type: ignore[type-arg]
    def clean_precision(self) -> int:
        precision = int(self.cleaned_data["precision"])
        old = self.instance.precision if self.instance.pk else None
        if old is not None and precision < old:
            # Balances, holds and market sizes are exact at the old scale: never fewer places.
            raise forms.ValidationError(f"precision can only grow (now {old})")
        return precision


@admin.register(Asset)
class AssetAdmin(AuditedAdmin):
    form = AssetForm
    list_display = ("code", "name", "precision")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Market symbols are made of asset codes: a code is fixed once the asset exists.
        return ("code",) if obj is not None else ()


@admin.register(Network)
class NetworkAdmin(AuditedAdmin):
    list_display = (
        "asset", "code", "name", "backend", "is_default", "deposit_enabled", "withdraw_enabled",
        "withdraw_fee", "withdraw_min", "withdraw_max", "min_confirmations",
        "auto_approve_below", "dual_approval_above",
    )  # fmt: skip
    list_filter = ("backend", "deposit_enabled", "withdraw_enabled")
    readonly_fields = ("scan_cursor",)


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ("address", "user", "network", "created_at")
    search_fields = ("address", "user__username")
    list_select_related = ("user", "network__asset")


class FlaggedFilter(admin.SimpleListFilter):
    title = "needs an operator"
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "reorged after credit, unresolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(reorged_at__isnull=False, resolved_at__isnull=True)
        return queryset


class ResolveForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("reverse", "reverse the credit"), ("accept", "accept (the exchange bears it)")]
    )
    reason = forms.CharField(max_length=200)


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "user", "asset", "chain", "amount", "status", "confirmations", "source",
        "seen_at", "credited_at", "reorged_at", "resolution",
    )  # fmt: skip
    list_filter = (FlaggedFilter, "status", "asset", "chain", "source")
    search_fields = ("txid", "user__username", "address__address")
    list_select_related = ("user", "asset")

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view),
                 name="wallet_deposit_resolve"),
            *super().get_urls(),
        ]  # fmt: skip

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        deposit = get_object_or_404(Deposit, pk=pk)
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                assert request.user.pk is not None
                deposit_resolve(
                    deposit_id=deposit.pk, actor_id=request.user.pk,
                    reverse=form.cleaned_data["decision"] == "reverse",
                    note=form.cleaned_data["reason"],
                )  # fmt: skip
            except DomainError as exc:
                messages.error(request, exc.msg)
            else:
                messages.success(request, f"Deposit {deposit.pk} resolved.")
                return HttpResponseRedirect(reverse("admin:wallet_deposit_changelist"))
        context = {
            **self.admin_site.each_context(request), "title": f"Resolve deposit {deposit.pk}",
            "object": deposit, "form": form, "opts": self.opts,
        }  # fmt: skip
        return TemplateResponse(request, "admin/wallet/act.html", context)


class ApprovalInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WithdrawalApproval
    extra = 0
    can_delete = False
    readonly_fields = ("approver", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = WithdrawalEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "actor", "action", "from_status", "to_status", "note")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("review", "awaiting approval"),
            ("dual", "needs two approvers"),
            ("stuck", "stuck: needs an operator"),
            ("open", "not finished"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        S = Withdrawal.Status
        value = self.value()
        if value == "review":
            return queryset.filter(status=S.REQUESTED)
        if value == "dual":
            return queryset.filter(status=S.REQUESTED, approvals_required=2)
        if value == "stuck":
            return queryset.filter(stuck=True)
        if value == "open":
            return queryset.filter(status__in=(S.REQUESTED, S.APPROVED, S.PROCESSING, S.SENT))
        return queryset


ACTIONS = [
    ("approve", "approve"),
    ("reject", "reject (releases the funds)"),
    ("retry", "retry processing"),
    ("fail", "fail (only if nothing was sent; releases the funds)"),
    ("cancel", "cancel (only if nothing was sent; releases the funds)"),
]


class ActForm(forms.Form):
    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(
        max_length=200, required=False, help_text="Required to reject, fail or cancel."
    )


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "user", "asset", "network", "amount", "fee", "status", "approvals",
        "stuck", "requested_at", "txid",
    )  # fmt: skip
    list_filter = (QueueFilter, "status", "asset", "network__code", "stuck", "auto_approved")
    search_fields = ("=id", "user__username", "address", "txid", "withdraw_order_id")
    list_select_related = ("user", "asset", "network")
    inlines = (ApprovalInline, EventInline)
    actions = ("approve_selected",)
    readonly_fields = ("operator_actions",)

    @admin.display(description="approvals")
    def approvals(self, obj: Withdrawal) -> str:
        return f"{obj.approvals.count()}/{obj.approvals_required}"

    @admin.display(description="operator actions")
    def operator_actions(self, obj: Withdrawal) -> str:
        url = reverse("admin:wallet_withdrawal_act", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">Approve, reject, retry, fail, cancel</a>', url
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["operator_actions", *[f.name for f in Withdrawal._meta.fields]]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.approve_withdrawal")

    @admin.action(description="Approve selected withdrawals", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> None:
        assert request.user.pk is not None
        for withdrawal_id in queryset.values_list("pk", flat=True):
            self._act(request, withdrawal_id, "approve", "")

    def _act(self, request: HttpRequest, withdrawal_id: int, action: str, reason: str) -> bool:
        assert request.user.pk is not None
        try:
            w = withdrawal_operator_act(
                withdrawal_id=withdrawal_id, actor_id=request.user.pk, action=action, reason=reason
            )
        except DomainError as exc:
            messages.error(request, f"Withdrawal {withdrawal_id}: {exc.msg}")
            return False
        messages.success(request, f"Withdrawal {withdrawal_id}: {action} done, now {w.status}.")
        return True

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<int:pk>/act/", self.admin_site.admin_view(self.act_view),
                 name="wallet_withdrawal_act"),
            *super().get_urls(),
        ]  # fmt: skip

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        withdrawal = get_object_or_404(Withdrawal, pk=pk)
        form = ActForm(request.POST or None)
        if (
            request.method == "POST"
            and form.is_valid()
            and self._act(request, pk, form.cleaned_data["action"], form.cleaned_data["reason"])
        ):
            return HttpResponseRedirect(reverse("admin:wallet_withdrawal_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request), "title": f"Withdrawal {pk}",
            "object": withdrawal, "form": form, "opts": self.opts,
        }  # fmt: skip
        return TemplateResponse(request, "admin/wallet/act.html", context)


@admin.register(AddressBookEntry)
class AddressBookEntryAdmin(ReadOnlyAdmin):
    list_display = ("user", "network", "address", "label", "created_at", "usable_at", "removed_at")
    search_fields = ("address", "user__username", "label")
    list_select_related = ("user", "network__asset")


@admin.register(WalletProfile)
class WalletProfileAdmin(AuditedAdmin):
    list_display = ("user", "verified", "tier")
    list_filter = ("verified", "tier")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(WithdrawalLimit)
class WithdrawalLimitAdmin(AuditedAdmin):
    list_display = ("tier", "asset", "daily", "monthly")
    list_filter = ("tier",)


@admin.register(SimChain)
class SimChainAdmin(ReadOnlyAdmin):
    list_display = ("code", "height", "fail_mode")


@admin.register(SimTransaction)
class SimTransactionAdmin(ReadOnlyAdmin):
    list_display = ("chain", "txid", "vout", "asset", "address", "amount", "block", "dropped_at")
    list_filter = ("chain", "asset")
    search_fields = ("txid", "address")
