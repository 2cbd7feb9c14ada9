from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.governance.versions import (
    profile_version_approve,
    profile_version_reject,
    profile_version_submit,
)
from billing.pricing import document_sha256
from billing.profiles.models import ProfileVersion
from billing.profiles.services import profile_create, profile_version_create, profile_version_update_draft
from common.errors import PermissionDenied, StateError, ValidationFailed
from tenants.models import Role
from tests.factories import SkuFactory, finance_user, profile_document

pytestmark = pytest.mark.django_db

FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
def sku():
    return SkuFactory.create(code="api_calls")


@pytest.fixture
def author(finance_editor):
    return finance_editor.user


@pytest.fixture
def approver(finance_approver):
    return finance_approver.user


@pytest.fixture
def pending(sku, author):
    profile = profile_create(code="std", name="Standard")
    version = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )
    return profile_version_submit(version=version, actor=author)


def test_a_draft_stores_the_canonical_document_and_its_hash(sku, author):
    profile = profile_create(code="std", name="Standard")

    version = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )

    assert version.number == 1
    assert version.status == ProfileVersion.Status.DRAFT
    assert version.body_sha256 == document_sha256(profile_document("std"))


def test_versions_are_numbered_per_profile(sku, author):
    profile = profile_create(code="std", name="Standard")
    for _ in range(2):
        profile_version_create(
            profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
        )

    assert list(profile.versions.values_list("number", flat=True)) == [1, 2]


def test_an_invalid_document_is_refused_with_field_addressed_errors(sku, author):
    profile = profile_create(code="std", name="Standard")
    body = profile_document("std", unit_amount="abc")

    with pytest.raises(ValidationFailed) as err:
        profile_version_create(profile=profile, body=body, effective_from=FUTURE, author=author)

    assert [i.field for i in err.value.issues] == ["prices[0].unit_amount"]


def test_a_document_pricing_an_unknown_sku_is_refused(author):
    SkuFactory.create(code="api_calls")
    profile = profile_create(code="std", name="Standard")

    with pytest.raises(ValidationFailed) as err:
        profile_version_create(
            profile=profile, body=profile_document("std", sku="ghost"), effective_from=FUTURE, author=author
        )

    assert [i.field for i in err.value.issues] == ["prices[0].sku"]


def test_a_customer_cannot_draft_versions(sku, alice):
    profile = profile_create(code="std", name="Standard")

    with pytest.raises(PermissionDenied):
        profile_version_create(
            profile=profile, body=profile_document("std"), effective_from=FUTURE, author=alice.user
        )


def test_another_approver_approves_a_pending_version(pending, approver):
    version = profile_version_approve(version=pending, approver=approver)

    assert version.status == ProfileVersion.Status.APPROVED
    assert version.decided_by == approver


def test_the_author_cannot_approve_its_own_version(sku, approver):
    author = approver  # an approver may draft too
    profile = profile_create(code="std", name="Standard")
    version = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )
    version = profile_version_submit(version=version, actor=author)

    with pytest.raises(PermissionDenied, match="author"):
        profile_version_approve(version=version, approver=author)


def test_an_editor_cannot_approve(pending):
    with pytest.raises(PermissionDenied):
        profile_version_approve(version=pending, approver=finance_user(Role.FINANCE_EDITOR))


def test_a_draft_cannot_be_approved_before_submission(sku, author, approver):
    profile = profile_create(code="std", name="Standard")
    draft = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )

    with pytest.raises(StateError):
        profile_version_approve(version=draft, approver=approver)


def test_a_version_cannot_take_effect_in_the_past(sku, author, approver):
    profile = profile_create(code="std", name="Standard")
    version = profile_version_create(
        profile=profile,
        body=profile_document("std"),
        effective_from=timezone.now() - timedelta(days=1),
        author=author,
    )
    version = profile_version_submit(version=version, actor=author)

    with pytest.raises(ValidationFailed) as err:
        profile_version_approve(version=version, approver=approver)

    assert err.value.issues[0].field == "effective_from"


def test_approving_a_later_version_supersedes_the_earlier_one(sku, author, approver):
    profile = profile_create(code="std", name="Standard")
    first = profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )
    first = profile_version_approve(
        version=profile_version_submit(version=first, actor=author), approver=approver
    )
    second = profile_version_create(
        profile=profile,
        body=profile_document("std", unit_amount="0.2"),
        effective_from=FUTURE + timedelta(days=31),
        author=author,
    )

    profile_version_approve(version=profile_version_submit(version=second, actor=author), approver=approver)

    first.refresh_from_db()
    assert first.status == ProfileVersion.Status.SUPERSEDED


