"""Demo data: a realistic catalog, three profiles (EUR, USD, JPY) using every pricing model, five
tenants, and users. Used by `manage.py seed_demo`; idempotent (a second run changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.catalog.services import meter_upsert, sku_upsert
from billing.governance.versions import profile_version_approve, profile_version_submit
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.services import profile_assign, profile_create, profile_version_create
from tenants.models import Role, Tenant
from tenants.services import membership_grant, project_create, tenant_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed on purpose: demo credentials

# (meter code, name, unit, aggregation, unique tag)
METERS = [
    ("vcpu_hours", "vCPU hours", "vCPU-hour", Meter.Aggregation.SUM, ""),
    ("gpu_hours", "GPU hours", "GPU-hour", Meter.Aggregation.SUM, ""),
    ("storage_gb_month", "Storage", "GB-month", Meter.Aggregation.SUM, ""),
    ("egress_gb", "Network egress", "GB", Meter.Aggregation.SUM, ""),
    ("api_calls", "API calls", "request", Meter.Aggregation.SUM, ""),
    ("marketplace_sales", "Marketplace sales", "currency unit", Meter.Aggregation.SUM, ""),
    ("payments_volume", "Payments volume", "currency unit", Meter.Aggregation.SUM, ""),
    ("active_users", "Monthly active users", "user", Meter.Aggregation.UNIQUE_COUNT, "user_id"),
    ("platform", "Platform subscription", "month", Meter.Aggregation.COUNT, ""),
]
# (sku code, name, meter, unit label, FOCUS service category)
SKUS = [
    ("compute_vcpu_hours", "Compute, vCPU hours", "vcpu_hours", "vCPU-hour", Sku.ServiceCategory.COMPUTE),
    ("gpu_hours", "GPU instances", "gpu_hours", "GPU-hour", Sku.ServiceCategory.AI_ML),
    ("storage_gb_month", "Object storage", "storage_gb_month", "GB-month", Sku.ServiceCategory.STORAGE),
    ("egress_gb", "Internet egress", "egress_gb", "GB", Sku.ServiceCategory.NETWORKING),
    ("api_calls", "API requests", "api_calls", "request", Sku.ServiceCategory.DEVELOPER_TOOLS),
    (
        "marketplace_sales",
        "Marketplace fee",
        "marketplace_sales",
        "sale",
        Sku.ServiceCategory.BUSINESS_APPLICATIONS,
    ),
    (
        "payments_volume",
        "Payments processing",
        "payments_volume",
        "currency unit",
        Sku.ServiceCategory.BUSINESS_APPLICATIONS,
    ),
    ("active_users", "Active users", "active_users", "user", Sku.ServiceCategory.IDENTITY),
    ("platform_fee", "Platform fee", "platform", "month", Sku.ServiceCategory.MANAGEMENT),
]


def _doc(code: str, currency: str, mode: str, prices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A price list. It names no tax jurisdiction: the customer's place of supply is the tenant's."""
    doc: dict[str, Any] = {
        "profile": code,
        "currency": currency,
        "billing_cycle": "monthly",
        "grace_hours": 72,
        "backdating_days": 70,
        "required_tags": ["project"],
        "tax": {"mode": mode},
        "prices": prices,
    }
    doc.update(extra)
    return doc


