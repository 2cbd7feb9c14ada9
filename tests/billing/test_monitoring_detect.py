"""The spend-anomaly detector (billing.monitoring.detect), pure: its precision and recall on labelled
synthetic spikes (the figures of docs/alerts-evaluation.md:
`.venv/bin/pytest -q -s tests/billing/test_monitoring_detect.py -k precision`), and its robustness."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.monitoring.detect import (
    DEFAULT_PARAMS,
    _log,
    carriers,
    fit_daily,
    fit_hourly,
    hourly_may_fire,
    mad,
    median,
    median_log,
)

HISTORY_DAYS = 28
START = datetime(2026, 3, 2)  # a Monday; local time (the detector takes the tenant's local hours)


def _quantity(x: float) -> Decimal:
    """A synthetic usage quantity (6 decimals, like a metered amount), built from its text."""
    return Decimal(f"{x:.6f}")


def _seasonal_series(rng: random.Random) -> list[float]:
    """29 days of hourly usage: a level between 10 and 10,000, a daily cycle (amplitude 20-80 %), a
    weekend dip (to 50-100 %), multiplicative noise of 5-15 %, and 0-3 past spikes in the history."""
    level = math.exp(rng.uniform(math.log(10), math.log(10_000)))
    amplitude, phase = rng.uniform(0.2, 0.8), rng.uniform(0, 24)
    weekend, sigma = rng.uniform(0.5, 1.0), rng.uniform(0.05, 0.15)
    values = []
    for i in range((HISTORY_DAYS + 1) * 24):
        at = START + timedelta(hours=i)
        daily = 1 + amplitude * math.sin(2 * math.pi * (at.hour - phase) / 24)
        week = weekend if at.weekday() >= 5 else 1.0
        values.append(level * daily * week * math.exp(rng.gauss(0, sigma)))
    for _ in range(rng.randint(0, 3)):
        values[rng.randrange(HISTORY_DAYS * 24)] *= rng.uniform(2, 6)
    return values


def _counts_series(rng: random.Random) -> list[float]:
    """Low-volume counted usage (20-60 events an hour on average, Poisson noise), never spiked."""
    mean = rng.uniform(20, 60)
    values = []
    for _ in range((HISTORY_DAYS + 1) * 24):
        # Poisson by inversion (small means)
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
        values.append(float(k))
    return values


def _evaluate(n_spiked: int, n_clean: int, n_counts: int, seed: int) -> tuple[int, int, int]:
    """Fit on 28 days, judge each hour of day 29. Spiked series get one spike of 2x-5x at a random hour
    of day 29 (the label); clean and count series have none. Returns (true pos., false pos., false neg.)."""
    rng = random.Random(seed)
    tp = fp = fn = 0
    cases: list[tuple[list[float], int | None]] = []
    for _ in range(n_spiked):
        values = _seasonal_series(rng)
        spiked_hour = rng.randrange(24)
        values[HISTORY_DAYS * 24 + spiked_hour] *= rng.uniform(2, 5)
        cases.append((values, spiked_hour))
    cases += [(_seasonal_series(rng), None) for _ in range(n_clean)]
    cases += [(_counts_series(rng), None) for _ in range(n_counts)]
    for values, hot in cases:
        points = [(START + timedelta(hours=i), _quantity(v)) for i, v in enumerate(values)]
        baseline = fit_hourly(points[: HISTORY_DAYS * 24])
        assert baseline is not None
        for hour in range(24):
            at, observed = points[HISTORY_DAYS * 24 + hour]
            fired = baseline.judge_hour(at=at, observed=observed).anomalous
            if fired and hour == hot:
                tp += 1
            elif fired:
                fp += 1
            elif hour == hot:
                fn += 1
    return tp, fp, fn


def test_precision_and_recall_on_labelled_synthetic_spikes_are_at_least_0_9() -> None:
    # given 150 spiked seasonal series, 100 clean ones and 50 low-volume count series (7,200 judged hours)
    tp, fp, fn = _evaluate(n_spiked=150, n_clean=100, n_counts=50, seed=2026)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nanomaly detector: tp={tp} fp={fp} fn={fn} precision={precision:.3f} recall={recall:.3f}")
    assert (tp + fn, precision >= 0.9, recall >= 0.9) == (150, True, True)


def test_it_says_nothing_before_seven_days_of_history() -> None:
    points = [(START + timedelta(hours=i), Decimal(10)) for i in range(7 * 24 - 1)]
    assert fit_hourly(points) is None
    assert fit_hourly([*points, (START + timedelta(hours=7 * 24 - 1), Decimal(10))]) is not None
    days = [(date(2026, 3, 1) + timedelta(days=i), Decimal(5)) for i in range(6)]
    assert fit_daily(days) is None


def test_it_fires_on_a_tripled_hour_of_a_flat_series_and_not_on_its_usual_level() -> None:
    points = [(START + timedelta(hours=i), Decimal(100 + (i % 3))) for i in range(14 * 24)]
    baseline = fit_hourly(points)
    assert baseline is not None
    at = START + timedelta(days=14, hours=10)
    spike = baseline.judge_hour(at=at, observed=Decimal(300))
    usual = baseline.judge_hour(at=at, observed=Decimal(102))
    assert (spike.anomalous, usual.anomalous) == (True, False)
    assert spike.expected.quantize(Decimal(1)) == Decimal(101)


def test_it_needs_a_material_increase_not_only_a_surprise() -> None:
    # a perfectly flat series: any rise is statistically surprising; 1.4x stays below the 1.5x minimum
    points = [(START + timedelta(hours=i), Decimal(100)) for i in range(8 * 24)]
    baseline = fit_hourly(points)
    assert baseline is not None
    at = START + timedelta(days=8)
    assert baseline.judge_hour(at=at, observed=Decimal(140)).anomalous is False
    assert baseline.judge_hour(at=at, observed=Decimal(160)).anomalous is True


def test_it_never_fires_on_a_drop() -> None:
    points = [(START + timedelta(hours=i), Decimal(100 + (i % 5))) for i in range(8 * 24)]
    baseline = fit_hourly(points)
    assert baseline is not None
    assert baseline.judge_hour(at=START + timedelta(days=8), observed=Decimal(0)).anomalous is False


def test_the_daily_baseline_fires_on_a_doubled_day() -> None:
    days = [(date(2026, 3, 1) + timedelta(days=i), Decimal(1000 + 10 * (i % 4))) for i in range(10)]
    baseline = fit_daily(days)
    assert baseline is not None
    verdict = baseline.judge_day(day=date(2026, 3, 11), observed=Decimal(2000))
    assert (verdict.anomalous, verdict.ratio.quantize(Decimal("0.01"))) == (
        True,
        Decimal("1.89"),
    )  # (2000 + c) / (1010 + c), c = 101


def test_median_and_mad_of_known_values() -> None:
    values = [Decimal(v) for v in ("1", "2", "3", "4", "100")]
    assert (median(values), mad(values)) == (Decimal(3), Decimal(1))
    assert median([Decimal(1), Decimal(2)]) == Decimal("1.5")


def test_carriers_name_the_values_that_rose_most() -> None:
    window = {"web": Decimal(900), "batch": Decimal(100), "ml": Decimal(50)}
    reference = {"web": Decimal(100), "batch": Decimal(100), "ml": Decimal(10)}
    assert carriers(window, reference) == [
        ("web", Decimal(900), Decimal(800)),
        ("ml", Decimal(50), Decimal(40)),
    ]


quantities = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(quantities, min_size=7, max_size=60),
    st.decimals(min_value=Decimal(10**6), max_value=Decimal(10**9), places=0),
)
def test_one_outlier_moves_the_median_by_at_most_one_neighbour_and_the_mad_boundedly(
    values: list[Decimal], outlier: Decimal
) -> None:
    ordered = sorted(values)
    with_outlier = [*values, outlier]
    m = median(with_outlier)
    # one outlier shifts the median by at most one rank among the clean values, whatever its size
    n = len(ordered)
    assert ordered[(n - 1) // 2] <= m <= ordered[min(n - 1, n // 2 + 1)]
    # the MAD stays within the spread of the clean data, whatever the outlier's size
    assert mad(with_outlier) <= ordered[-1] - ordered[0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=500), min_size=7 * 24, max_size=7 * 24),
    st.integers(min_value=0, max_value=3000),
    st.sampled_from([Decimal("0.001"), Decimal(3), Decimal(1000)]),
)
def test_verdicts_do_not_depend_on_the_unit(history: list[int], observed: int, scale: Decimal) -> None:
    """Quantity or money, cents or thousands: scaling every value by the same factor changes no score."""
    points = [(START + timedelta(hours=i), Decimal(v)) for i, v in enumerate(history)]
    scaled = [(at, v * scale) for at, v in points]
    base, other = fit_hourly(points), fit_hourly(scaled)
    if base is None:
        assert other is None
        return
    assert other is not None
    at = START + timedelta(days=7, hours=5)
    a = base.judge_hour(at=at, observed=Decimal(observed))
    b = other.judge_hour(at=at, observed=Decimal(observed) * scale)
    assert abs(a.score - b.score) < Decimal("1e-9")
    assert abs(a.ratio - b.ratio) < Decimal("1e-9")


def test_default_thresholds_are_the_documented_ones() -> None:
    assert (DEFAULT_PARAMS.z_threshold, DEFAULT_PARAMS.min_ratio, DEFAULT_PARAMS.min_history_days) == (
        Decimal(4),
        Decimal("1.5"),
        7,
    )


def test_a_sparse_series_has_no_baseline() -> None:
    """A sale now and then: most hours are empty, so any hour with a sale would look anomalous."""
    points = [(START + timedelta(hours=i), Decimal(50 if i % 3 == 0 else 0)) for i in range(14 * 24)]
    assert fit_hourly(points) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=-5, max_value=10_000), min_size=1, max_size=40),
    st.integers(min_value=1, max_value=500),
)
def test_median_log_is_the_median_of_the_logs(values: list[int], offset: int) -> None:
    quantities = [Decimal(v) / 7 for v in values]
    c = Decimal(offset) / 3
    assert median_log(quantities, c) == median([_log(v, c) for v in quantities])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.sampled_from([6, 8, 14, 21, 28]),
    st.floats(min_value=0.2, max_value=6.0),
)
def test_hourly_may_fire_is_false_only_when_the_full_fit_fires_on_no_window(
    seed: int, days: int, jump: float
) -> None:
    """The screen of anomalies.py: False never hides an anomalous window of the full fit, and when the
    windows are below min_ratio of the fitted expectation it says False."""
    rng = random.Random(seed)
    values = _seasonal_series(rng)[: (days + 1) * 24]
    if rng.random() < 0.2:
        values = [v if rng.random() < 0.4 else 0.0 for v in values]  # sparse
    history = [(START + timedelta(hours=i), _quantity(v)) for i, v in enumerate(values[: days * 24])]
    at = START + timedelta(days=days, hours=rng.randrange(23))
    windows = [
        (at, _quantity(values[days * 24 + at.hour] * jump)),
        (at + timedelta(hours=1), _quantity(values[days * 24 + at.hour + 1])),
    ]
    baseline = fit_hourly(history)
    verdicts = [baseline.judge_hour(at=t, observed=v) for t, v in windows] if baseline else []
    may = hourly_may_fire(history, windows)
    assert may == any(v.ratio >= DEFAULT_PARAMS.min_ratio for v in verdicts)
    if any(v.anomalous for v in verdicts):
        assert may
