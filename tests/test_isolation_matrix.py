"""The isolation matrix (invariant 8: one tenant never sees another tenant's data, through any page or
endpoint). It walks EVERY URL pattern of config.urls, through every include, fills each URL's kwargs by
name from tenant A's objects (a finalized invoice with lines and its rendered PDF and XML, a credit note
from a resolved dispute, an open dispute with an attachment, share links, sessions) and requests it as:

1. a customer user of tenant B (the API: with tenant B's API key),
2. an anonymous visitor,
3. a session of A's own user that A revoked (tenants.sessions.user_session_revoke),
4. for share links: an expired, a revoked and an unknown token,

asserting the status (a redirect to the sign-in page, 401, 403 or 404; 405 for a GET on a POST-only URL,
which is then POSTed with a valid CSRF token) and that no body holds tenant A's name, its invoice or
credit note numbers, its formatted amounts or its dispute's message. POST bodies carry A's ids under the
usual form field names too, and afterwards nothing of A's has changed.

Every URL needs an entry in MATRIX: a new URL without one fails `test_every_url_is_in_the_matrix` with
its name, so no URL is forgotten. The Django admin is left out as a whole: it is for staff only (every
URL of it sends anyone else to its login page) and tests/admin covers its pages and permissions. The
positive control (A's own user gets 200 on A's pages, with A's name in them) keeps the matrix from passing
because everything is broken."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.crypto import get_random_string

from billing.close.services import close_period
from common.money_format import format_money
from ledger.alerts.services import alert_fire
from ledger.models import Alert, CreditNote, Dispute, Invoice, InvoiceLine, InvoiceShareLink
from ledger.services import documents
from ledger.services.disputes import dispute_open, dispute_resolve
from ledger.services.share_links import invoice_share_link_create, invoice_share_link_revoke
from tenants.models import Role, Tenant, UserSession, WebhookDelivery, WebhookEndpoint
from tenants.services import api_key_create, membership_grant
from tenants.sessions import user_session_revoke
from tenants.webhooks.services import webhook_endpoint_create
from tests.factories import UserFactory, finance_user
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db

LOGIN = "/portal/login/"

Access = Literal["tenant", "public", "share", "staff", "api", "finance"]


@dataclass(frozen=True)
class Expect:
    """What a URL is: `tenant` (a portal page or download of the current tenant: sign-in needed, another
    tenant's object is 404), `public` (shows no tenant's data to anyone), `share` (reached by a share
    link's token alone), `staff` (staff only), `api` (API key). `methods` it answers (others: 405)."""

    access: Access
    methods: tuple[str, ...] = ("GET",)
    why: str = ""


# One entry per URL pattern, by its namespaced name (the unnamed root by its route). Keep it in
# config.urls' order.
MATRIX: dict[str, Expect] = {
    "usage-ingest": Expect("api", ("POST",)),
    "quote": Expect("api", ("POST",), "prices a document given in the request: no tenant data"),
    "usage-summary": Expect("api"),
    "focus-export": Expect("api", why="CSV of the key's own tenant; another tenant's slug 404"),
    "approval-requests": Expect("api", why="finance users' session only: anyone else 403"),
    "approval-request-approve": Expect("api", ("POST",), "finance approvers' session only: anyone else 403"),
    "approval-request-reject": Expect("api", ("POST",), "finance approvers' session only: anyone else 403"),
    "schema": Expect("staff"),
    "api-docs": Expect("staff"),
    "healthz": Expect("public"),
    "metrics": Expect("staff", why="METRICS_TOKEN's bearer or an allowed address only: anyone else 401/403"),
    "portal:home": Expect("tenant"),
    "portal:login": Expect("public", ("GET", "POST")),
    "portal:logout": Expect("public", ("POST",), "signs out whoever asks; shows nothing"),
    "portal:switch-tenant": Expect("tenant", ("POST",)),
    "portal:sessions": Expect("tenant", ("GET", "POST")),
    "portal:invoices": Expect("tenant"),
    "portal:invoice": Expect("tenant"),
    "portal:invoice-document": Expect("tenant"),
    "portal:credit-note-document": Expect("tenant"),
    "portal:invoice-line": Expect("tenant"),
    "portal:invoice-line-csv": Expect("tenant"),
    "portal:invoice-share": Expect("tenant", ("POST",)),
    "portal:invoice-share-revoke": Expect("tenant", ("POST",)),
    "portal:shared-invoice": Expect("share"),
    "portal:shared-invoice-document": Expect("share"),
    "portal:usage": Expect("tenant"),
    "portal:usage-history": Expect("tenant"),
    "portal:disputes": Expect("tenant"),
    "portal:dispute": Expect("tenant"),
    "portal:dispute-open": Expect("tenant", ("GET", "POST")),
    "portal:dispute-open-line": Expect("tenant", ("GET", "POST")),
    "portal:dispute-comment": Expect("tenant", ("POST",)),
    "portal:dispute-withdraw": Expect("tenant", ("POST",)),
    "portal:dispute-decide": Expect("tenant", ("POST",), "finance's action; a customer gets 403/404"),
    "portal:dispute-attachment": Expect("tenant"),
    "portal:notifications": Expect("tenant"),
    "portal:notifications-endpoint-create": Expect("tenant", ("POST",), "customer admins only: others 403"),
    "portal:notifications-endpoint": Expect("tenant"),
    "portal:notifications-endpoint-disable": Expect("tenant", ("POST",)),
    "portal:notifications-endpoint-enable": Expect("tenant", ("POST",)),
    "portal:notifications-endpoint-rotate": Expect("tenant", ("POST",)),
    "portal:notifications-endpoint-delete": Expect("tenant", ("POST",)),
    "portal:notifications-delivery-replay": Expect("tenant", ("POST",)),
    "portal:budgets": Expect("tenant", ("GET", "POST"), "customer admins edit: others' POST 403"),
    "portal:exports": Expect("tenant"),
    "portal:exports-download": Expect("tenant", why="the current tenant's FOCUS rows only"),
    "portal:finance:home": Expect("finance"),
    "portal:finance:profiles": Expect("finance"),
    "portal:finance:profile": Expect("finance"),
    "portal:finance:version": Expect("finance"),
    "portal:finance:version-new": Expect("finance", ("GET", "POST")),
    "portal:finance:version-edit": Expect("finance", ("GET", "POST")),
    "portal:finance:version-diff": Expect("finance"),
    "portal:finance:version-submit": Expect("finance", ("POST",)),
    "portal:finance:approvals": Expect("finance"),
    "portal:finance:approval": Expect("finance"),
    "portal:finance:approval-grant": Expect("finance", ("POST",)),
    "portal:finance:approval-reject": Expect("finance", ("POST",)),
    "portal:finance:approval-rerun": Expect("finance", ("POST",)),
    "portal:finance:rollouts": Expect("finance"),
    "portal:finance:rollout": Expect("finance"),
    "portal:finance:rollout-new": Expect("finance", ("GET", "POST")),
    "portal:finance:rollout-promote": Expect("finance", ("POST",)),
    "portal:finance:rollout-rollback": Expect("finance", ("POST",)),
    "portal:finance:rollout-check": Expect("finance", ("POST",)),
    "portal:finance:audit": Expect("finance"),
    "portal:finance:audit-csv": Expect("finance"),
    "portal:finance:disputes": Expect("finance"),
    "portal:finance:dispute": Expect(
        "finance", why="any tenant's dispute, for finance only: a customer gets 403"
    ),
    "portal:finance:dispute-decide": Expect("finance", ("POST",)),
    "portal:finance:quarantine": Expect("finance"),
    "portal:finance:quarantine-reattribute": Expect("finance", ("POST",)),
    "portal:finance:reconciliation": Expect("finance"),
    "portal:finance:reconciliation-start": Expect("finance", ("POST",), "editors and approvers run a period"),
    "portal:finance:reconciliation-run": Expect("finance"),
    "portal:finance:reconciliation-delta": Expect("finance"),
    "portal:finance:showback": Expect("finance", why="any tenant's showback, for finance only"),
    "portal:finance:showback-csv": Expect("finance"),
    "portal:finance:showback-rules": Expect("finance"),
    "portal:finance:showback-rule-new": Expect("finance", ("GET", "POST"), "editors and approvers only"),
    "portal:finance:showback-rule": Expect("finance"),
    "portal:finance:showback-rule-draft": Expect("finance", ("GET", "POST"), "editors and approvers only"),
    "portal:finance:showback-rule-version-submit": Expect("finance", ("POST",)),
    "portal:finance:showback-rule-version-approve": Expect("finance", ("POST",), "approvers, not the author"),
    "portal:finance:showback-rule-version-reject": Expect("finance", ("POST",), "approvers, not the author"),
    "portal:finance:dashboards": Expect("finance"),
    "portal:finance:dashboard-executive": Expect("finance"),
    "portal:finance:dashboard-oncall": Expect("finance"),
    "portal:finance:dashboard-debug": Expect("finance"),
    "portal:finance:alerts": Expect("finance"),
    "portal:finance:alert-acknowledge": Expect("finance", ("POST",)),
    "portal:finance:alert-resolve": Expect("finance", ("POST",)),
    "portal:finance:alerts-dead-deliveries": Expect("finance"),
    "portal:finance:exports": Expect("finance"),
    "portal:finance:exports-download": Expect("finance"),
    "": Expect("public", why="the root redirects to the API docs"),
}

# URL kwargs that name one of tenant A's objects: another tenant's user must get 403/404 for them.
OBJECT_KWARGS = frozenset(
    {
        "invoice_id",
        "line_id",
        "credit_note_id",
        "dispute_id",
        "session_id",
        "share_id",
        "token",
        "endpoint_id",
        "delivery_id",
        "alert_id",
    }
)
# URL kwargs of finance's workspace (platform-wide objects: price lists, versions, approval requests,
# rollouts, audit records, quarantined groups, reconciliation runs, allocation rules and their versions). Only finance reaches them; the matrix fills each with 1.
FINANCE_KWARGS = frozenset(
    {
        "profile_id",
        "version_id",
        "request_id",
        "rollout_id",
        "record_id",
        "reason",
        "run_id",
        "delta_id",
        "rule_id",
        "rule_version_id",
    }
)
KNOWN_KWARGS = OBJECT_KWARGS | FINANCE_KWARGS | {"kind"}


@dataclass(frozen=True)
class Route:
    key: str  # namespaced name, or the route when unnamed
    name: str | None
    route: str
    kwargs: tuple[str, ...]


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # staff only, covered by tests/admin (see the module docstring)
            ns = entry.namespace or ""
            joined = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), joined)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            pattern = entry.pattern
            names = tuple(getattr(pattern, "converters", {}) or pattern.regex.groupindex)
            yield Route(key=name or route, name=name, route=route, kwargs=names)


