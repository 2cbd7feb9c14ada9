"""Spend-anomaly detection, pure (no Django, no I/O): a robust seasonal baseline of a tenant's own trailing
usage of one meter, and the verdict on one observed window (docs/alerts-evaluation.md, "Spend anomalies").

Method (all arithmetic in Decimal, at DETECT_PRECISION significant digits):

1. Log scale with an offset: y = ln(v + c), where c = OFFSET_SHARE x the median of the history's non-zero
   values. Spend varies multiplicatively (a busy hour is "twice" a quiet one), so noise is comparable across
   quiet and busy hours on this scale; the offset keeps zero hours finite and, being proportional to the
   data, keeps the method invariant to scaling (quantity or money gives the same verdicts).
2. Seasonal profile: hourly windows are compared with the median of the same local hour of day; with at
   least WEEKLY_MIN_DAYS of history, a day-of-week effect (the median residual of each weekday) is added,
   so a quiet Sunday does not lower Monday's baseline. Daily windows use one median (plus the weekday
   effect with at least DAILY_WEEKLY_MIN_DAYS).
3. Robust spread: 1.4826 x the MAD (median absolute deviation) of the residuals y - profile, floored at
   MIN_SCALE (a near-constant series would otherwise alert on a 1 % wobble). The median and the MAD ignore
   up to half the history being outliers (a past spike does not raise the baseline).
4. A window is anomalous when its robust score z = (y_observed - y_expected) / spread is at least
   Z_THRESHOLD *and* its value is at least MIN_RATIO times the expected value: both a statistical
   surprise and a material increase. Only increases alert (spend falling is not a cost risk).

Nothing is said before MIN_HISTORY_DAYS of history (the caller counts from the meter's first usage), nor
for a sparse series (fewer than half of its windows with usage: no usual level to compare with)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal

DETECT_PRECISION = 16
_CTX = Context(prec=DETECT_PRECISION)
MAD_TO_SIGMA = Decimal("1.4826")  # makes the MAD a consistent estimator of a normal standard deviation
OFFSET_SHARE = Decimal("0.1")
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class DetectParams:
    z_threshold: Decimal = Decimal("4")
    min_ratio: Decimal = Decimal("1.5")
    min_scale: Decimal = Decimal("0.05")  # in log units: ~5 % noise floor
    min_history_days: int = 7
    weekly_min_days: int = 21  # hourly: 3 samples of each weekday
    daily_weekly_min_days: int = 56  # daily: 8 samples of each weekday
    min_nonzero_share: Decimal = Decimal("0.5")  # sparser series have no usual level to compare with


DEFAULT_PARAMS = DetectParams()


@dataclass(frozen=True)
class Verdict:
    anomalous: bool
    observed: Decimal
    expected: Decimal  # the baseline's typical value for this window (never below 0)
    ratio: Decimal  # (observed + c) / (expected + c)
    score: Decimal  # robust z on the log scale


def median(values: Sequence[Decimal]) -> Decimal:
    """The median (the mean of the two middle values for an even count). Raises on an empty sequence."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return _CTX.divide(_CTX.add(ordered[mid - 1], ordered[mid]), Decimal(2))


def mad(values: Sequence[Decimal], center: Decimal | None = None) -> Decimal:
    """Median absolute deviation from `center` (the median when not given)."""
    center = median(values) if center is None else center
    return median([abs(_CTX.subtract(v, center)) for v in values])


def robust_spread(values: Sequence[Decimal]) -> Decimal:
    """1.4826 x MAD: the standard deviation a normal sample with this MAD would have."""
    return _CTX.multiply(MAD_TO_SIGMA, mad(values))


@dataclass(frozen=True)
class Baseline:
    """A fitted baseline: per-slot medians of log values (slot = hour of day, or 0 for days), optional
    weekday effects, the offset and the robust spread of the residuals."""

    offset: Decimal
    profile: dict[int, Decimal]
    weekday_effect: dict[int, Decimal]
    spread: Decimal
    params: DetectParams

    def judge(self, *, slot: int, weekday: int, observed: Decimal) -> Verdict:
        expected_log = _CTX.add(self.profile[slot], self.weekday_effect.get(weekday, Decimal(0)))
        observed_log = _log(observed, self.offset)
        diff = _CTX.subtract(observed_log, expected_log)
        score = _CTX.divide(diff, self.spread)
        ratio = _CTX.exp(diff)
        expected = max(Decimal(0), _CTX.subtract(_CTX.exp(expected_log), self.offset))
        anomalous = score >= self.params.z_threshold and ratio >= self.params.min_ratio
        return Verdict(anomalous=anomalous, observed=observed, expected=expected, ratio=ratio, score=score)

    def judge_hour(self, *, at: datetime, observed: Decimal) -> Verdict:
        """The verdict on the hour starting at `at` (local time: its hour of day and weekday)."""
        return self.judge(slot=at.hour, weekday=at.weekday(), observed=observed)

    def judge_day(self, *, day: date, observed: Decimal) -> Verdict:
        return self.judge(slot=0, weekday=day.weekday(), observed=observed)


def _log(value: Decimal, offset: Decimal) -> Decimal:
    return _CTX.ln(_CTX.add(max(value, Decimal(0)), offset))