def eur_profile(*, compute_tail: str = "0.030") -> dict[str, Any]:
    return _doc(
        "cloud-standard-eur",
        "EUR",
        "exclusive",
        [
            {
                "sku": "compute_vcpu_hours",
                "model": "graduated",
                "tiers": [
                    {"up_to": "1000", "unit_amount": "0.040", "flat_amount": "0"},
                    {"up_to": "10000", "unit_amount": "0.035"},
                    {"up_to": None, "unit_amount": compute_tail, "flat_amount": "5"},
                ],
            },
            {
                "sku": "gpu_hours",
                "model": "volume",
                "tiers": [
                    {"up_to": "100", "unit_amount": "2.40"},
                    {"up_to": "1000", "unit_amount": "2.10"},
                    {"up_to": None, "unit_amount": "1.80", "flat_amount": "50"},
                ],
            },
            {"sku": "storage_gb_month", "model": "per_unit", "unit_amount": "0.023", "free_units": "5"},
            {
                "sku": "egress_gb",
                "model": "package",
                "package_size": "100",
                "package_amount": "5.00",
                "free_units": "10",
            },
            {
                "sku": "api_calls",
                "model": "graduated",
                "tiers": [
                    {"up_to": "100000", "unit_amount": "0", "flat_amount": "0"},
                    {"up_to": "1000000", "unit_amount": "0.00002"},
                    {"up_to": None, "unit_amount": "0.00001"},
                ],
            },
            {
                "sku": "marketplace_sales",
                "model": "percentage",
                "rate": "2.9",
                "fixed_amount": "0.30",
                "free_events": 10,
                "min_per_event": "0.50",
                "max_per_event": "25.00",
            },
            {
                "sku": "payments_volume",
                "model": "graduated_percentage",
                "tiers": [
                    {"up_to": "10000", "rate": "1.4", "flat_amount": "0"},
                    {"up_to": None, "rate": "1.1"},
                ],
            },
            {"sku": "active_users", "model": "per_unit", "unit_amount": "0.50", "free_units": "20"},
            {"sku": "platform_fee", "model": "flat", "amount": "99.00"},
        ],
        commitments={"minimum_spend": "500.00"},
        discounts=[
            {
                "code": "launch20",
                "percent": "20",
                "skus": ["api_calls"],
                "valid_from": "2026-01-01",
                "valid_to": "2026-12-31",
                "priority": 10,
                "stackable": False,
            }
        ],
    )


def usd_profile() -> dict[str, Any]:
    return _doc(
        "growth-usd",
        "USD",
        "exclusive",
        [
            {"sku": "compute_vcpu_hours", "model": "per_unit", "unit_amount": "0.045"},
            {
                "sku": "gpu_hours",
                "model": "graduated",
                "tiers": [
                    {"up_to": "50", "unit_amount": "2.90", "flat_amount": "10"},
                    {"up_to": None, "unit_amount": "2.50"},
                ],
            },
            {
                "sku": "storage_gb_month",
                "model": "volume",
                "tiers": [{"up_to": "1000", "unit_amount": "0.025"}, {"up_to": None, "unit_amount": "0.020"}],
            },
            {"sku": "egress_gb", "model": "package", "package_size": "50", "package_amount": "4.50"},
            {
                "sku": "api_calls",
                "model": "package",
                "package_size": "10000",
                "package_amount": "0.90",
                "free_units": "50000",
            },
            {
                "sku": "marketplace_sales",
                "model": "percentage",
                "rate": "3.5",
                "fixed_amount": "0.25",
                "free_units": "1000",
                "max_per_event": "40.00",
            },
            {
                "sku": "payments_volume",
                "model": "graduated_percentage",
                "tiers": [
                    {"up_to": "5000", "rate": "2.0"},
                    {"up_to": None, "rate": "1.5", "flat_amount": "0"},
                ],
            },
            {
                "sku": "active_users",
                "model": "graduated",
                "tiers": [{"up_to": "100", "unit_amount": "0"}, {"up_to": None, "unit_amount": "0.75"}],
            },
            {"sku": "platform_fee", "model": "flat", "amount": "149.00"},
        ],
        commitments={"minimum_spend": "750.00"},
    )


def jpy_profile() -> dict[str, Any]:
    return _doc(
        "tokyo-jpy",
        "JPY",
        "inclusive",
        [
            {
                "sku": "compute_vcpu_hours",
                "model": "graduated",
                "tiers": [{"up_to": "500", "unit_amount": "7"}, {"up_to": None, "unit_amount": "5.5"}],
            },
            {"sku": "gpu_hours", "model": "per_unit", "unit_amount": "360"},
            {"sku": "storage_gb_month", "model": "per_unit", "unit_amount": "3.3", "free_units": "10"},
            {
                "sku": "egress_gb",
                "model": "volume",
                "tiers": [
                    {"up_to": "1000", "unit_amount": "14"},
                    {"up_to": None, "unit_amount": "11", "flat_amount": "1000"},
                ],
            },
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.004"},
            {
                "sku": "marketplace_sales",
                "model": "percentage",
                "rate": "3.6",
                "fixed_amount": "40",
                "min_per_event": "50",
            },
            {
                "sku": "payments_volume",
                "model": "graduated_percentage",
                "tiers": [{"up_to": "1000000", "rate": "3.25"}, {"up_to": None, "rate": "2.8"}],
            },
            {"sku": "active_users", "model": "per_unit", "unit_amount": "60"},
            {"sku": "platform_fee", "model": "flat", "amount": "15000"},
        ],
        discounts=[
            {"code": "partner5", "percent": "5", "valid_from": "2026-01-01", "priority": 5, "stackable": True}
        ],
    )