def routes() -> list[Route]:
    return list(walk(get_resolver().url_patterns))


# --- tenant A, rich, and tenant B ---------------------------------------------------------------------


@dataclass
class TenantA:
    tenant: Tenant
    user: User
    client: Client  # A's own user, signed in (its session stays live)
    invoice: Invoice
    line: InvoiceLine
    credit_note: CreditNote
    dispute: Dispute  # open, with an attachment
    resolved: Dispute
    session: UserSession  # the live session of `client`
    revoked_cookie: str  # the session key of a session A revoked
    tokens: dict[str, str]  # live, expired, revoked
    share_ids: list[int]  # the live and the revoked link
    endpoint: WebhookEndpoint  # a webhook endpoint, with a delivery of a budget alert
    delivery: WebhookDelivery
    alert: Alert
    secrets: list[str] = field(default_factory=list)  # strings that must never reach another tenant

    def kwargs(self, token: str) -> dict[str, list[Any]]:
        own: dict[str, list[Any]] = {
            "invoice_id": [self.invoice.pk],
            "line_id": [self.line.pk],
            "credit_note_id": [self.credit_note.pk],
            "dispute_id": [self.dispute.pk, self.resolved.pk],
            "session_id": [self.session.pk],
            "share_id": self.share_ids,
            "kind": ["pdf", "xml"],
            "token": [token],
            "endpoint_id": [self.endpoint.pk],
            "delivery_id": [self.delivery.pk],
            "alert_id": [self.alert.pk],
        }
        return own | {name: [1] for name in FINANCE_KWARGS}

    def form(self) -> dict[str, Any]:
        """A's ids under the form field names a POST might read them from."""
        ids = {
            "tenant": self.tenant.pk,
            "invoice": self.invoice.pk,
            "line": self.line.pk,
            "credit_note": self.credit_note.pk,
            "dispute": self.dispute.pk,
            "session": self.session.pk,
            "share": self.share_ids[0],
            "endpoint": self.endpoint.pk,
            "delivery": self.delivery.pk,
            "alert": self.alert.pk,
        }
        return ids | {f"{name}_id": value for name, value in ids.items()} | {"token": self.tokens["live"]}

    def state(self) -> dict[str, Any]:
        """What must not change while the matrix runs."""
        return {
            "disputes": list(Dispute.objects.filter(tenant=self.tenant).values_list("pk", "status")),
            "disputes_events": sum(d.events.count() for d in Dispute.objects.filter(tenant=self.tenant)),
            "links": list(
                InvoiceShareLink.objects.filter(tenant=self.tenant).values_list("pk", "revoked_at")
            ),
            "sessions": list(UserSession.objects.filter(user=self.user).values_list("pk", "revoked_at")),
            "invoices": list(Invoice.objects.filter(tenant=self.tenant).values_list("pk", "status", "total")),
            "credit_notes": CreditNote.objects.filter(tenant=self.tenant).count(),
            "alerts": list(Alert.objects.filter(tenant=self.tenant).values_list("pk", "state")),
            "endpoints": list(
                WebhookEndpoint.objects.filter(tenant=self.tenant).values_list("pk", "active", "secret")
            ),
            "deliveries": WebhookDelivery.objects.filter(endpoint__tenant=self.tenant).count(),
        }


