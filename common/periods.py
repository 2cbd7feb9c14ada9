"""Billing periods in a tenant's time zone. Pure: no Django.

A period starts at local midnight on the first day of its month (quarter, year) in the tenant's
billing time zone and ends at the next such midnight, both converted to UTC. Because the
boundaries are computed as local wall-clock dates and only then converted, a DST change inside the
period changes its length in hours (743 or 745 hours for a 31-day month) but never its edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CYCLE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}


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


def previous_period(period: Period, *, tz: str, cycle: str = "monthly") -> Period:
    return period_containing(period.start - timedelta(seconds=1), tz=tz, cycle=cycle)


def zone_or_utc(name: str) -> ZoneInfo:
    """The tenant's time zone for showing dates, UTC when the name is empty or unknown (a page or a
    document never fails on it; `Tenant.timezone` is validated when saved)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
