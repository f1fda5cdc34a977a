from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import User
from admin_rbac.auditing import confirmed_action
from admin_rbac.services import Actor
from exchange_site.admin_utils import ReadOnlyAdmin, amount
from exchange_site.errors import DomainError
from wallet.models import Asset

from .adjustments import adjustment_approve, adjustment_propose, adjustment_reject
from .models import Adjustment, Hold, LedgerAccount, LedgerTransaction, Posting, ReconcileRun


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "asset", "kind", "balance_shown")
    list_filter = ("kind", "asset")
    search_fields = ("user__username", "=user__id")
    list_select_related = ("user", "asset")
    show_full_result_count = False

    @admin.display(description="owner", ordering="user__username")
    def owner(self, account: LedgerAccount) -> str:
        return account.user.username if account.user is not None else "system"

    @admin.display(description="balance", ordering="balance")
    def balance_shown(self, account: LedgerAccount) -> str:
        return amount(account.balance, account.asset.precision)


class PostingInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Posting
    extra = 0
    can_delete = False
    fields = ("account_label", "amount_shown")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Posting]:
        return super().get_queryset(request).select_related("account__user", "account__asset")

    @admin.display(description="account")
    def account_label(self, posting: Posting) -> str:
        return str(posting.account)

    @admin.display(description="amount")
    def amount_shown(self, posting: Posting) -> str:
        return amount(posting.amount, posting.account.asset.precision)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    """A ledger transaction with its postings, read-only."""

    list_display = ("id", "key", "kind", "memo", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("key", "memo")
    fields = ("key", "kind", "memo", "created_at")
    readonly_fields = fields
    inlines = (PostingInline,)
    show_full_result_count = False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "key", "user", "asset", "amount_shown", "original_shown", "order",
                    "created_at", "released_at")  # fmt: skip
    list_filter = (("released_at", admin.EmptyFieldListFilter), "asset")
    search_fields = ("key", "user__username")
    list_select_related = ("user", "asset", "order")
    show_full_result_count = False

    @admin.display(description="held")
    def amount_shown(self, hold: Hold) -> str:
        return amount(hold.amount, hold.asset.precision)

    @admin.display(description="original")
    def original_shown(self, hold: Hold) -> str:
        return amount(hold.original_amount, hold.asset.precision)


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "problems")
    list_filter = ("created_at",)
    fields = ("created_at", "problems", "details")
    readonly_fields = fields


class ProposeForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.all(), widget=forms.TextInput,
        help_text="user id (from the user's page)",
    )  # fmt: skip
    asset = forms.ModelChoiceField(queryset=Asset.objects.all())
    amount = forms.DecimalField(
        max_digits=36, decimal_places=18, help_text="positive credits, negative debits"
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}))


@admin.register(Adjustment)
class AdjustmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Maker-checker: propose here (Add), then another finance operator approves or rejects
    with the list's actions. Nothing is edited in place."""

    list_display = ("id", "user", "asset", "amount_shown", "status", "proposed_by",
                    "proposed_at", "decided_by", "decided_at", "reason")  # fmt: skip
    list_filter = ("status", "asset", "proposed_at")
    search_fields = ("user__username", "reason")
    list_select_related = ("user", "asset", "proposed_by", "decided_by")
    readonly_fields = ("user", "asset", "amount", "reason", "status", "proposed_by",
                       "proposed_at", "decided_by", "decided_at", "decision_note",
                       "ledger_transaction")  # fmt: skip
    actions = ("approve", "reject")

    @admin.display(description="amount")
    def amount_shown(self, a: Adjustment) -> str:
        return amount(a.amount, a.asset.precision)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clearing.propose_adjustment")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clearing.approve_adjustment")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = ProposeForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = adjustment_propose(
                    user_id=form.cleaned_data["user"].pk,
                    asset_id=form.cleaned_data["asset"].pk,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=Actor.from_request(request),
                )
            except DomainError as exc:
                form.add_error(None, exc.msg)
            else:
                self.message_user(
                    request,
                    f"Proposed {adjustment}: another operator must approve it.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:clearing_adjustment_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Propose a manual adjustment",
            "intro": "Credits or debits a user's available balance through the ledger once"
            " another operator approves it (maker-checker). Both steps are audited.",
            "form": form,
            "submit_label": "Propose",
        }
        return TemplateResponse(request, "admin_rbac/form_page.html", context)

    @admin.action(description="Approve selected adjustments (posts to the ledger)",
                  permissions=["approve"])  # fmt: skip
    def approve(self, request: HttpRequest, queryset: QuerySet[Adjustment]) -> Any:
        def run(reason: str) -> str:
            done = [
                adjustment_approve(adjustment_id=a.pk, actor=Actor.from_request(request),
                                   note=reason)
                for a in queryset.order_by("id")
            ]  # fmt: skip
            return f"Approved and posted {len(done)} adjustment(s)."

        return confirmed_action(
            self, request, queryset, action="approve", title="Approve adjustments",
            question="Approve and post these adjustments to the ledger?", run=run,
        )  # fmt: skip

    @admin.action(description="Reject selected adjustments", permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Adjustment]) -> Any:
        def run(reason: str) -> str:
            for a in queryset.order_by("id"):
                adjustment_reject(
                    adjustment_id=a.pk, actor=Actor.from_request(request), note=reason
                )
            return f"Rejected {queryset.count()} adjustment(s)."

        return confirmed_action(
            self, request, queryset, action="reject", title="Reject adjustments",
            question="Reject these adjustments?", run=run,
        )  # fmt: skip