def signed_in(user: User) -> tuple[Client, UserSession]:
    """A client signed in through the login machinery (so its UserSession is recorded)."""
    client = Client()
    client.force_login(user)
    return client, UserSession.objects.get(session_key=client.session.session_key)


def _money(amount: Decimal, currency: str, locale: str) -> list[str]:
    """An amount as a reader would find it: the tenant's format, the English one and the plain digits."""
    plain = f"{amount:.2f}"
    whole, cents = plain.split(".")
    return [
        format_money(amount, currency, locale),
        f"{int(whole):,}.{cents}",
        f"{int(whole):,}".replace(",", ".") + f",{cents}",
        plain,
    ]


@pytest.fixture
def tenant_a() -> TenantA:
    # given tenant A: a finalized invoice (19861 x 0.37 = 7,348.57 + 19 % VAT) with its PDF and XML
    w = world(
        slug="zephyrine", prices=[{"sku": "wind_tunnel_minutes", "model": "per_unit", "unit_amount": "0.37"}]
    )
    tenant = w.tenant
    Tenant.objects.filter(pk=tenant.pk).update(name="Zephyrine Aerodynamics", locale="de_DE")
    tenant.refresh_from_db()
    tax_rule("DE", "19")
    usage(tenant, "wind_tunnel_minutes", w.version, datetime(2026, 11, 5, 10, tzinfo=UTC), "19861")
    invoice = invoice_of(close_period(tenant=tenant, period_key="2026-11", now=after_grace()))
    documents.invoice_render_pdf(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    line = invoice.lines.get()
    user = UserFactory.create(username="zephyrine-viewer")
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    finance = finance_user(Role.FINANCE_EDITOR, username="zephyrine-finance")
    # a dispute on the line, resolved with a credit note (123.45 + 19 %), and its PDF
    resolved = dispute_open(
        tenant=tenant,
        invoice=invoice,
        line=line,
        reason="wrong_price",
        message="Zephyrine was overcharged",
        user=user,
    )
    resolved = dispute_resolve(dispute=resolved, amount=Decimal("123.45"), user=finance, note="agreed")
    assert resolved.credit_note is not None
    credit_note = resolved.credit_note
    documents.credit_note_render_pdf(credit_note_id=credit_note.pk)
    # an open dispute on the whole invoice, with an attachment
    dispute = dispute_open(
        tenant=tenant,
        invoice=invoice,
        reason="wrong_quantity",
        message="Zephyrine never used the nightly tunnel",
        attachment=ContentFile(b"Zephyrine tunnel log\n", name="zephyrine-log.txt"),
        user=user,
    )
    # share links: live, expired (made 30 days ago for 1 day), revoked
    live_link = invoice_share_link_create(invoice=invoice, tenant=tenant, user=user)
    tokens = {"live": live_link.token}
    with time_machine.travel(datetime.now(tz=UTC) - timedelta(days=30)):
        tokens["expired"] = invoice_share_link_create(invoice=invoice, tenant=tenant, user=user, days=1).token
    revoked_link = invoice_share_link_create(invoice=invoice, tenant=tenant, user=user)
    invoice_share_link_revoke(link=revoked_link.link, tenant=tenant, user=user)
    tokens["revoked"] = revoked_link.token
    # a webhook endpoint and a budget alert, whose delivery to it is in the log
    endpoint = webhook_endpoint_create(tenant=tenant, url="https://hooks.zephyrine.example/billing").endpoint
    alert = alert_fire(kind="budget", tenant_id=tenant.pk, key="period", message="Zephyrine spends 120 %")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # sessions: one live (the positive control's), one that A's user revoked
    client, session = signed_in(user)
    _, doomed = signed_in(user)
    user_session_revoke(user=user, session_id=doomed.pk)
    secrets = [
        tenant.name,
        "Zephyrine",
        "zephyrine-log.txt",
        endpoint.url,
        invoice.number or "",
        credit_note.number,
        *(
            text
            for amount in {
                invoice.subtotal,
                invoice.tax_total,
                invoice.total,
                invoice.amount_due,
                line.amount,
            }
            | {credit_note.subtotal, credit_note.total}
            for text in _money(amount, invoice.currency, tenant.locale)
        ),
    ]
    assert invoice.number
    assert invoice.total == Decimal("8744.80")
    return TenantA(
        tenant=tenant,
        user=user,
        client=client,
        invoice=invoice,
        line=line,
        credit_note=credit_note,
        dispute=dispute,
        resolved=resolved,
        session=session,
        revoked_cookie=doomed.session_key,
        tokens=tokens,
        share_ids=[live_link.link.pk, revoked_link.link.pk],
        endpoint=endpoint,
        delivery=delivery,
        alert=alert,
        secrets=secrets,
    )


@dataclass
class TenantB:
    tenant: Tenant
    user: User
    api_secret: str


@pytest.fixture
def tenant_b() -> TenantB:
    w = world(slug="bramble", prices=[{"sku": "bramble_calls", "model": "per_unit", "unit_amount": "0.05"}])
    usage(w.tenant, "bramble_calls", w.version, datetime(2026, 11, 6, 10, tzinfo=UTC), "400")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    user = UserFactory.create(username="bramble-viewer")
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=w.tenant)
    dispute_open(tenant=w.tenant, invoice=invoice, reason="duplicate", message="charged twice", user=user)
    return TenantB(tenant=w.tenant, user=user, api_secret=api_key_create(tenant=w.tenant).secret)