def test_a_rejection_needs_a_reason(pending, approver):
    with pytest.raises(ValidationFailed):
        profile_version_reject(version=pending, approver=approver, reason="  ")


def test_a_rejected_version_records_the_reason(pending, approver):
    version = profile_version_reject(version=pending, approver=approver, reason="tier 2 too cheap")

    assert (version.status, version.decision_note) == (ProfileVersion.Status.REJECTED, "tier 2 too cheap")


def test_a_submitted_version_can_no_longer_be_edited(pending, author):
    with pytest.raises(StateError):
        profile_version_update_draft(
            version=pending, body=profile_document("std", unit_amount="1"), effective_from=None, actor=author
        )


def test_assigning_a_price_list_that_names_another_jurisdiction_is_refused(sku, author):
    from billing.profiles.services import profile_assign
    from tests.factories import TenantFactory

    profile = profile_create(code="std", name="Standard")
    profile_version_create(
        profile=profile, body=profile_document("std"), effective_from=FUTURE, author=author
    )
    tenant = TenantFactory.create(slug="lyon", country="FR", tax_jurisdiction="FR")  # the document says DE
    with pytest.raises(ValidationFailed) as err:
        profile_assign(tenant=tenant, profile=profile, effective_from=FUTURE)
    assert [(i.field, i.message) for i in err.value.issues] == [
        ("tax.jurisdiction", "the price list names tax jurisdiction DE, tenant lyon is supplied in FR")
    ]


def test_a_version_naming_another_jurisdiction_than_an_assigned_tenant_is_refused(sku, author):
    from billing.profiles.services import profile_assign
    from tests.factories import TenantFactory

    profile = profile_create(code="std", name="Standard")
    body = profile_document("std")
    del body["tax"]["jurisdiction"]
    profile_version_create(profile=profile, body=body, effective_from=FUTURE, author=author)
    profile_assign(
        tenant=TenantFactory.create(slug="lyon", country="FR", tax_jurisdiction="FR"),
        profile=profile,
        effective_from=FUTURE,
    )
    with pytest.raises(ValidationFailed, match="tax jurisdiction conflict"):
        profile_version_create(
            profile=profile,
            body=profile_document("std"),
            effective_from=FUTURE + timedelta(days=1),
            author=author,
        )


def _without_jurisdiction(body):
    del body["tax"]["jurisdiction"]
    return body


@pytest.fixture
def draft_on_lyon(sku, author):
    """A draft without a tax jurisdiction of profile std, which tenant lyon (supplied in FR) is on."""
    from billing.profiles.services import profile_assign
    from tests.factories import TenantFactory

    profile = profile_create(code="std", name="Standard")
    body = profile_document("std")
    del body["tax"]["jurisdiction"]
    draft = profile_version_create(profile=profile, body=body, effective_from=FUTURE, author=author)
    profile_assign(
        tenant=TenantFactory.create(slug="lyon", country="FR", tax_jurisdiction="FR"),
        profile=profile,
        effective_from=FUTURE,
    )
    return draft


@pytest.mark.parametrize(
    ("body", "effective_from", "issue"),
    [
        (_without_jurisdiction(profile_document("other")), None, ("profile", "must be 'std'")),
        (
            profile_document("std"),  # names DE
            None,
            ("tax.jurisdiction", "the price list names tax jurisdiction DE, tenant lyon is supplied in FR"),
        ),
        (None, datetime(2099, 2, 1), ("effective_from", "naive")),
    ],
)
def test_a_draft_edit_is_validated_as_a_new_draft_is(draft_on_lyon, author, body, effective_from, issue):
    if body is None:
        body = dict(draft_on_lyon.body)

    with pytest.raises(ValidationFailed) as err:
        profile_version_update_draft(
            version=draft_on_lyon, body=body, effective_from=effective_from, actor=author
        )

    assert [(i.field, i.message) for i in err.value.issues] == [issue]
    draft_on_lyon.refresh_from_db()
    assert (draft_on_lyon.body_sha256, draft_on_lyon.effective_from) == (
        document_sha256(draft_on_lyon.body),
        FUTURE,
    )
    assert "jurisdiction" not in draft_on_lyon.body["tax"]
