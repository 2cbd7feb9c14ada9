"""The database keeps usage events' references whole without declared foreign keys (billing/migrations/
0013_reinstall_guards.sql): an event naming a missing tenant, SKU, project, profile version or user is
refused, whatever writes it, and a parent that events name cannot be deleted or renumbered. On PostgreSQL
an inserting transaction KEY SHARE-locks the parents it names, as a foreign key would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, OperationalError, connection, transaction

from billing.catalog.models import Sku
from billing.usage.models import Quarantine, UsageEvent
from billing.usage.quarantine import usage_event_reattribute
from tenants.models import Project, Tenant
from tests.factories import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    ProfileAssignmentFactory,
    ProjectFactory,
    TenantFactory,
    UserFactory,
    profile_document,
)
from tests.factories.usage import sku_with_meter, stored_pending_event
from tests.threads import held_open_in_another_thread

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 2, 10, tzinfo=UTC)
MISSING = 987_654_321
REFUSED = r"(?i)foreign key"


def _stored() -> UsageEvent:
    return stored_pending_event(TenantFactory.create(), sku_with_meter("api_calls"), "e-1", timestamp=AT)


def _raw(sql: str, params: list[Any], *, lock_timeout: str = "") -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if lock_timeout:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
        cursor.execute(sql, params)


@pytest.mark.parametrize("column", ["tenant_id", "sku_id", "project_id"])
def test_an_event_naming_a_missing_parent_is_not_stored(column):
    stored = _stored()
    values = {"tenant_id": stored.tenant_id, "sku_id": stored.sku_id, "project_id": None, column: MISSING}
    with pytest.raises(IntegrityError, match=REFUSED):
        _raw(
            "INSERT INTO billing_usageevent (tenant_id, tenant_slug, event_id, sku_id, sku_code, project_id, "
            'project_code, "timestamp", quantity, tags, payload_sha256, status, quarantine_reason, late, '
            "received_at, rating_batch_id) VALUES (%s, '', 'e-2', %s, 'api_calls', %s, '', %s, 1, '{}', "
            "'x', 'accepted', '', false, %s, %s)",
            [values["tenant_id"], values["sku_id"], values["project_id"], AT, AT, stored.rating_batch_id],
        )
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["e-1"]


@pytest.mark.parametrize(
    "column", ["tenant_id", "sku_id", "project_id", "profile_version_id", "reattributed_by_id"]
)
def test_an_event_cannot_be_pointed_at_a_missing_parent(column):
    stored = _stored()
    with pytest.raises(IntegrityError, match=REFUSED):
        _raw(f"UPDATE billing_usageevent SET {column} = %s", [MISSING])
    assert UsageEvent.objects.filter(pk=stored.pk).values_list(column, flat=True).get() == getattr(
        stored, column
    )


def test_one_missing_parent_refuses_the_whole_statement():
    stored = _stored()
    copies = [
        UsageEvent(
            tenant_id=stored.tenant_id,
            event_id=f"e-{n}",
            sku_id=MISSING if n == 3 else stored.sku_id,
            sku_code="api_calls",
            timestamp=AT,
            quantity=1,
            payload_sha256="x",
            received_at=AT,
            rating_batch_id=stored.rating_batch_id,
        )
        for n in (2, 3, 4)
    ]
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        UsageEvent.objects.bulk_create(copies)
    assert UsageEvent.objects.count() == 1


def _reattributed(stored: UsageEvent, user: User) -> tuple[UsageEvent, Project]:
    """An event of `stored`'s tenant and SKU, quarantined for a project the tenant did not have yet, then
    re-attributed by `user` to that project once created: the one path that writes an event's project
    after ingest and names who re-attributed it (usage_event_reattribute; the database refuses others)."""
    assert stored.tenant is not None
    assert stored.sku is not None
    profile = BillingProfileFactory.create()
    ApprovedVersionFactory.create(profile=profile, body=profile_document(profile.code, sku=stored.sku.code))
    ProfileAssignmentFactory.create(tenant=stored.tenant, profile=profile)
    quarantined = UsageEvent.objects.create(
        tenant=stored.tenant,
        event_id="e-later",
        sku=stored.sku,
        sku_code=stored.sku.code,
        project_code="later",
        timestamp=AT,
        quantity=1,
        payload_sha256="0" * 64,
        received_at=AT,
        status=UsageEvent.Status.QUARANTINED,
        quarantine_reason=Quarantine.UNKNOWN_PROJECT,
    )
    project = ProjectFactory.create(tenant=stored.tenant, code="later")
    return usage_event_reattribute(event=quarantined, actor=user, project=project), project


def test_events_may_name_parents_created_in_the_same_transaction():
    with transaction.atomic():
        stored = _stored()
        fixed, project = _reattributed(stored, UserFactory.create())
    assert UsageEvent.objects.get(pk=fixed.pk).project_id == project.pk


def _parents(stored: UsageEvent) -> dict[str, tuple[type[Any], int]]:
    user = UserFactory.create()
    _fixed, project = _reattributed(stored, user)
    assert stored.tenant_id is not None
    assert stored.sku_id is not None
    return {
        "tenants_tenant": (Tenant, stored.tenant_id),
        "billing_sku": (Sku, stored.sku_id),
        "tenants_project": (Project, project.pk),
        "auth_user": (type(user), user.pk),
    }


@pytest.mark.parametrize("table", ["tenants_tenant", "billing_sku", "tenants_project", "auth_user"])
def test_a_parent_named_by_events_cannot_be_deleted(table):
    stored = _stored()
    model, pk = _parents(stored)[table]
    with pytest.raises(IntegrityError, match=REFUSED):
        _raw(f"DELETE FROM {table} WHERE id = %s", [pk])
    assert model.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("table", ["tenants_tenant", "billing_sku", "tenants_project", "auth_user"])
def test_a_parent_named_by_events_cannot_be_renumbered(table):
    stored = _stored()
    model, pk = _parents(stored)[table]
    with pytest.raises(IntegrityError, match=REFUSED):
        _raw(f"UPDATE {table} SET id = %s WHERE id = %s", [MISSING, pk])
    assert model.objects.filter(pk=pk).exists()


def test_a_parent_no_event_names_can_be_deleted():
    _stored()
    other = TenantFactory.create()
    _raw("DELETE FROM tenants_tenant WHERE id = %s", [other.pk])
    assert not Tenant.objects.filter(pk=other.pk).exists()


def test_a_parent_can_still_be_updated():
    tenant = _stored().tenant
    assert tenant is not None
    Tenant.objects.filter(pk=tenant.pk).update(name="Renamed")
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_deleting_a_tenant_waits_for_a_transaction_storing_its_events():
    tenant, sku = TenantFactory.create(), sku_with_meter("api_calls")
    with (
        held_open_in_another_thread(lambda: stored_pending_event(tenant, sku, "e-1", timestamp=AT)),
        pytest.raises(OperationalError, match="lock timeout"),
    ):
        _raw("DELETE FROM tenants_tenant WHERE id = %s", [tenant.pk], lock_timeout="300ms")
    with pytest.raises(IntegrityError, match=REFUSED):
        _raw("DELETE FROM tenants_tenant WHERE id = %s", [tenant.pk])
    assert UsageEvent.objects.filter(tenant=tenant).count() == 1