# --- requests -----------------------------------------------------------------------------------------

Actor = Literal["other_tenant", "anonymous", "revoked_session"]


def client_for(actor: Actor, a: TenantA, b: TenantB) -> Client:
    """A fresh client per request: a POST to the logout URL must not sign out the next request."""
    client = Client(enforce_csrf_checks=True)
    if actor == "other_tenant":
        client.force_login(b.user)
    elif actor == "revoked_session":
        client.cookies[settings.SESSION_COOKIE_NAME] = a.revoked_cookie
    return client


def csrf_token(client: Client) -> str:
    """A valid CSRF token for this client: a secret of Django's format, set as its cookie (the sign-in
    page would set one, but it redirects a signed-in user)."""
    token = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return token


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        data = b"".join(response.streaming_content)
        response.close()
    else:
        data = response.content
    return data.decode("utf-8", "replace")


def urls_of(route: Route, values: dict[str, list[Any]]) -> list[str]:
    unknown = [name for name in route.kwargs if name not in KNOWN_KWARGS]
    assert not unknown, f"{route.key}: kwargs {unknown} are not among the shared names {sorted(KNOWN_KWARGS)}"
    if route.name is None:
        assert not route.kwargs, route
        return ["/" + route.route]
    combos = itertools.product(*(values[name] for name in route.kwargs))
    return [reverse(route.name, kwargs=dict(zip(route.kwargs, combo, strict=True))) for combo in combos]


