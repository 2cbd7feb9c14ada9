"""Bar charts of labelled categories (months, clock hours, latency buckets) for the dashboards: the
geometry of portal.usage.charts (its round value ticks, its Chart and its <figure> markup with the SVG's
title and description and the data table), one bar per category, every `label_every`-th one labelled."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.utils.safestring import SafeString

from portal.usage.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Bar,
    Chart,
    Tick,
    XLabel,
    _coord,
    chart_html,
    value_axis,
)


def category_chart(
    *,
    chart_id: str,
    title: str,
    value_heading: str,
    row_heading: str,
    row_noun: str,
    points: list[tuple[str, Decimal]],
    value_label: Callable[[Decimal], str],
    label_every: int = 1,
    summary: str = "",
) -> Chart:
    """One bar per (label, value) in order; `summary` is the SVG's description (the figures are in the
    data table too)."""
    values = [v for _label, v in points]
    axis_low, axis_high, step = value_axis(values)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    span = float(axis_high - axis_low)

    def y_of(value: Decimal) -> float:
        return TOP + plot_h * float(axis_high - value) / span

    gap = slot * 0.15
    zero_y = y_of(Decimal(0))
    bars, labels, rows = [], [], []
    for i, (label, value) in enumerate(points):
        x = LEFT + i * slot
        text = value_label(value)
        rows.append((label, text))
        if value != 0:
            top = min(y_of(value), zero_y)
            height = abs(y_of(value) - zero_y)
            bars.append(
                Bar(_coord(x + gap / 2), _coord(top), _coord(slot - gap), _coord(height), f"{label}: {text}")
            )
        if i % max(label_every, 1) == 0:
            labels.append(XLabel(_coord(x + gap / 2), label))
    ticks = []
    tick = axis_low
    while tick <= axis_high:
        ticks.append(Tick(_coord(y_of(tick)), value_label(tick)))
        tick += step
    total = value_label(sum(values, Decimal(0)))
    return Chart(
        chart_id=chart_id,
        title=title,
        desc=summary or f"{len(points)} {row_noun}; the figures are in the data table below the chart.",
        value_heading=value_heading,
        bars=bars,
        ticks=ticks,
        months=labels,
        rows=rows,
        total=total,
        baseline=_coord(zero_y),
        row_heading=row_heading,
        row_noun=row_noun,
    )


def figure(chart: Chart) -> SafeString:
    return chart_html(chart)
