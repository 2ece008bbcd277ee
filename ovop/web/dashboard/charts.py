"""Small line charts drawn as inline SVG on the server: no script, no library, readable on a phone.

Every text that goes into the SVG is escaped here; the result is Markup that templates insert as it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

from markupsafe import Markup, escape

# Okabe–Ito: told apart by people with the common colour-vision deficiencies, and in daylight on a phone.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH, PLOT_HEIGHT = 360, 120
RIGHT, TOP, BOTTOM = 10, 10, 22
LEGEND_ROW = 16
CHAR_WIDTH = 6  # of a 10px axis label, about: the left margin grows with the longest one


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and (moment, value) points in time order."""

    name: str
    points: Sequence[tuple[datetime, float]]


def _nice(span: float) -> float:
    """A round step at least `span`: 1, 2, 2.5 or 5 times a power of ten."""
    power = 10 ** math.floor(math.log10(span))
    return next(factor * power for factor in (1, 2, 2.5, 5, 10) if span <= factor * power + 1e-9)


def axis(low: float, high: float) -> list[float]:
    """Two or three round steps covering low..high, e.g. 0, 25, 50 for 0..43."""
    if high <= low:
        high = low + 1
    step = _nice((high - low) / 2)
    first, last = math.floor(low / step) * step, math.ceil(high / step) * step
    return [first + step * n for n in range(round((last - first) / step) + 1)]


def line_chart(series: Sequence[Series], *, title: str, end: datetime | None = None, step: bool = False,
               from_zero: bool = True, value_text: Callable[[float], str] = lambda v: f"{v:g}",
               moment_text: Callable[[datetime], str] = lambda m: m.date().isoformat(),
               width: int = WIDTH) -> Markup:
    """An SVG line chart; `step` holds each value until the next (stock levels) and up to `end`."""
    drawn = [line for line in series if line.points][:len(PALETTE)]
    height = TOP + PLOT_HEIGHT + BOTTOM + LEGEND_ROW * len(drawn)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    if not drawn:
        return Markup("".join(parts) + "</svg>")
    moments = [moment for line in drawn for moment, _ in line.points]
    values = [value for line in drawn for _, value in line.points]
    start, finish = min(moments), max(moments + ([end] if end else []))
    if finish <= start:
        finish = start + timedelta(days=1)
    spread = max(values) - min(values)
    ticks = axis(0.0 if from_zero else min(values) - max(spread * 0.2, abs(min(values)) * 0.05),
                 max(values) + max(spread, abs(max(values))) * 0.05)
    low, high = ticks[0], ticks[-1]
    labels = [value_text(tick) for tick in ticks]
    left = max(30, CHAR_WIDTH * max(len(label) for label in labels) + 8)

    def x(moment: datetime) -> float:
        return left + (moment - start) / (finish - start) * (width - left - RIGHT)

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT - (value - low) / (high - low) * PLOT_HEIGHT

    for tick, label in zip(ticks, labels):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                     f'<text class="axis" x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                     f'{escape(label)}</text>')
    axis_y = TOP + PLOT_HEIGHT + 15
    parts.append(f'<text class="axis" x="{left}" y="{axis_y}">{escape(moment_text(start))}</text>'
                 f'<text class="axis" x="{width - RIGHT}" y="{axis_y}" text-anchor="end">'
                 f'{escape(moment_text(finish))}</text>')
    for index, line in enumerate(drawn):
        colour = PALETTE[index]
        coords = [(x(moment), y(value)) for moment, value in line.points]
        if step:
            path = [f"M{coords[0][0]:.1f},{coords[0][1]:.1f}"]
            for px, py in coords[1:]:
                path.append(f"H{px:.1f}V{py:.1f}")
            path.append(f"H{x(finish):.1f}")
            parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        else:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (moment, value), (px, py) in zip(line.points, coords):
            label = f"{line.name} — {moment_text(moment)}: {value_text(value)}"
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(label)}</title></circle>')
        row = TOP + PLOT_HEIGHT + BOTTOM + LEGEND_ROW * index + 11
        parts.append(f'<rect x="{left}" y="{row - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{left + 15}" y="{row}">{escape(line.name)}</text>')
    return Markup("".join(parts) + "</svg>")