def median_log(values: Sequence[Decimal], offset: Decimal) -> Decimal:
    """median([_log(v, offset) for v in values]), taking only the logarithms of the middle values: v ->
    ln(max(v, 0) + offset) at DETECT_PRECISION is monotonic (correctly rounded steps), so the logs sort as
    the values do and the median of the logs is the log of the value(s) at the median's rank."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return _log(ordered[mid], offset)
    return _CTX.divide(_CTX.add(_log(ordered[mid - 1], offset), _log(ordered[mid], offset)), Decimal(2))


def _offset(points: Sequence[tuple[int, int, Decimal]], params: DetectParams) -> Decimal | None:
    """The log offset of a series, or None when fewer than `min_nonzero_share` of the values are above 0:
    a sparse series (a sale now and then) has no usual level, and every window with usage would look
    anomalous against its zeros."""
    nonzero = [v for _s, _w, v in points if v > 0]
    if not nonzero or Decimal(len(nonzero)) < params.min_nonzero_share * len(points):
        return None
    return _CTX.multiply(OFFSET_SHARE, median(nonzero))


def _profile(points: Sequence[tuple[int, int, Decimal]], offset: Decimal) -> dict[int, Decimal]:
    """Per slot, the median of the logs of its values."""
    by_slot: dict[int, list[Decimal]] = defaultdict(list)
    for slot, _weekday, v in points:
        by_slot[slot].append(v)
    return {slot: median_log(vs, offset) for slot, vs in by_slot.items()}


def _fit(
    points: Sequence[tuple[int, int, Decimal]], *, weekly: bool, params: DetectParams
) -> Baseline | None:
    """points: (slot, weekday, value). None for a sparse series (_offset)."""
    offset = _offset(points, params)
    if offset is None:
        return None
    logs = [(slot, weekday, _log(v, offset)) for slot, weekday, v in points]
    profile = _profile(points, offset)
    residuals = [(weekday, _CTX.subtract(y, profile[slot])) for slot, weekday, y in logs]
    effect: dict[int, Decimal] = {}
    if weekly:
        by_day: dict[int, list[Decimal]] = defaultdict(list)
        for weekday, r in residuals:
            by_day[weekday].append(r)
        effect = {weekday: median(rs) for weekday, rs in by_day.items()}
        residuals = [(weekday, _CTX.subtract(r, effect[weekday])) for weekday, r in residuals]
    spread = max(params.min_scale, robust_spread([r for _w, r in residuals]))
    return Baseline(offset=offset, profile=profile, weekday_effect=effect, spread=spread, params=params)


def fit_hourly(
    history: Iterable[tuple[datetime, Decimal]], *, params: DetectParams = DEFAULT_PARAMS
) -> Baseline | None:
    """The baseline of a trailing hourly series (local hour starts, every hour present, zeros included).
    None with less than `min_history_days` whole days of hours, or a sparse series."""
    points = [(at.hour, at.weekday(), value) for at, value in history]
    days = len(points) // HOURS_PER_DAY
    if days < params.min_history_days:
        return None
    return _fit(points, weekly=days >= params.weekly_min_days, params=params)


def hourly_may_fire(
    history: Sequence[tuple[datetime, Decimal]],
    windows: Iterable[tuple[datetime, Decimal]],
    *,
    params: DetectParams = DEFAULT_PARAMS,
) -> bool:
    """Whether fit_hourly(history) could find one of `windows` (local hour start, observed) anomalous.
    False guarantees that none is: there is no baseline, or every window is below `min_ratio` times its
    expected value (a condition of `anomalous`). It computes the very numbers fit_hourly and
    Baseline.judge_hour compute for these windows' expected values (the profile, the weekday effect of the
    windows' weekdays) and skips the spread, which needs the log of every hour: about a fifth of the
    logarithms of a full fit, the bulk of an evaluation's CPU (docs/alerts-evaluation.md, "Cost")."""
    points = [(at.hour, at.weekday(), value) for at, value in history]
    days = len(points) // HOURS_PER_DAY
    if days < params.min_history_days:
        return False
    offset = _offset(points, params)
    if offset is None:
        return False
    profile = _profile(points, offset)
    effects: dict[int, Decimal] = {}
    for at, observed in windows:
        slot, weekday = at.hour, at.weekday()
        if slot not in profile:
            return True  # let the full fit decide
        effect = Decimal(0)
        if days >= params.weekly_min_days:
            if weekday not in effects:
                residuals = [_CTX.subtract(_log(v, offset), profile[s]) for s, w, v in points if w == weekday]
                effects[weekday] = median(residuals) if residuals else Decimal(0)
            effect = effects[weekday]
        expected_log = _CTX.add(profile[slot], effect)
        if _CTX.exp(_CTX.subtract(_log(observed, offset), expected_log)) >= params.min_ratio:
            return True
    return False


def fit_daily(
    history: Iterable[tuple[date, Decimal]], *, params: DetectParams = DEFAULT_PARAMS
) -> Baseline | None:
    """The baseline of trailing daily values (or day-to-date values cut at the same hour). None with fewer
    than `min_history_days` days, or a sparse series."""
    points = [(0, day.weekday(), value) for day, value in history]
    if len(points) < params.min_history_days:
        return None
    return _fit(points, weekly=len(points) >= params.daily_weekly_min_days, params=params)


def carriers(
    window: dict[str, Decimal], reference: dict[str, Decimal], *, limit: int = 3
) -> list[tuple[str, Decimal, Decimal]]:
    """The values of one dimension (projects, or one tag's values) that carry an increase: (value, in the
    window, increase over the reference window), largest increase first, only increases, at most `limit`."""
    rows = [(name, qty, _CTX.subtract(qty, reference.get(name, Decimal(0)))) for name, qty in window.items()]
    rising = [row for row in rows if row[2] > 0]
    rising.sort(key=lambda row: (-row[2], row[0]))
    return rising[:limit]
