"""Forecast arithmetic of the executive dashboard. Pure: Decimal in, Decimal out, no Django.

- Projection: the running estimate of an open period, projected linearly to the period's end:
  estimate x (period length / time elapsed). Too early to say (None) before MIN_ELAPSED of the period.
- Forecast: what the period was expected to cost, the mean spend of the FORECAST_MONTHS most recent closed
  months (zero months included); None when none of them had spend (nothing to compare against).
- Variance: projection - forecast, and that difference as a percentage of the forecast.
- Quantiles of a Prometheus histogram's cumulative buckets, interpolated linearly inside a bucket as
  PromQL's histogram_quantile does."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from common.money import WIDE_CONTEXT

MIN_ELAPSED = timedelta(days=1)
FORECAST_MONTHS = 3


def projected_to_period_end(
    *, amount: Decimal, start: datetime, end: datetime, now: datetime
) -> Decimal | None:
    """`amount` accrued over [start, now) projected to `end`: exact (unrounded); None before MIN_ELAPSED."""
    elapsed = min(now, end) - start
    if elapsed < MIN_ELAPSED:
        return None
    total = end - start
    with localcontext(WIDE_CONTEXT):
        return amount * Decimal(int(total.total_seconds())) / Decimal(int(elapsed.total_seconds()))


def trailing_forecast(months: Sequence[Decimal]) -> Decimal | None:
    """The mean of the last FORECAST_MONTHS values of `months` (oldest first); None if all are zero."""
    window = list(months[-FORECAST_MONTHS:])
    if not window or not any(window):
        return None
    with localcontext(WIDE_CONTEXT):
        return sum(window, Decimal(0)) / len(window)


@dataclass(frozen=True)
class Variance:
    amount: Decimal  # projection - forecast
    percent: Decimal  # of the forecast, to one decimal (half up)


def variance(*, projected: Decimal | None, forecast: Decimal | None) -> Variance | None:
    if projected is None or forecast is None or forecast == 0:
        return None
    with localcontext(WIDE_CONTEXT):
        delta = projected - forecast
        percent = (delta * 100 / forecast).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return Variance(amount=delta, percent=percent)


def rate_percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` as a percentage with two decimals (half up); None when `whole` is 0."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative `buckets` [(upper bound, count <= bound)], sorted by bound, the last
    +Inf. Linear inside the bucket holding the rank (from 0 for the first); the highest finite bound when
    the rank falls in +Inf. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound  # pragma: no cover - the last bucket holds every observation