def request(
    client: Client, method: str, url: str, *, access: Access, a: TenantA, b: TenantB, actor: Actor
) -> Any:
    """GET with A's ids in the query string, or POST them as form fields (JSON for the API) with a valid
    CSRF token, so that a refusal is the view's, not the CSRF check's. The API is called with B's key."""
    headers: dict[str, str] = {}
    if access == "api" and actor == "other_tenant":
        headers["Authorization"] = f"Bearer {b.api_secret}"
    if method == "GET":
        query = "" if access == "api" else "?" + "&".join(f"{k}={v}" for k, v in a.form().items())
        return client.get(url + query, headers=headers)
    token = csrf_token(client)
    if access == "api":
        headers["X-CSRFToken"] = token
        return client.post(url, data="{}", content_type="application/json", headers=headers)
    return client.post(url, data=a.form() | {"csrfmiddlewaretoken": token}, headers=headers)


ALLOWED: dict[tuple[Access, bool], set[int]] = {
    # (access, names one of A's objects): statuses another tenant's user may get
    ("tenant", True): {403, 404},
    ("tenant", False): {200, 302, 400, 403, 404},  # B's own page (no A data in it, checked below)
    ("staff", False): {401, 403},
    ("api", False): {200, 201, 202, 400, 401, 403, 404, 415},  # B's own data only, checked below
    ("public", False): {200, 302, 400, 403, 404},
    ("finance", False): {403, 404},
    ("finance", True): {403, 404},
}


