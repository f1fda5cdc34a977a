"""AuditedAdmin: every save, delete and password change made through an admin page is written
to the audit log, with a before/after diff, in the same transaction as the change.

Django's admin calls log_addition / log_change / log_deletions for each of them (inside the
transaction of the add, change and delete views); this mixin hooks there, so no admin page can
forget it. The "before" snapshot is taken when the admin loads the object for a POST.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models, transaction
from django.http import HttpRequest
from django.template.response import TemplateResponse

from exchange_site.errors import DomainError

from .services import Actor, audit_diff, audit_record, audit_snapshot

_BEFORE = "_audit_before"
_PENDING_DELETIONS = "_audit_pending_deletions"
REASON_FIELD = "audit_reason"


def _key(obj: models.Model) -> tuple[str, Any]:
    return (obj._meta.label_lower, obj.pk)


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Mixin for every operator-facing ModelAdmin (list it before admin.ModelAdmin's subclasses
    in the bases). Change forms get a "reason" field, required with `audit_reason_required`."""

    audit_reason_required = False

    # ------------------------------------------------------------------ the reason field

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        # The reason is a form field of ours, not a model field: keep it out of the list the
        # ModelForm is built from (the admin derives that list from the fieldsets).
        if "fields" not in kwargs:
            kwargs["fields"] = _flatten(
                opts.get("fields", ()) for _, opts in self.get_fieldsets(request, obj)
            )
        if kwargs["fields"] is not None:
            kwargs["fields"] = [f for f in kwargs["fields"] if f != REASON_FIELD]
        form = super().get_form(request, obj, change=change, **kwargs)
        if REASON_FIELD in form.base_fields:
            return form
        field = forms.CharField(
            label="Reason (audit log)",
            required=self.audit_reason_required,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
            help_text="Why this change is made; recorded with it in the audit log.",
        )
        return type(form.__name__, (form,), {REASON_FIELD: field})

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        named = {f for _, opts in fieldsets for f in _flatten(opts.get("fields", ()))}
        if REASON_FIELD not in named and self._can_save(request, obj):
            fieldsets.append(("Audit", {"fields": [REASON_FIELD]}))
        return fieldsets

    def _can_save(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    # ------------------------------------------------------------------ the hooks

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "POST":
            before = getattr(request, _BEFORE, None)
            if before is None:
                before = {}
                setattr(request, _BEFORE, before)
            before[_key(obj)] = audit_snapshot(obj)
        return obj

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        audit_record(
            actor=Actor.from_request(request), action=f"{obj._meta.model_name}.admin_add",
            target=obj, after=audit_snapshot(obj), reason=_reason(request),
        )  # fmt: skip
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        before = getattr(request, _BEFORE, {}).pop(_key(obj), None)
        after = audit_snapshot(obj)
        if "password1" in request.POST:  # the password form (the hash itself is never logged)
            before, after = {**(before or {}), "password": "(old)"}, {**after, "password": "(new)"}
        old, new = audit_diff(before, after)
        audit_record(
            actor=Actor.from_request(request), action=f"{obj._meta.model_name}.admin_change",
            target=obj, before=old, after=new, reason=_reason(request),
        )  # fmt: skip
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        entries = [(obj, audit_snapshot(obj)) for obj in queryset]
        if transaction.get_connection().in_atomic_block:
            _record_deletions(request, entries)  # the delete view: one transaction
        else:
            setattr(request, _PENDING_DELETIONS, entries)  # delete_selected: see delete_queryset
        return super().log_deletions(request, queryset)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            _record_deletions(request, getattr(request, _PENDING_DELETIONS, []))
            setattr(request, _PENDING_DELETIONS, [])
            super().delete_queryset(request, queryset)


def _record_deletions(request: HttpRequest, entries: Sequence[tuple[Any, dict[str, Any]]]) -> None:
    actor = Actor.from_request(request)
    for obj, snapshot in entries:
        audit_record(
            actor=actor, action=f"{obj._meta.model_name}.admin_delete", target=obj,
            before=snapshot, reason=_reason(request),
        )  # fmt: skip


def _reason(request: HttpRequest) -> str:
    return str(request.POST.get(REASON_FIELD, "")).strip()


def _flatten(fields: Any) -> list[str]:
    out: list[str] = []
    for f in fields:
        out.extend(_flatten(f) if isinstance(f, list | tuple) else [f])
    return out


def confirmed_action(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: Any,
    *,
    action: str,
    title: str,
    question: str,
    run: Callable[[str], str],
    confirm_label: str = "Yes, do it",
) -> TemplateResponse | None:
    """An admin action with a confirmation step and a required reason: the first POST shows
    the objects and asks for the reason; the second (confirm=yes, reason given) calls
    run(reason), which performs and audits the action and returns the message to show."""
    reason = str(request.POST.get("reason", "")).strip()
    error = ""
    if request.POST.get("confirm") == "yes":
        if reason:
            try:
                message = run(reason)
            except DomainError as exc:
                modeladmin.message_user(request, exc.msg, messages.ERROR)
                return None
            modeladmin.message_user(request, message, messages.SUCCESS)
            return None
        error = "A reason is required."
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "question": question,
        "queryset": queryset,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_label": confirm_label,
        "error": error,
    }
    return TemplateResponse(request, "admin_rbac/action_confirm.html", context)
