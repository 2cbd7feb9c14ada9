"""What the app exports, by metric name, and the metric names a PromQL expression reads: shared by the
tests of the metric conventions, the Prometheus rules and the Grafana dashboard."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from billing.observability.collector import BillingCollector, Snapshot

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


@dataclass(frozen=True)
class Family:
    name: str  # as prometheus_client names it (a counter's without `_total`)
    type: str
    labels: tuple[str, ...]
    scraped: bool = False  # a scrape-time gauge of billing.observability.collector

    @property
    def exported(self) -> list[str]:
        return [self.name + suffix for suffix in SUFFIXES[self.type]]


def _full_snapshot() -> Snapshot:
    """A scrape that read every source (so that every family of the collector carries its labels)."""
    return Snapshot(
        oldest_pending_age=1.0,
        pending_events=1,
        quarantined={"unknown_sku": 1},
        blocked={"tax_rule": 1},
        alerts_open={"pdf": 1},
        celery_queue=1,
        database_up=True,
        redis_up=True,
    )


def families() -> list[Family]:
    """Every metric family of the project: the metric objects in the default registry (whatever module
    made them) and the scrape-time collector's families. Fails on a collector it does not know."""
    found: list[Family] = []
    standard = {PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR}
    for collector in list(REGISTRY._collector_to_names):
        if collector in standard:
            continue
        assert isinstance(collector, MetricWrapperBase), f"unknown collector {collector!r} in the registry"
        found.append(Family(collector._name, str(collector._type), tuple(collector._labelnames)))
    for family in BillingCollector()._families(_full_snapshot(), seconds=0.0, with_samples=True):
        labels = tuple(sorted({label for sample in family.samples for label in sample.labels}))
        found.append(Family(family.name, family.type, labels, scraped=True))
    return found


def exported_metrics() -> set[str]:
    return {name for family in families() for name in family.exported}


# PromQL's functions, aggregations, keywords and modifiers: the words of an expression that are no metric.
PROMQL_WORDS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "avg",
        "avg_over_time",
        "bool",
        "bottomk",
        "by",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "count",
        "count_over_time",
        "count_values",
        "day_of_month",
        "day_of_week",
        "days_in_month",
        "delta",
        "deriv",
        "exp",
        "floor",
        "group",
        "group_left",
        "group_right",
        "histogram_quantile",
        "holt_winters",
        "hour",
        "idelta",
        "ignoring",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max",
        "max_over_time",
        "min",
        "min_over_time",
        "minute",
        "month",
        "offset",
        "on",
        "predict_linear",
        "quantile",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev",
        "stddev_over_time",
        "stdvar",
        "sum",
        "sum_over_time",
        "time",
        "timestamp",
        "topk",
        "vector",
        "without",
        "year",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
    ]
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_DURATIONS = re.compile(r"\b\d+(\.\d+)?(ms|s|m|h|d|w|y)?\b")
_WORD = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_GRAFANA_VARS = re.compile(r"\$\{?[a-zA-Z_]+\}?")


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` reads: what is left after strings, label matchers, ranges, groupings,
    numbers, Grafana variables and PromQL's own words are taken out."""
    text = _GRAFANA_VARS.sub(" ", expr)
    text = _STRINGS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPINGS.sub(" ", text)
    text = _DURATIONS.sub(" ", text)
    return {word for word in _WORD.findall(text) if word not in PROMQL_WORDS}