def problems_of(route: Route, expect: Expect, actor: Actor, a: TenantA, b: TenantB, token: str) -> list[str]:
    """Every way this route lets `actor` down, as readable lines (empty: fine)."""
    found: list[str] = []
    names_object = any(name in OBJECT_KWARGS for name in route.kwargs)
    for url in urls_of(route, a.kwargs(token)):
        for method in ("GET", "POST"):
            client = client_for(actor, a, b)
            response = request(client, method, url, access=expect.access, a=a, b=b, actor=actor)
            status = response.status_code
            text = body(response)
            where = f"{actor} {method} {url} ({route.key}) -> {status}"
            leaked = [s for s in a.secrets if s and s in text]
            if leaked:
                found.append(f"{where}: body shows {leaked}")
            if method not in expect.methods and status == 405:
                continue  # refused by method (the refusal rules below hold when it is checked later)
            if status >= 500:
                found.append(f"{where}: server error")
                continue
            to_login = status == 302 and response["Location"].startswith(LOGIN)
            if expect.access == "share":
                ok = status in {404, 410}
            elif actor == "other_tenant":
                ok = status in ALLOWED[(expect.access, names_object)] or to_login
            elif expect.access in {"tenant", "finance"}:
                ok = to_login
            elif expect.access in {"staff", "api"}:
                ok = status in {401, 403}
            else:
                ok = status in ALLOWED[("public", False)]
            if not ok:
                found.append(f"{where}: not an allowed answer for {expect.access}")
    return found


def check(actor: Actor, a: TenantA, b: TenantB) -> list[str]:
    before = a.state()
    found: list[str] = []
    with override_settings(API_DOCS_PUBLIC=False):  # production's value
        for route in routes():
            expect = MATRIX.get(route.key)
            if expect is None:
                continue  # test_every_url_is_in_the_matrix names it
            # share links: only dead tokens (a live one is the point of a share link: anyone may use it)
            labels = ["expired", "revoked", "unknown"] if expect.access == "share" else ["live"]
            for label in labels:
                token = a.tokens.get(label, "no-such-token-" + "x" * 32)
                found.extend(problems_of(route, expect, actor, a, b, token))
    after = a.state()
    if after != before:
        found.append(f"{actor} changed tenant A's data: {before} -> {after}")
    return found


