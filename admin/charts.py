"""Small line charts drawn as inline SVG on the server: no script, no library, readable on a phone.

Every text that goes into the SVG is escaped here; the result is Markup that templates insert as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

from markupsafe import Markup, escape

# Okabe–Ito: told apart by people with the common colour-vision deficiencies, and in daylight on a phone.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH, PLOT_HEIGHT = 360, 120
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 10, 22
LEGEND_ROW = 16


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and (moment, value) points in time order."""

    name: str
    points: Sequence[tuple[datetime, float]]


def _ticks(low: float, high: float) -> list[float]:
    return [low, (low + high) / 2, high]


def line_chart(series: Sequence[Series], *, title: str, end: datetime | None = None, step: bool = False,
               from_zero: bool = True, value_text: Callable[[float], str] = lambda v: f"{v:g}",
               moment_text: Callable[[datetime], str] = lambda m: m.date().isoformat()) -> Markup:
    """An SVG line chart; `step` holds each value until the next (stock levels) and up to `end`."""
    drawn = [line for line in series if line.points][:len(PALETTE)]
    height = TOP + PLOT_HEIGHT + BOTTOM + LEGEND_ROW * len(drawn)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    if not drawn:
        return Markup("".join(parts) + "</svg>")
    moments = [moment for line in drawn for moment, _ in line.points]
    values = [value for line in drawn for _, value in line.points]
    start, finish = min(moments), max(moments + ([end] if end else []))
    if finish <= start:
        finish = start + timedelta(days=1)
    low = 0.0 if from_zero else min(values) * 0.9
    high = max(values) * 1.1 if max(values) > low else low + 1

    def x(moment: datetime) -> float:
        return LEFT + (moment - start) / (finish - start) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT - (value - low) / (high - low) * PLOT_HEIGHT

    for tick in _ticks(low, high):
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                     f'<text class="axis" x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                     f'{escape(value_text(tick))}</text>')
    axis_y = TOP + PLOT_HEIGHT + 15
    parts.append(f'<text class="axis" x="{LEFT}" y="{axis_y}">{escape(moment_text(start))}</text>'
                 f'<text class="axis" x="{WIDTH - RIGHT}" y="{axis_y}" text-anchor="end">'
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
        parts.append(f'<rect x="{LEFT}" y="{row - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{LEFT + 15}" y="{row}">{escape(line.name)}</text>')
    return Markup("".join(parts) + "</svg>")