def volume_profile() -> dict[str, Any]:
    """The corrections story (`billing.demo_story`): egress priced by volume, so late usage that crosses
    into the cheaper tier lowers the whole period."""
    return _doc(
        "volume-eur",
        "EUR",
        "exclusive",
        [
            {
                "sku": "egress_gb",
                "model": "volume",
                "tiers": [{"up_to": "1000", "unit_amount": "0.09"}, {"up_to": None, "unit_amount": "0.05"}],
            }
        ],
    )


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    country: str
    currency: str
    timezone: str
    profile: str
    vat_id: str = ""
    locale: str = "en"
    address: str = ""
    payment_terms_days: int = 30


TENANTS = [
    DemoTenant(
        "acme",
        "Acme Robotics GmbH",
        "DE",
        "EUR",
        "Europe/Berlin",
        "cloud-standard-eur",
        vat_id="DE811907980",
        locale="de_DE",
        address="Werkstrasse 12\n70173 Stuttgart",
    ),
    DemoTenant(
        "globex",
        "Globex SARL",
        "FR",
        "EUR",
        "Europe/Paris",
        "cloud-standard-eur",
        vat_id="FR40303265045",
        locale="fr_FR",
        address="12 rue de la Paix\n75002 Paris",
        payment_terms_days=45,
    ),
    DemoTenant(
        "initech",
        "Initech Inc.",
        "US",
        "USD",
        "America/New_York",
        "growth-usd",
        locale="en_US",
        address="4120 Freidrich Lane\nAustin, TX 78744",
    ),
    DemoTenant(
        "umbrella",
        "Umbrella Analytics Ltd",
        "GB",
        "USD",
        "Europe/London",
        "growth-usd",
        vat_id="GB980780684",
        locale="en_GB",
        address="1 Canada Square\nLondon E14 5AB",
    ),
    DemoTenant(
        "kaiju",
        "Kaiju Games KK",
        "JP",
        "JPY",
        "Asia/Tokyo",
        "tokyo-jpy",
        locale="ja_JP",
        address="1-1 Shibuya\nTokyo 150-0002",
    ),
    DemoTenant(
        "volta",
        "Volta Streaming GmbH",
        "DE",
        "EUR",
        "Europe/Berlin",
        "volume-eur",
        vat_id="DE136695976",
        locale="de_DE",
        address="Torstrasse 1\n10119 Berlin",
    ),
]
# Tenants whose usage is scripted by `manage.py demo_story` rather than generated by `demo_usage`.
SCRIPTED_TENANTS = frozenset({"volta"})


def demo_epoch(now: datetime | None = None) -> datetime:
    """Profiles take effect on the first of the month three months back (UTC), so the demo's
    previous and current months are always covered."""
    now = now or timezone.now()
    month = now.month - 3
    year = now.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def price_change_at(now: datetime | None = None) -> datetime:
    """The EUR profile's v2 (cheaper compute tail) takes effect on the 15th of the previous month."""
    now = now or timezone.now()
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return datetime(year, month, 15, tzinfo=UTC)


def _user(username: str, *, email: str, staff: bool = False) -> Any:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": email, "is_staff": staff}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _approved_version(
    profile: BillingProfile,
    body: dict[str, Any],
    effective_from: datetime,
    author: Any,
    approvers: tuple[Any, ...],
) -> ProfileVersion:
    """Drafted by `author`, signed by the approvers in turn until the approval policy is satisfied (a price
    decrease asks for two under the default policy)."""
    existing = profile.versions.filter(effective_from=effective_from).first()
    if existing is not None:
        return existing
    version = profile_version_create(profile=profile, body=body, effective_from=effective_from, author=author)
    version = profile_version_submit(version=version, actor=author)
    for approver in approvers:
        if version.status != ProfileVersion.Status.PENDING_APPROVAL:
            break
        version = profile_version_approve(
            version=version, approver=approver, note="demo seed", allow_backdated=True
        )
    return version


@dataclass
class SeedResult:
    created: list[str]
    credentials: list[tuple[str, str, str]]  # (username, password, what)


