"""Invariant 1 for profile versions: the database itself refuses to change or delete a version that
left draft (raw SQL, bypassing the ORM), and refuses self-approval (invariant 7)."""

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from billing.profiles.models import ProfileVersion
from tests.factories import ApprovedVersionFactory, ProfileVersionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _sql(statement: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_raw_sql_update_of_an_approved_body_fails():
    version = ApprovedVersionFactory.create()

    with pytest.raises(IntegrityError):
        _sql("UPDATE billing_profileversion SET body = %s WHERE id = %s", ['{"tampered": true}', version.pk])


def test_raw_sql_update_of_an_approved_effective_from_fails():
    version = ApprovedVersionFactory.create()

    with pytest.raises(IntegrityError):
        _sql(
            "UPDATE billing_profileversion SET effective_from = %s WHERE id = %s",
            ["2020-01-01 00:00:00+00:00", version.pk],
        )


def test_raw_sql_delete_of_an_approved_version_fails():
    version = ApprovedVersionFactory.create()

    with pytest.raises(IntegrityError):
        _sql("DELETE FROM billing_profileversion WHERE id = %s", [version.pk])

    assert ProfileVersion.objects.filter(pk=version.pk).exists()


def test_raw_sql_cannot_move_an_approved_version_back_to_draft():
    version = ApprovedVersionFactory.create()

    with pytest.raises(IntegrityError):
        _sql("UPDATE billing_profileversion SET status = 'draft' WHERE id = %s", [version.pk])


def test_raw_sql_cannot_change_the_hash_of_a_pending_version():
    version = ProfileVersionFactory.create(status=ProfileVersion.Status.PENDING_APPROVAL)

    with pytest.raises(IntegrityError):
        _sql("UPDATE billing_profileversion SET body_sha256 = %s WHERE id = %s", ["0" * 64, version.pk])


def test_a_draft_can_still_be_edited_and_deleted():
    version = ProfileVersionFactory.create()

    _sql(
        "UPDATE billing_profileversion SET effective_from = %s WHERE id = %s",
        ["2027-01-01 00:00:00+00:00", version.pk],
    )
    _sql("DELETE FROM billing_profileversion WHERE id = %s", [version.pk])

    assert not ProfileVersion.objects.filter(pk=version.pk).exists()


def test_a_draft_cannot_jump_straight_to_approved():
    version = ProfileVersionFactory.create()

    with pytest.raises(IntegrityError):
        _sql(
            "UPDATE billing_profileversion SET status = 'approved', decided_by_id = %s WHERE id = %s",
            [UserFactory.create().pk, version.pk],
        )


def test_approved_may_become_superseded():
    version = ApprovedVersionFactory.create()

    _sql("UPDATE billing_profileversion SET status = 'superseded' WHERE id = %s", [version.pk])

    version.refresh_from_db()
    assert version.status == ProfileVersion.Status.SUPERSEDED


def test_the_database_refuses_self_approval():
    version = ProfileVersionFactory.create(status=ProfileVersion.Status.PENDING_APPROVAL)

    with pytest.raises(IntegrityError):
        _sql(
            "UPDATE billing_profileversion SET status = 'approved', decided_by_id = author_id WHERE id = %s",
            [version.pk],
        )


def test_truncate_is_refused_on_postgresql():
    ApprovedVersionFactory.create()
    _sql("SET CONSTRAINTS ALL IMMEDIATE", [])  # flush pending FK checks so TRUNCATE reaches our trigger

    with pytest.raises(IntegrityError, match="TRUNCATE of billing_profileversion is not allowed"):
        _sql("TRUNCATE billing_profileversion CASCADE", [])
