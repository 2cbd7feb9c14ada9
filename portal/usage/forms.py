"""The history page's period picker: `from` and `to` months (YYYY-MM) in the query string, at most
MAX_MONTHS months, not after the current month; the last DEFAULT_MONTHS months when absent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.http import QueryDict

MAX_MONTHS = 13
DEFAULT_MONTHS = 3
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def index(self) -> int:
        return self.year * 12 + self.month - 1

    @classmethod
    def of_index(cls, index: int) -> Month:
        return cls(index // 12, index % 12 + 1)

    @classmethod
    def of_day(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return Month.of_index(self.index + 1).first_day - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class HistoryPeriod:
    """The months shown (the default range when the input has errors) and the errors by field."""

    first: Month
    last: Month
    today: date
    errors: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # what the user typed, shown back

    @property
    def first_day(self) -> date:
        return self.first.first_day

    @property
    def last_day(self) -> date:
        return min(self.last.last_day, self.today)

    @property
    def months(self) -> int:
        return self.last.index - self.first.index + 1


def _month(text: str) -> Month | None:
    match = _MONTH.match(text)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and year >= 2000):
        return None
    return Month(year, month)


def history_period(params: QueryDict, *, today: date) -> HistoryPeriod:
    """The period asked for in `params` (`from`, `to`), validated against `today` (the tenant's local day)."""
    current = Month.of_day(today)
    default = HistoryPeriod(Month.of_index(current.index - DEFAULT_MONTHS + 1), current, today)
    raw = {name: params.get(name, "").strip()[:16] for name in ("from", "to")}
    errors: dict[str, list[str]] = {}
    months: dict[str, Month | None] = {}
    for name, text in raw.items():
        months[name] = None
        if text:
            months[name] = _month(text)
            if months[name] is None:
                errors.setdefault(name, []).append("Enter a month as YYYY-MM, for example 2026-03.")
    last = months["to"] or current
    first = months["from"] or Month.of_index(last.index - DEFAULT_MONTHS + 1)
    if not errors:
        if last.index > current.index:
            errors.setdefault("to", []).append(f"The last month cannot be after this month ({current}).")
        if first.index > last.index:
            errors.setdefault("from", []).append("The first month must not be after the last month.")
        elif last.index - first.index + 1 > MAX_MONTHS:
            errors.setdefault("from", []).append(
                f"Choose at most {MAX_MONTHS} months; {first} to {last} is {last.index - first.index + 1}."
            )
    if errors:
        return HistoryPeriod(default.first, default.last, today, errors, raw)
    return HistoryPeriod(first, last, today, {}, {"from": str(first), "to": str(last)})
