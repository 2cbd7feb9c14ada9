"""The database allows only the moves the billing services make (billing/migrations/
0015_state_machine_guards.sql): each forbidden move is tried with raw SQL and refused, and the service
that makes the legitimate move still passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from billing.governance.versions import profile_version_approve, profile_version_submit
from billing.profiles.models import ProfileVersion
from billing.profiles.services import profile_create, profile_version_create
from billing.rating.failed import usage_failed_batch_quarantine
from billing.rating.models import BillingPeriod, UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import Quarantine, RatingBatch, UsageEvent
from billing.usage.quarantine import usage_event_reattribute
from tenants.models import Role
from tests.factories import ProfileVersionFactory, SkuFactory, UserFactory, finance_user, profile_document
from tests.factories.ledger import tax_rule, usage, world
from tests.factories.usage import sku_with_meter, stored_pending_event

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 2, 10, tzinfo=UTC)
OCT_30 = datetime(2026, 10, 30, 10, tzinfo=UTC)
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params or [])


# Profile versions


def _insert_version(status: str, decided_by: int | None) -> None:
    author = UserFactory.create()
    profile = ProfileVersionFactory.create().profile
    body = json.dumps({"profile": profile.code})
    _sql(
        "INSERT INTO billing_profileversion (profile_id, number, body, body_sha256, status, effective_from, "
        "author_id, created_at, submitted_at, decided_by_id, decided_at, decision_note) "
        "VALUES (%s, 99, %s, %s, %s, now(), %s, now(), now(), %s, now(), '')",
        [profile.pk, body, "0" * 64, status, author.pk, decided_by],
    )


@pytest.mark.parametrize("status", ["approved", "superseded", "pending_approval", "rejected"])
def test_a_version_cannot_be_inserted_past_draft(status):
    approver = finance_user()

    with pytest.raises(IntegrityError, match="created as a draft"):
        _insert_version(status, approver.pk)
    assert not ProfileVersion.objects.filter(number=99).exists()


def test_only_a_finance_approver_can_approve():
    pending = ProfileVersionFactory.create(status=ProfileVersion.Status.PENDING_APPROVAL)
    editor = finance_user(Role.FINANCE_EDITOR)

    with pytest.raises(IntegrityError, match="does not hold the finance_approver role"):
        _sql(
            "UPDATE billing_profileversion SET status = 'approved', decided_by_id = %s, decided_at = now() "
            "WHERE id = %s",
            [editor.pk, pending.pk],
        )
    assert ProfileVersion.objects.get(pk=pending.pk).status == ProfileVersion.Status.PENDING_APPROVAL


def test_only_a_finance_approver_can_reject():
    pending = ProfileVersionFactory.create(status=ProfileVersion.Status.PENDING_APPROVAL)

    with pytest.raises(IntegrityError, match="does not hold the finance_approver role"):
        _sql(
            "UPDATE billing_profileversion SET status = 'rejected', decided_by_id = %s, decided_at = now(), "
            "decision_note = 'no' WHERE id = %s",
            [UserFactory.create().pk, pending.pk],
        )


def test_an_approval_records_when():
    pending = ProfileVersionFactory.create(status=ProfileVersion.Status.PENDING_APPROVAL)

    with pytest.raises(IntegrityError, match="a decision records who and when"):
        _sql(
            "UPDATE billing_profileversion SET status = 'approved', decided_by_id = %s WHERE id = %s",
            [finance_user().pk, pending.pk],
        )


def test_the_author_of_a_draft_is_frozen():
    draft = ProfileVersionFactory.create()

    with pytest.raises(IntegrityError, match="its author, profile, number and creation time never change"):
        _sql(
            "UPDATE billing_profileversion SET author_id = %s WHERE id = %s",
            [UserFactory.create().pk, draft.pk],
        )


def test_a_submission_records_when():
    draft = ProfileVersionFactory.create()

    with pytest.raises(IntegrityError, match="submitting records when"):
        _sql("UPDATE billing_profileversion SET status = 'pending_approval' WHERE id = %s", [draft.pk])


def test_the_services_draft_submit_and_approve_a_version(finance_editor, finance_approver):
    SkuFactory.create(code="api_calls")
    profile = profile_create(code="std", name="Standard")
    draft = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=finance_editor.user
    )

    pending = profile_version_submit(version=draft, actor=finance_editor.user)
    approved = profile_version_approve(version=pending, approver=finance_approver.user, note="ok")

    assert approved.status == ProfileVersion.Status.APPROVED
    assert (approved.author_id, approved.decided_by_id) == (finance_editor.user.pk, finance_approver.user.pk)


# Usage events


def _event() -> UsageEvent:
    return stored_pending_event(world(slug="acme").tenant, sku_with_meter("api_calls"), "e-1", timestamp=AT)


@pytest.mark.parametrize(
    ("assignment", "refusal"),
    [
        ("quantity = quantity + 1", "what the client sent and when it arrived never change"),
        ("payload_sha256 = 'x'", "what the client sent and when it arrived never change"),
        (
            "received_at = received_at - interval '1 day'",
            "what the client sent and when it arrived never change",
        ),
        ('tags = \'{"region": "elsewhere"}\'', "attribution changes only when re-attribution"),
        ("sku_code = 'other'", "attribution changes only when re-attribution"),
        ("rating_batch_id = rating_batch_id + 1", "attribution changes only when re-attribution"),
    ],
)
def test_an_accepted_event_cannot_be_rewritten(assignment, refusal):
    stored = _event()

    with pytest.raises(IntegrityError, match=refusal):
        _sql(f"UPDATE billing_usageevent SET {assignment} WHERE id = %s", [stored.pk])


def test_an_accepted_event_cannot_be_moved_to_another_tenant():
    stored = _event()
    other = world(slug="other").tenant

    with pytest.raises(IntegrityError, match="attribution changes only when re-attribution"):
        _sql("UPDATE billing_usageevent SET tenant_id = %s WHERE id = %s", [other.pk, stored.pk])


def test_late_never_goes_back_to_false():
    stored = _event()
    _sql("UPDATE billing_usageevent SET late = true WHERE id = %s", [stored.pk])  # as rating flags it

    with pytest.raises(IntegrityError, match="late only goes from false to true"):
        _sql("UPDATE billing_usageevent SET late = false WHERE id = %s", [stored.pk])


def test_a_recorded_profile_version_never_changes():
    stored = _event()
    version = ProfileVersion.objects.get()
    _sql("UPDATE billing_usageevent SET profile_version_id = %s WHERE id = %s", [version.pk, stored.pk])

    with pytest.raises(IntegrityError, match="profile version is recorded once"):
        _sql("UPDATE billing_usageevent SET profile_version_id = NULL WHERE id = %s", [stored.pk])


def test_quarantining_changes_nothing_but_the_status_and_its_reason():
    stored = _event()

    with pytest.raises(IntegrityError, match="quarantining an event changes its status and reason only"):
        _sql(
            "UPDATE billing_usageevent SET status = 'quarantined', quarantine_reason = 'x', late = true "
            "WHERE id = %s",
            [stored.pk],
        )


def _quarantined() -> UsageEvent:
    stored = _event()
    _sql(  # as rating quarantines an event with no version in force
        "UPDATE billing_usageevent SET status = 'quarantined', quarantine_reason = %s WHERE id = %s",
        [Quarantine.NO_PROFILE_VERSION, stored.pk],
    )
    return UsageEvent.objects.get(pk=stored.pk)


def test_a_quarantined_event_is_accepted_only_by_a_recorded_reattribution():
    quarantined = _quarantined()

    with pytest.raises(IntegrityError, match="re-attribution records who and when"):
        _sql(
            "UPDATE billing_usageevent SET status = 'accepted', quarantine_reason = '' WHERE id = %s",
            [quarantined.pk],
        )


def test_a_reattributed_event_goes_to_rating_in_a_new_batch():
    quarantined = _quarantined()

    with pytest.raises(IntegrityError, match="goes to rating in a new batch"):
        _sql(
            "UPDATE billing_usageevent SET status = 'accepted', quarantine_reason = '', reattributed_by_id = %s, "
            "reattributed_at = now() WHERE id = %s",
            [UserFactory.create().pk, quarantined.pk],
        )


def test_usage_events_are_never_deleted_or_truncated():
    stored = _event()

    with pytest.raises(IntegrityError, match="DELETE on billing_usageevent is not allowed"):
        _sql("DELETE FROM billing_usageevent WHERE id = %s", [stored.pk])
    with pytest.raises(IntegrityError, match="TRUNCATE of billing_usageevent is not allowed"):
        _sql("TRUNCATE billing_usageevent")
    assert UsageEvent.objects.filter(pk=stored.pk).exists()


def test_rating_quarantines_and_reattribution_accepts_through_the_guard(staff):
    # rating quarantines an event with no version in force (the tenant's assignment ended before it)
    stored = _event()
    tenant = stored.tenant
    assert tenant is not None
    tenant.profile_assignments.update(effective_to=datetime(2026, 11, 1, tzinfo=UTC))
    usage_rate_pending()
    quarantined = UsageEvent.objects.get(pk=stored.pk)
    assert (quarantined.status, quarantined.quarantine_reason) == ("quarantined", "no_profile_version")

    # finance puts the tenant back on its profile and re-attributes the event, which rating then rates
    tenant.profile_assignments.update(effective_to=None)
    fixed = usage_event_reattribute(event=quarantined, actor=staff.user)
    usage_rate_pending()

    assert (fixed.status, fixed.reattributed_by_id) == ("accepted", staff.user.pk)
    assert fixed.rating_batch_id != stored.rating_batch_id
    assert UsageAggregate.objects.get().quantity == Decimal(1)


def test_rating_flags_late_and_records_per_event_versions_through_the_guard():
    # given: an event priced per event, in a period already closed
    w = world(slug="pct", prices=[{"sku": "fees", "model": "percentage", "rate": "2.9"}])
    BillingPeriod.objects.create(
        tenant=w.tenant,
        key="2026-10",
        start=datetime(2026, 10, 1, tzinfo=UTC),
        end=datetime(2026, 11, 1, tzinfo=UTC),
        status="closed",
        closed_at=datetime(2026, 11, 4, tzinfo=UTC),
    )
    stored = stored_pending_event(w.tenant, sku_with_meter("fees"), "late", timestamp=OCT_30)

    # when: rating flags it late and records its version (false -> true, NULL -> a version)
    usage_rate_pending()

    # then
    rated = UsageEvent.objects.get(pk=stored.pk)
    assert (rated.late, rated.profile_version_id) == (True, w.version.pk)
    assert RatingBatch.objects.get(pk=stored.rating_batch_id or 0).status == "rated"


# Rating batches


def _batch() -> RatingBatch:
    stored = _event()
    return RatingBatch.objects.get(pk=stored.rating_batch_id or 0)


@pytest.mark.parametrize(
    ("moves", "refusal"),
    [
        (["status = 'rated', rated_at = now()", "status = 'pending', rated_at = NULL"], "rated -> pending"),
        (
            [
                "status = 'rated', rated_at = now()",
                "status = 'failed', rated_at = NULL, failed_at = now(), failure_reason = 'x'",
            ],
            "rated -> failed",
        ),
        (
            [
                "status = 'failed', failed_at = now(), failure_reason = 'x'",
                "status = 'pending', failed_at = NULL, failure_reason = ''",
            ],
            "failed -> pending",
        ),
        (
            ["status = 'rated', rated_at = now()", "rated_at = now() + interval '1 day'"],
            "written by its status move only",
        ),
        (
            ["status = 'failed', failed_at = now(), failure_reason = 'x'", "failure_reason = 'y'"],
            "written by its status move only",
        ),
    ],
)
def test_a_rating_batch_only_moves_forward(moves, refusal):
    batch = _batch()
    *allowed, forbidden = moves
    for move in allowed:
        _sql(f"UPDATE billing_ratingbatch SET {move} WHERE id = %s", [batch.pk])

    with pytest.raises(IntegrityError, match=refusal):
        _sql(f"UPDATE billing_ratingbatch SET {forbidden} WHERE id = %s", [batch.pk])


@pytest.mark.parametrize(
    "assignment",
    [
        "first_event_id = first_event_id - 1",
        "last_event_id = last_event_id + 1",
        "event_count = 2",
        "tenant_ids = '[]'",
        "tenant_id = NULL",
        "earliest_event_at = earliest_event_at - interval '1 hour'",
    ],
)
def test_what_a_rating_batch_holds_never_changes(assignment):
    batch = _batch()

    with pytest.raises(IntegrityError, match="only its status and the record of its rating change"):
        _sql(f"UPDATE billing_ratingbatch SET {assignment} WHERE id = %s", [batch.pk])


def test_a_rating_batch_is_created_pending():
    batch = _batch()

    with pytest.raises(IntegrityError, match="created pending, not rated"):
        _sql(
            "INSERT INTO billing_ratingbatch (first_event_id, last_event_id, event_count, tenant_ids, "
            "earliest_event_at, latest_event_at, source, status, created_at, rated_at, failure_reason) "
            "SELECT first_event_id, last_event_id, 1, tenant_ids, earliest_event_at, latest_event_at, "
            "'ingest', 'rated', now(), now(), '' FROM billing_ratingbatch WHERE id = %s",
            [batch.pk],
        )


def test_rating_batches_are_never_deleted_or_truncated():
    batch = _batch()

    with pytest.raises(IntegrityError, match="DELETE on billing_ratingbatch is not allowed"):
        _sql("DELETE FROM billing_ratingbatch WHERE id = %s", [batch.pk])
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # flush pending FK checks so TRUNCATE reaches the trigger
    with pytest.raises(IntegrityError, match="TRUNCATE of billing_ratingbatch is not allowed"):
        _sql("TRUNCATE billing_ratingbatch")


def test_rating_sets_a_batch_aside_and_an_operator_closes_it_through_the_guard():
    # given: a tenant whose hourly bucket is one unit from the column's limit (rating fails: pending -> failed)
    tax_rule("DE", "19")
    w = world(slug="bad")
    usage(w.tenant, "api_calls", w.version, AT, str(Decimal(10) ** 26 - 1))
    poison = stored_pending_event(
        w.tenant, sku_with_meter("api_calls"), "poison", timestamp=AT, quantity=Decimal(2)
    )
    usage_rate_pending()
    failed = RatingBatch.objects.get(pk=poison.rating_batch_id or 0)
    assert failed.status == RatingBatch.Status.FAILED

    # when: an operator quarantines its events (accepted -> quarantined; failed -> rated)
    moved = usage_failed_batch_quarantine(batch_id=failed.pk)

    # then
    closed = RatingBatch.objects.get(pk=failed.pk)
    assert (moved, closed.status, closed.failure_reason) == (1, "rated", failed.failure_reason)
    assert UsageEvent.objects.get(pk=poison.pk).status == "quarantined"