def seed_demo(now: datetime | None = None) -> SeedResult:
    created: list[str] = []
    with transaction.atomic():
        for code, name, unit, aggregation, tag in METERS:
            meter_upsert(code=code, name=name, unit=unit, aggregation=aggregation, unique_tag=tag)
        meters = {m.code: m for m in Meter.objects.all()}
        for code, name, meter, label, category in SKUS:
            sku_upsert(code=code, name=name, meter=meters[meter], unit_label=label, service_category=category)

        admin = _user("admin", email="admin@demo.test", staff=True)
        if not admin.is_superuser:
            admin.is_superuser = True
            admin.save(update_fields=["is_superuser"])
        author = _user("pricing", email="pricing@demo.test", staff=True)
        approver = _user("finance", email="finance@demo.test", staff=True)
        membership_grant(user=author, role=Role.FINANCE_EDITOR)
        membership_grant(user=approver, role=Role.FINANCE_APPROVER)
        controller = _user("controller", email="controller@demo.test", staff=True)
        membership_grant(user=controller, role=Role.FINANCE_APPROVER)
        approvers = (approver, controller)

        epoch = demo_epoch(now)
        bodies = {
            "cloud-standard-eur": eur_profile(),
            "growth-usd": usd_profile(),
            "tokyo-jpy": jpy_profile(),
            "volume-eur": volume_profile(),
        }
        names = {
            "cloud-standard-eur": "Cloud Standard (EUR)",
            "growth-usd": "Growth (USD)",
            "tokyo-jpy": "Tokyo (JPY)",
            "volume-eur": "Streaming volume (EUR)",
        }
        profiles: dict[str, BillingProfile] = {}
        for code, body in bodies.items():
            profile = BillingProfile.objects.filter(code=code).first()
            if profile is None:
                profile = profile_create(code=code, name=names[code])
                created.append(f"profile {code}")
            profiles[code] = profile
            _approved_version(profile, body, epoch, author, approvers)
        _approved_version(
            profiles["cloud-standard-eur"],
            eur_profile(compute_tail="0.025"),
            price_change_at(now),
            author,
            approvers,
        )

        credentials = [
            ("admin", DEMO_PASSWORD, "superuser (Django admin)"),
            ("pricing", DEMO_PASSWORD, "finance editor: drafts profile versions"),
            ("finance", DEMO_PASSWORD, "finance approver: approves profile versions"),
            ("controller", DEMO_PASSWORD, "finance approver: the second signature a price decrease needs"),
        ]
        for spec in TENANTS:
            tenant = Tenant.objects.filter(slug=spec.slug).first()
            if tenant is None:
                tenant = tenant_create(
                    slug=spec.slug,
                    name=spec.name,
                    currency=spec.currency,
                    country=spec.country,
                    timezone_name=spec.timezone,
                )
                created.append(f"tenant {spec.slug}")
            details = {
                "vat_id": spec.vat_id,
                "locale": spec.locale,
                "address": spec.address,
                "payment_terms_days": spec.payment_terms_days,
            }
            if any(getattr(tenant, k) != v for k, v in details.items()):
                for key, value in details.items():
                    setattr(tenant, key, value)
                tenant.save(update_fields=list(details))
            if not ProfileAssignment.objects.filter(tenant=tenant).exists():
                profile_assign(tenant=tenant, profile=profiles[spec.profile], effective_from=epoch)
            for code, name in (("web", "Web app"), ("data", "Data platform"), ("ml", "ML research")):
                project_create(
                    tenant=tenant, code=code, name=name, cost_center=f"CC-{spec.slug[:3].upper()}-{code}"
                )
            customer = _user(f"{spec.slug}-admin", email=f"billing@{spec.slug}.test")
            membership_grant(user=customer, role=Role.CUSTOMER_ADMIN, tenant=tenant)
            credentials.append((customer.username, DEMO_PASSWORD, f"customer admin of {spec.slug}"))
    return SeedResult(created=created, credentials=credentials)


DEMO_QUOTES: list[tuple[str, dict[str, Any]]] = [
    (
        "EUR graduated compute, 12,500 vCPU-hours",
        {"price": eur_profile()["prices"][0], "quantity": "12500", "currency": "EUR"},
    ),
    (
        "EUR marketplace 2.9% + 0.30, first 10 sales free",
        {
            "price": eur_profile()["prices"][5],
            "events": ["12.00"] * 11 + ["80.00", "2000.00"],
            "currency": "EUR",
        },
    ),
    (
        "USD egress packages of 50 GB, 1,234 GB",
        {"price": usd_profile()["prices"][3], "quantity": "1234", "currency": "USD"},
    ),
    (
        "JPY volume egress, 1,500 GB",
        {"price": jpy_profile()["prices"][3], "quantity": "1500", "currency": "JPY"},
    ),
]