# --- the tests ----------------------------------------------------------------------------------------


def test_every_url_is_in_the_matrix():
    missing = [f"{r.key} ({r.route})" for r in routes() if r.key not in MATRIX]
    stale = sorted(set(MATRIX) - {r.key for r in routes()})

    assert missing == [], f"URLs without an entry in the isolation matrix: {missing}"
    assert stale == [], f"matrix entries for URLs that no longer exist: {stale}"


def test_every_url_kwarg_is_a_shared_name():
    unknown = {r.key: [k for k in r.kwargs if k not in KNOWN_KWARGS] for r in routes()}

    assert {k: v for k, v in unknown.items() if v} == {}


@pytest.mark.parametrize("actor", ["other_tenant", "anonymous", "revoked_session"])
def test_no_url_shows_or_changes_tenant_a_for(actor, tenant_a, tenant_b):
    problems = check(actor, tenant_a, tenant_b)

    assert problems == [], "\n".join(problems)


def test_the_revoked_session_is_really_revoked(tenant_a):
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = tenant_a.revoked_cookie

    response = client.get(reverse("portal:sessions"))

    assert (response.status_code, response["Location"]) == (302, f"{LOGIN}?next=/portal/sessions/")


def test_positive_control_a_sees_its_own_pages(tenant_a, tenant_b):
    """A's own user gets 200 on every tenant GET page with A's ids, and the page names A: the checks
    above would find A's data if it leaked."""
    problems = []
    for route in routes():
        expect = MATRIX.get(route.key)
        if expect is None or expect.access != "tenant" or "GET" not in expect.methods:
            continue
        first = {name: values[:1] for name, values in tenant_a.kwargs(tenant_a.tokens["live"]).items()}
        for url in urls_of(route, first):  # the open dispute (with its attachment), the PDF
            response = tenant_a.client.get(url, follow=True)
            text = body(response)
            if response.status_code != 200:
                problems.append(f"{url}: {response.status_code}")
            elif response["Content-Type"].startswith("text/html") and tenant_a.tenant.name not in text:
                problems.append(f"{url}: A's name is not on A's own page")

    assert problems == [], "\n".join(problems)


def test_positive_control_a_live_share_link_shows_the_invoice(tenant_a):
    problems = []
    for route in routes():
        if MATRIX.get(route.key, Expect("public")).access != "share":
            continue
        for url in urls_of(route, tenant_a.kwargs(tenant_a.tokens["live"])):
            response = Client().get(url)
            text = body(response)
            if response.status_code != 200:
                problems.append(f"{url}: {response.status_code}")
            elif response["Content-Type"].startswith("text/html") and tenant_a.invoice.number not in text:
                problems.append(f"{url}: the shared invoice's number is not on its page")

    assert problems == [], "\n".join(problems)


def test_every_url_that_takes_a_post_refuses_one_without_a_csrf_token(tenant_a):
    """CSRF on every form: A's own signed-in user, posting to A's own objects without the token, is
    refused (403) by every URL that takes a POST (an API URL that accepts no session: 401), and nothing
    of A's changes."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant_a.user)
    before = tenant_a.state()
    problems = []
    for route in routes():
        expect = MATRIX.get(route.key)
        if expect is None or "POST" not in expect.methods:
            continue
        first = {name: values[:1] for name, values in tenant_a.kwargs(tenant_a.tokens["live"]).items()}
        for url in urls_of(route, first):
            response = client.post(url, data=tenant_a.form())
            # 401: an API URL that takes no session cookie at all (API keys only): nothing to forge
            refused = {401, 403} if expect.access == "api" else {403}
            if response.status_code not in refused:
                problems.append(f"{route.key} {url}: {response.status_code}")

    assert problems == [], "\n".join(problems)
    assert tenant_a.state() == before


def test_the_matrix_knows_the_secrets_it_looks_for(tenant_a):
    # the amounts are the ones built above, in de_DE as the tenant reads them
    assert re.search(r"8\.744,80", " ".join(tenant_a.secrets))
    assert "7.348,57" in tenant_a.secrets
    assert tenant_a.invoice.number in tenant_a.secrets
