"""`AuditedAdmin`: a ModelAdmin mixin that records each save and delete made in the admin in the audit trail
(ledger.audit), for models whose only writer is the admin (tax rules) or that the admin may also change
(profiles, assignments, draft versions). The admin runs each change view in a transaction, so the record
commits with the change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from ledger.audit.services import audit_record, audit_snapshot

ADMIN_REASON = "changed in the admin"


class AuditedAdmin(admin.ModelAdmin[Any]):
    """Mix in before the ModelAdmin class. `audit_name` prefixes the actions (`<audit_name>.create`,
    `.update`, `.delete`; default: the model's name)."""

    audit_name: str = ""

    def _audit_action(self, obj: models.Model, verb: str) -> str:
        return f"{self.audit_name or obj._meta.model_name}.{verb}"

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change and obj.pk else None
        before = audit_snapshot(stored) if stored is not None else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            # As stored (a form's Decimal("7") reads back as 7.0000).
            after = audit_snapshot(type(obj)._default_manager.get(pk=obj.pk))
            if before == after:
                return
            audit_record(
                actor=request.user,
                action=self._audit_action(obj, "update" if before is not None else "create"),
                obj=obj,
                before=before,
                after=after,
                reason=ADMIN_REASON,
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        before, pk = audit_snapshot(obj), obj.pk
        with transaction.atomic():
            super().delete_model(request, obj)
            audit_record(
                actor=request.user,
                action=self._audit_action(obj, "delete"),
                obj=None,
                object_type=obj._meta.label_lower,
                object_id=str(pk),
                before=before,
                after=None,
                reason=ADMIN_REASON,
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """One record per deleted row (the bulk action deletes them one by one here)."""
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)
