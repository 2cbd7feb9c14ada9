"""Server-side SVG bar charts of one value per day, with their data tables: no script, no inline style
(classes styled by portal.css, presentation attributes for text anchoring).

Every chart carries its text alternative: an SVG <title> and <desc> (the range, the total, the highest
day) and an accessible data table in a <details>. The markup is written here rather than in a template:
13 months of days make some 400 bars and 400 table rows per chart, and the template engine's loops cost
more than the page's whole read (every interpolated text is escaped with `escape`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from html import escape  # what django.utils.html.escape calls, without its lazy-text wrapper per call

from django.utils.safestring import SafeString, mark_safe

WIDTH = 800
HEIGHT = 260
LEFT = 96  # room for the value labels
RIGHT = 12
TOP = 12
BOTTOM = 36  # room for the month labels
TICKS = 4
_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str  # "<day>: <value>"


@dataclass(frozen=True)
class Tick:
    y: str
    label: str


@dataclass(frozen=True)
class XLabel:
    x: str
    label: str


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    desc: str
    value_heading: str
    bars: list[Bar]
    ticks: list[Tick]
    months: list[XLabel]
    rows: list[tuple[str, str]]  # (day, value) for the data table
    total: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    baseline: str = ""
    row_heading: str = "Day"  # the data table's first column, and its caption's count noun
    row_noun: str = "days"


def _coord(value: float) -> str:
    return f"{value:.2f}"


def nice_step(span: Decimal) -> Decimal:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that divides `span` into at most TICKS parts."""
    if span <= 0:
        return Decimal(1)
    raw = span / TICKS
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for step in _STEPS:
        if step * magnitude >= raw:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - _STEPS ends at 10


def value_axis(values: list[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    """The value axis of a bar chart: (low, high, step), round multiples of the step holding 0 and every
    value (never empty: one step at least)."""
    low = min([Decimal(0), *values])
    high = max([Decimal(0), *values])
    step = nice_step(high - low)
    axis_low = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    axis_high = (high / step).to_integral_value(rounding=ROUND_CEILING) * step
    if axis_high == axis_low:
        axis_high = axis_low + step
    return axis_low, axis_high, step


def bar_chart(
    *,
    chart_id: str,
    title: str,
    value_heading: str,
    points: list[tuple[date, Decimal]],
    value_label: Callable[[Decimal], str],
    day_label: Callable[[date], str],
    month_label: Callable[[date], str],
) -> Chart:
    """One bar per day of `points` (in day order), a value axis with round ticks, the first day of each
    month labelled."""
    values = [v for _d, v in points]
    axis_low, axis_high, step = value_axis(values)
    plot_h = HEIGHT - TOP - BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    span = float(axis_high - axis_low)

    def y_of(value: Decimal) -> float:
        return TOP + plot_h * float(axis_high - value) / span

    slot = plot_w / max(len(points), 1)
    gap = slot * 0.15 if slot >= 4 else 0.0
    zero_y = y_of(Decimal(0))
    bars: list[Bar] = []
    months: list[XLabel] = []
    rows: list[tuple[str, str]] = []
    for i, (day, value) in enumerate(points):
        x = LEFT + i * slot
        top = min(y_of(value), zero_y)
        height = abs(y_of(value) - zero_y)
        text = value_label(value)
        rows.append((day_label(day), text))
        if value != 0:
            bars.append(
                Bar(
                    _coord(x + gap / 2),
                    _coord(top),
                    _coord(slot - gap),
                    _coord(height),
                    f"{rows[-1][0]}: {text}",
                )
            )
        if day.day == 1 or i == 0:
            months.append(XLabel(_coord(x), month_label(day)))
    ticks = []
    tick = axis_low
    while tick <= axis_high:
        ticks.append(Tick(_coord(y_of(tick)), value_label(tick)))
        tick += step
    total = value_label(sum(values, Decimal(0)))
    if points:
        first, last = day_label(points[0][0]), day_label(points[-1][0])
        peak_day, peak = max(points, key=lambda p: p[1])
        desc = (
            f"One bar per day from {first} to {last}. Total {total}; highest {value_label(peak)} on "
            f"{day_label(peak_day)}. The same figures are in the data table below the chart."
        )
    else:
        desc = "No days in the range."
    return Chart(
        chart_id=chart_id,
        title=title,
        desc=desc,
        value_heading=value_heading,
        bars=bars,
        ticks=ticks,
        months=months,
        rows=rows,
        total=total,
        baseline=_coord(zero_y),
    )


def chart_html(chart: Chart) -> SafeString:
    """The chart's <figure>: the SVG (title, desc, grid, value labels, bars, month labels) and its data
    table."""
    c = chart
    cid = escape(c.chart_id)
    title = escape(c.title)
    parts = [
        f'<figure class="chart-figure" aria-labelledby="{cid}-caption">',
        f'<figcaption id="{cid}-caption"><h3>{title}</h3></figcaption>',
        f'<svg class="chart" viewBox="0 0 {c.width} {c.height}" width="{c.width}" height="{c.height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{title}</title><desc id="{cid}-desc">{escape(c.desc)}</desc>',
        '<g class="chart-grid">',
        *(f'<line x1="{c.left}" x2="{c.right_edge}" y1="{t.y}" y2="{t.y}"/>' for t in c.ticks),
        '</g><g class="chart-labels">',
        *(
            f'<text x="{c.left - 6}" y="{t.y}" text-anchor="end" dominant-baseline="middle">{escape(t.label)}</text>'
            for t in c.ticks
        ),
        '</g><g class="chart-bars">',
        *(
            f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}"><title>{escape(b.label)}</title></rect>'
            for b in c.bars
        ),
        f'</g><line class="chart-axis" x1="{c.left}" x2="{c.right_edge}" y1="{c.baseline}" y2="{c.baseline}"/>',
        '<g class="chart-labels">',
        *(
            f'<text x="{m.x}" y="{c.height - 12}" text-anchor="start">{escape(m.label)}</text>'
            for m in c.months
        ),
        "</g></svg>",
        f"<details><summary>Data table: {title}</summary><table>",
        f"<caption>{title}: {len(c.rows)} {escape(c.row_noun)}, total {escape(c.total)}</caption>",
        f'<thead><tr><th scope="col">{escape(c.row_heading)}</th>'
        f'<th scope="col" class="num">{escape(c.value_heading)}</th></tr></thead>',
        "<tbody>",
        *(f'<tr><th scope="row">{escape(d)}</th><td class="num">{escape(v)}</td></tr>' for d, v in c.rows),
        "</tbody></table></details></figure>",
    ]
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
