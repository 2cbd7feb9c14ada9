"""Billing periods in a tenant's time zone. Pure: no Django.

A period starts at local midnight on the first day of its month (quarter, year) in the tenant's
billing time zone and ends at the next such midnight, both converted to UTC. Because the
boundaries are computed as local wall-clock dates and only then converted, a DST change inside the
period changes its length in hours (743 or 745 hours for a 31-day month) but never its edges.

A period key is `2026-11` (monthly), `2026-Q4` (quarterly) or `2026` (yearly): `parse_period_key` is the
one rule every input of a key goes through (FOCUS, showback, reconciliation, allocation, forms)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.errors import FieldIssue, ValidationFailed

CYCLE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
KEY_EXAMPLES = {"monthly": "2026-11", "quarterly": "2026-Q4", "yearly": "2026"}
KEY_FORMS = "YYYY-MM, YYYY-Qn or YYYY"
# Years whose periods' edges exist in every time zone (datetime stops at years 1 and 9999).
MIN_YEAR, MAX_YEAR = 1900, 9998
_KEY_FORMS = (
    (re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII), "monthly"),
    (re.compile(r"[0-9]{4}-Q[1-4]", re.ASCII), "quarterly"),
    (re.compile(r"[0-9]{4}", re.ASCII), "yearly"),
)


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _local_midnight_utc(year: int, month: int, tz: ZoneInfo) -> datetime:
    # Midnight exists on the first of every month in every IANA zone in use today; fold=0 takes the
    # first occurrence should a zone ever repeat it.
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _key(year: int, month: int, cycle: str) -> str:
    if cycle == "monthly":
        return f"{year:04d}-{month:02d}"
    if cycle == "quarterly":
        return f"{year:04d}-Q{(month - 1) // 3 + 1}"
    return f"{year:04d}"


def period_containing(at: datetime, *, tz: str, cycle: str = "monthly") -> Period:
    """The period of `cycle` in zone `tz` that holds the aware instant `at`."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    if cycle not in CYCLE_MONTHS:
        raise ValueError(f"unknown billing cycle {cycle!r}")
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    step = CYCLE_MONTHS[cycle]
    first_month = ((local.month - 1) // step) * step + 1
    year, month = local.year, first_month
    end_year, end_month = (year + (month - 1 + step) // 12, (month - 1 + step) % 12 + 1)
    return Period(
        key=_key(year, month, cycle),
        start=_local_midnight_utc(year, month, zone),
        end=_local_midnight_utc(end_year, end_month, zone),
    )


def period_by_key(key: str, *, tz: str, cycle: str = "monthly") -> Period:
    """Parse `2026-11` (monthly), `2026-Q4` (quarterly) or `2026` (yearly)."""
    zone = ZoneInfo(tz)
    try:
        if cycle == "monthly":
            year, month = (int(p) for p in key.split("-"))
        elif cycle == "quarterly":
            year_s, quarter = key.split("-Q")
            year, month = int(year_s), (int(quarter) - 1) * 3 + 1
        else:
            year, month = int(key), 1
        probe = datetime(year, month, 15, tzinfo=zone)
        period = period_containing(probe, tz=tz, cycle=cycle)
    except (ValueError, OverflowError) as err:  # OverflowError: year 1 or 9999 pushed past datetime's range
        raise ValueError(f"period {key!r} does not match the {cycle} cycle") from err
    if period.key != key:
        raise ValueError(f"period {key!r} does not match the {cycle} cycle")
    return period


def parse_period_key(key: object, *, cycle: str | None = None, field: str = "period") -> str:
    """`key` without surrounding spaces when it is a period key (of `cycle` when given), year 1900 to
    9998; anything else is a ValidationFailed naming `field` (a 400, exit 2): `2026-13`, `2026-00`,
    `2026-Q5`, `26-11`, `garbage`, a key of another cycle."""
    text = key.strip() if isinstance(key, str) else ""
    _checked_cycle(key, text, cycle, field)
    return text


def period_key_cycle(key: str, *, field: str = "period") -> str:
    """The cycle a period key names (2026-11 monthly, 2026-Q4 quarterly, 2026 yearly); a bad key (spaces
    included: parse a typed key first) is a ValidationFailed by parse_period_key's rule."""
    return _checked_cycle(key, key, None, field)


def _checked_cycle(key: object, text: str, cycle: str | None, field: str) -> str:
    found = None
    for pattern, named in _KEY_FORMS:
        if pattern.fullmatch(text) and MIN_YEAR <= int(text[:4]) <= MAX_YEAR:
            found = named
    if cycle is not None and found != cycle:
        raise ValidationFailed(
            f"{field} {key!r} is not a {cycle} period key such as {KEY_EXAMPLES[cycle]}",
            issues=[FieldIssue(field, f"e.g. {KEY_EXAMPLES[cycle]}")],
        )
    if found is None:
        raise ValidationFailed(
            f"{field} {key!r} is not a period key: {KEY_FORMS} (e.g. 2026-11, 2026-Q4, 2026)",
            issues=[FieldIssue(field, f"expected {KEY_FORMS}")],
        )
    return found


def previous_period(period: Period, *, tz: str, cycle: str = "monthly") -> Period:
    return period_containing(period.start - timedelta(seconds=1), tz=tz, cycle=cycle)


def zone_or_utc(name: str) -> ZoneInfo:
    """The tenant's time zone for showing dates, UTC when the name is empty or unknown (a page or a
    document never fails on it; `Tenant.timezone` is validated when saved)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
