"""Finance's audit trail page (portal:finance:audit) and its CSV export (portal:finance:audit-csv)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from common.request_id import request_id_bound
from ledger.audit.models import AuditRecord
from ledger.audit.services import audit_record
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import UserFactory, finance_user
from tests.factories.ledger import world

pytestmark = pytest.mark.django_db

PAGE = reverse("portal:finance:audit")
CSV = reverse("portal:finance:audit-csv")


def _record(
    action: str, object_type: str, object_id: str, at: datetime, *, actor: Any = None, **kw: Any
) -> AuditRecord:
    return audit_record(
        actor=actor,
        action=action,
        obj=None,
        object_type=object_type,
        object_id=object_id,
        before=kw.pop("before", {"rate": "19"}),
        after=kw.pop("after", {"rate": "7"}),
        at=at,
        **kw,
    )


@pytest.fixture
def viewer() -> Client:
    client = Client()
    client.force_login(finance_user(Role.FINANCE_VIEWER, username="vera"))
    return client


@pytest.fixture
def trail() -> list[AuditRecord]:
    anna = finance_user(Role.FINANCE_APPROVER, username="anna")
    with request_id_bound("req-42"):
        first = _record(
            "tax_rule.update",
            "billing.taxrule",
            "1",
            datetime(2026, 11, 1, 9, tzinfo=UTC),
            actor=anna,
            reason="rate cut",
        )
    second = _record(
        "dispute.reject",
        "ledger.dispute",
        "7",
        datetime(2026, 11, 2, 9, tzinfo=UTC),
        before=None,
        after={"status": "rejected"},
    )
    third = _record(
        "tax_rule.update", "billing.taxrule", "2", datetime(2026, 11, 3, 9, tzinfo=UTC), actor=anna
    )
    return [first, second, third]


def _seqs(client: Client, **query: str) -> list[int]:
    response = client.get(PAGE, query)
    assert response.status_code == 200
    return [r.seq for r in response.context["page"].object_list]


def test_it_lists_the_trail_newest_first_with_actor_diff_reason_and_request_id(
    viewer: Client, trail: list[AuditRecord]
):
    response = viewer.get(PAGE)
    assert [r.seq for r in response.context["page"].object_list] == [3, 2, 1]
    text = response.content.decode()
    assert "<td>anna</td>" in text
    assert "<dt>rate</dt><dd>19 &rarr; 7</dd>" in text
    assert "rate cut" in text
    assert "<code>req-42</code>" in text
    assert 'aria-current="page">Audit trail</a>' in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"object_type": "billing.taxrule"}, [3, 1]),
        ({"action": "dispute.reject"}, [2]),
        ({"actor": "system"}, [2]),
        ({"actor": "anna", "object_id": "1"}, [1]),
        ({"since": "2026-11-02"}, [3, 2]),
        ({"until": "2026-11-02"}, [2, 1]),
        ({"since": "2026-11-02", "until": "2026-11-02"}, [2]),
    ],
)
def test_it_filters(viewer: Client, trail: list[AuditRecord], query: dict[str, str], expected: list[int]):
    assert _seqs(viewer, **query) == expected


def test_an_invalid_filter_shows_the_error_at_its_field(viewer: Client, trail: list[AuditRecord]):
    response = viewer.get(PAGE, {"since": "2026-11-03", "until": "2026-11-01"})
    assert response.status_code == 400
    assert "The last day is before the first." in response.content.decode()


def test_an_unknown_object_type_is_refused(viewer: Client, trail: list[AuditRecord]):
    response = viewer.get(PAGE, {"object_type": "billing.nothing"})
    assert response.status_code == 400


def test_it_pages_50_records_at_a_time(viewer: Client):
    for i in range(51):
        _record("tax_rule.update", "billing.taxrule", str(i), datetime(2026, 11, 1, tzinfo=UTC))
    first = viewer.get(PAGE, {"object_type": "billing.taxrule"})
    assert [r.seq for r in first.context["page"].object_list][:1] == [51]
    assert len(first.context["page"].object_list) == 50
    assert "?object_type=billing.taxrule&amp;page=2" in first.content.decode()
    second = viewer.get(PAGE, {"object_type": "billing.taxrule", "page": "2"})
    assert [r.seq for r in second.context["page"].object_list] == [1]


def _streamed(response: HttpResponseBase) -> bytes:
    """The body of a streamed response (the test client's are synchronous iterators)."""
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(cast(Iterator[bytes], response.streaming_content))


def test_the_csv_exports_the_same_filter_streamed(viewer: Client, trail: list[AuditRecord]):
    response = viewer.get(CSV, {"object_type": "billing.taxrule"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(_streamed(response).decode())))
    assert rows[0][:6] == ["seq", "at", "actor", "action", "object_type", "object_id"]
    assert [(r[0], r[2], r[3], r[5]) for r in rows[1:]] == [
        ("3", "anna", "tax_rule.update", "2"),
        ("1", "anna", "tax_rule.update", "1"),
    ]
    first = rows[2]
    assert (first[6], first[7], first[8]) == ("rate cut", "req-42", '{"rate": ["19", "7"]}')
    assert first[12] == trail[0].hash


def test_the_csv_defuses_a_cell_a_spreadsheet_would_run(viewer: Client):
    _record(
        "tax_rule.update", "billing.taxrule", "1", datetime(2026, 11, 1, tzinfo=UTC), reason="=HYPERLINK(1)"
    )
    rows = list(csv.reader(io.StringIO(_streamed(viewer.get(CSV)).decode())))
    assert rows[1][6] == "'=HYPERLINK(1)"


def test_a_customer_gets_403():
    tenant = world().tenant
    user = UserFactory.create()
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=tenant)
    client = Client()
    client.force_login(user)
    assert client.get(PAGE).status_code == 403
    assert client.get(CSV).status_code == 403


def test_an_anonymous_visitor_is_sent_to_sign_in():
    assert Client().get(CSV)["Location"] == f"/portal/login/?next={CSV}"


def test_a_changed_document_is_shown_as_json(viewer: Client):
    _record(
        "profile_version.update",
        "billing.profileversion",
        "3",
        datetime(2026, 11, 1, tzinfo=UTC),
        before={"body": {"prices": [{"unit_amount": "0.10"}]}},
        after={"body": {"prices": [{"unit_amount": "0.12"}]}},
    )
    text = viewer.get(PAGE).content.decode()
    assert (
        "<dt>body</dt><dd>{&quot;prices&quot;: [{&quot;unit_amount&quot;: &quot;0.10&quot;}]} &rarr; "
        "{&quot;prices&quot;: [{&quot;unit_amount&quot;: &quot;0.12&quot;}]}</dd>"
    ) in text
