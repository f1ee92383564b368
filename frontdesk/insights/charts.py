"""Server-rendered SVG bar charts: no JavaScript, no build step, print as crisply as text.

A chart is built from the same series the tables show, so the two can never disagree. Output
is SVG markup made only from numbers and fixed labels (escaped anyway), safe to embed with
`|safe` in a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the y-axis labels
BOTTOM = 36  # room for the bucket labels
TOP = 12


@dataclass(frozen=True)
class Series:
    """One named series; `css` picks its colour from console.css (`.chart .s-<css>`)."""

    name: str
    values: Sequence[float]
    css: str


def _nice_top(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above `value` (an axis that reads well)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def bar_chart(
    *, title: str, labels: Sequence[str], series: Sequence[Series], stacked: bool = False
) -> str:
    """An accessible SVG bar chart: `title` and a table-equivalent `<desc>` for screen readers."""
    count = max(len(labels), 1)
    if stacked:
        peak = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        peak = max((v for s in series for v in s.values), default=0)
    top = _nice_top(peak)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    bar_w = slot * 0.8 / (1 if stacked else max(len(series), 1))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{_id(title)}-t {_id(title)}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_id(title)}-t">{escape(title)}</title>',
        f'<desc id="{_id(title)}-d">{escape(_describe(labels, series))}</desc>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_short(value)}</text>"
        )
    every = max(1, len(labels) // 12)  # at most about a dozen bucket labels
    for index, label in enumerate(labels):
        x0 = LEFT + slot * index + slot * 0.1
        base: float = TOP + plot_h
        for position, one in enumerate(series):
            value = one.values[index]
            height = plot_h * value / top
            x = x0 if stacked else x0 + bar_w * position
            parts.append(
                f'<rect class="s-{escape(one.css)}" x="{x:.1f}" y="{base - height:.1f}" '
                f'width="{bar_w:.1f}" height="{height:.1f}">'
                f"<title>{escape(label)} · {escape(one.name)}: {_short(value)}</title></rect>"
            )
            if stacked:
                base -= height
        if index % every == 0:
            parts.append(
                f'<text class="axis" x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    legend_x = LEFT
    for one in series:
        parts.append(
            f'<rect class="s-{escape(one.css)}" x="{legend_x}" y="{HEIGHT - 14}" '
            'width="10" height="10"/>'
            f'<text class="legend" x="{legend_x + 14}" y="{HEIGHT - 5}">{escape(one.name)}</text>'
        )
        legend_x += 24 + 7 * len(one.name)
    parts.append("</svg>")
    return "".join(parts)


def _id(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _describe(labels: Sequence[str], series: Sequence[Series]) -> str:
    totals = ", ".join(f"{s.name} {_short(sum(s.values))}" for s in series)
    span = f"{labels[0]} to {labels[-1]}" if labels else "no data"
    return f"{span}: {totals} in total."
