"""Small SVG charts drawn in Python, so the report opens offline with no script or font to fetch.

Each function returns one ``<svg>`` element (fixed viewBox, scales with the page down to a
phone's width) or, when there is nothing to draw, a short note saying so. Values arrive already
in the unit the caller chose for the axis (e.g. minutes), so every tick of an axis has one unit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

WIDTH, HEIGHT = 720, 300
MARGIN = {"left": 64, "right": 28, "top": 28, "bottom": 48}
# Beyond this many points a line is drawn without a dot per point (an hourly fortnight is 336).
MAX_DOTS = 60
PALETTE = ["#1f6feb", "#9a6700", "#8250df", "#0a7c86", "#bf3989", "#57606a"]
GOOD, BAD, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(name: str, title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
            f'xmlns="http://www.w3.org/2000/svg" {FONT}><title>{escape(title)}</title>{"".join(body)}</svg>')


def empty(reason: str) -> str:
    return f'<p class="not-available">Not available: {escape(reason)}</p>'


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def nice_axis(value: float) -> tuple[float, int]:
    """An axis maximum and tick count whose steps are round (1, 2, 2.5 or 5 times a power of
    ten) with at most five steps: 23 → 0–25 by 5, 100 → 0–100 by 25, 51.8 → 0–60 by 20."""
    value = float(value)  # DuckDB hands DECIMAL columns over as Decimal
    if value <= 0 or not math.isfinite(value):
        return 1.0, 4
    power = 10 ** math.floor(math.log10(value / 5))
    for multiple in (1, 2, 2.5, 5, 10, 20):
        step = multiple * power
        ticks = math.ceil(value / step - 1e-9)
        if ticks <= 5:
            return step * max(ticks, 1), max(ticks, 1)
    return nice_max(value), 4


def _y_axis(y_max: float, fmt: Callable[[float], str], height: int = HEIGHT, ticks: int = 4) -> list[str]:
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    out = []
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = MARGIN["top"] + plot_h * (1 - i / ticks)
        out.append(f'<line x1="{MARGIN["left"]}" x2="{WIDTH - MARGIN["right"]}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                   f'<text x="{MARGIN["left"] - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return out


def _legend(names: Sequence[str], colours: Sequence[str] | None = None) -> list[str]:
    out, x = [], MARGIN["left"]
    for i, name in enumerate(names):
        colour = colours[i] if colours else PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
        x += 28 + 11 * len(name)  # room for the larger text a phone layout uses
    return out


def number(value: float) -> str:
    """An axis tick: no decimals on a round value, one otherwise."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def line_chart(name: str, title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]],
               fmt: Callable[[float], str] = number,
               bands: dict[str, tuple[Sequence[float | None], Sequence[float | None]]] | None = None,
               y_label: str = "", x_ticks: Sequence[int] | None = None) -> str:
    """One line per series over shared x labels; ``bands`` shades a (low, high) range under a
    series; ``y_label`` names the axis unit; ``x_ticks`` picks which labels to print (default:
    about twelve evenly spaced)."""
    as_float = lambda seq: [None if v is None else float(v) for v in seq]  # noqa: E731 - Decimal columns
    series = {k: as_float(s) for k, s in series.items()}
    bands = {k: (as_float(lo), as_float(hi)) for k, (lo, hi) in (bands or {}).items()}
    values = [v for s in series.values() for v in s if v is not None]
    values += [v for lo_hi in (bands or {}).values() for part in lo_hi for v in part if v is not None]
    if not x_labels or not values:
        return empty("no data for this chart")
    y_max, y_ticks = nice_axis(max(values))
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    step = plot_w / max(len(x_labels) - 1, 1)
    x = lambda i: MARGIN["left"] + (i * step if len(x_labels) > 1 else plot_w / 2)  # noqa: E731
    y = lambda v: MARGIN["top"] + plot_h * (1 - v / y_max)  # noqa: E731
    body = _y_axis(y_max, fmt, ticks=y_ticks)
    if y_label:
        body.append(f'<text x="{MARGIN["left"] - 6}" y="{MARGIN["top"] - 12}" text-anchor="end" fill="{NEUTRAL}">{escape(y_label)}</text>')
    every = max(1, math.ceil(len(x_labels) / 12))
    ticks = x_ticks if x_ticks is not None else range(0, len(x_labels), every)
    body += [f'<text x="{x(i):.1f}" y="{HEIGHT - MARGIN["bottom"] + 16}" text-anchor="middle">{escape(x_labels[i])}</text>'
             for i in ticks if 0 <= i < len(x_labels)]
    for i, (series_name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if bands and series_name in bands:
            lo, hi = bands[series_name]
            edge = [(j, h) for j, h in enumerate(hi) if h is not None] + \
                   [(j, v) for j, v in reversed(list(enumerate(lo))) if v is not None]
            if edge:
                body.append(f'<polygon fill="{colour}" fill-opacity="0.15" points="'
                            + " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in edge) + '"/>')
        pts = [(x(j), y(v)) for j, v in enumerate(points) if v is not None]
        if len(pts) > 1:
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                        + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        if len(pts) <= MAX_DOTS or len(pts) == 1:
            body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
    body += _legend(list(series))
    return _svg(name, title, body)


def bar_chart(name: str, title: str, bars: Sequence[tuple[str, float | None]], fmt: Callable[[float], str],
              x_max: float | None = None, target: float | None = None, higher_is_better: bool | None = None) -> str:
    """Horizontal bars, one per label; an optional dashed target line. With a target and a
    direction, a bar that meets the target is green and one that misses it red; otherwise
    (e.g. lead volume, neither good nor bad) bars are neutral blue."""
    bars = [(label, value) for label, value in bars if value is not None]
    if not bars:
        return empty("no data for this chart")
    row, left = 22, 150
    height = MARGIN["top"] + row * len(bars) + 28
    top = max([v for _, v in bars] + [target or 0])
    x_max = x_max or nice_max(top)
    plot_w = WIDTH - left - 70
    body = []
    for i, (label, value) in enumerate(bars):
        y0 = MARGIN["top"] + i * row
        w = max(plot_w * value / x_max, 1)
        fill = PALETTE[0]
        if target is not None and higher_is_better is not None:
            fill = GOOD if (value >= target) == higher_is_better else BAD
        body.append(f'<text x="{left - 6}" y="{y0 + 14}" text-anchor="end">{escape(label[:20])}</text>'
                    f'<rect x="{left}" y="{y0 + 3}" width="{w:.1f}" height="{row - 6}" fill="{fill}"/>'
                    f'<text x="{left + w + 4:.1f}" y="{y0 + 14}">{escape(fmt(value))}</text>')
    if target is not None:
        tx = left + plot_w * target / x_max
        body.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{MARGIN["top"]}" y2="{height - 24}" stroke="{PALETTE[1]}" '
                    f'stroke-dasharray="4 3"/><text x="{tx:.1f}" y="{height - 10}" text-anchor="middle">target {escape(fmt(target))}</text>')

    return _svg(name, title, body, height=height)


def interval_chart(name: str, title: str, rows: Sequence[tuple[str, float | None, float | None, float | None]],
                   fmt: Callable[[float], str], reference: float | None = None) -> str:
    """A point estimate with its interval per label (e.g. conversion rate per response bucket)."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return empty("no data for this chart")
    highs = [hi for _, est, _, hi in rows if hi is not None and math.isfinite(hi)] + [est for _, est, _, _ in rows]
    y_max, y_ticks = nice_axis(max(highs + [reference or 0]))
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    slot = plot_w / len(rows)
    y = lambda v: MARGIN["top"] + plot_h * (1 - min(max(v, 0), y_max) / y_max)  # noqa: E731
    body = _y_axis(y_max, fmt, ticks=y_ticks)
    if reference is not None:
        body.append(f'<line x1="{MARGIN["left"]}" x2="{WIDTH - MARGIN["right"]}" y1="{y(reference):.1f}" '
                    f'y2="{y(reference):.1f}" stroke="{PALETTE[5]}" stroke-dasharray="4 3"/>')
    for i, (label, est, lo, hi) in enumerate(rows):
        cx = MARGIN["left"] + slot * (i + 0.5)
        if lo is not None and hi is not None:
            body.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{PALETTE[0]}" stroke-width="2"/>'
                        f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{y(lo):.1f}" y2="{y(lo):.1f}" stroke="{PALETTE[0]}"/>'
                        f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{y(hi):.1f}" y2="{y(hi):.1f}" stroke="{PALETTE[0]}"/>')
        body.append(f'<circle cx="{cx:.1f}" cy="{y(est):.1f}" r="5" fill="{PALETTE[0]}"/>'
                    f'<text x="{cx:.1f}" y="{HEIGHT - MARGIN["bottom"] + 16}" text-anchor="middle">{escape(label)}</text>'
                    f'<text x="{cx + 8:.1f}" y="{y(est) - 6:.1f}">{escape(fmt(est))}</text>')
    return _svg(name, title, body)


def heatmap(name: str, title: str, row_labels: Sequence[str], col_labels: Sequence[str],
            cells: dict[tuple[int, int], float | None], fmt: Callable[[float], str]) -> str:
    """A grid coloured from light (low) to dark (high); empty cells stay grey. A legend under the
    grid shows the colour scale with its lowest and highest value and the grey of no data."""
    values = [v for v in cells.values() if v is not None]
    if not values:
        return empty("no data for this chart")
    lo, hi = min(values), max(values)
    # Response times span seconds to days: on a linear scale one slow weekend cell would wash out
    # every weekday difference, so a wide range is coloured on a log scale (said in the legend).
    log_scale = lo > 0 and hi / lo > 20

    def position(value: float) -> float:
        if hi == lo:
            return 0.0
        if log_scale:
            return math.log(max(value, lo) / lo) / math.log(hi / lo)
        return (value - lo) / (hi - lo)

    left, top, cell_w, cell_h = 50, 24, (WIDTH - 66) / len(col_labels), 30
    grid_bottom = top + cell_h * len(row_labels)
    height = grid_bottom + 44
    body = [f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{top - 6}" text-anchor="middle">{escape(c)}</text>'
            for j, c in enumerate(col_labels)]
    for i, row in enumerate(row_labels):
        body.append(f'<text x="{left - 6}" y="{top + cell_h * i + 19:.1f}" text-anchor="end">{escape(row)}</text>')
        for j in range(len(col_labels)):
            value = cells.get((i, j))
            if value is None:
                fill, label = EMPTY_CELL, "no leads"
            else:
                fill, label = _heat(position(value)), fmt(value)
            body.append(f'<rect x="{left + cell_w * j:.1f}" y="{top + cell_h * i:.1f}" width="{cell_w - 1:.1f}" '
                        f'height="{cell_h - 1}" fill="{fill}"><title>{escape(row)} {escape(col_labels[j])}: {escape(label)}</title></rect>')
    # Legend: a ten-step ramp from the fastest to the slowest cell, then the no-data grey.
    y0, ramp_x, step_w = grid_bottom + 12, left + 90, 22
    body.append(f'<text x="{ramp_x - 6}" y="{y0 + 12}" text-anchor="end">{escape(fmt(lo))}</text>')
    body += [f'<rect x="{ramp_x + k * step_w}" y="{y0}" width="{step_w}" height="16" fill="{_heat(k / 9)}"/>' for k in range(10)]
    body.append(f'<text x="{ramp_x + 10 * step_w + 6}" y="{y0 + 12}">{escape(fmt(hi))}</text>'
                f'<rect x="{ramp_x + 10 * step_w + 110}" y="{y0}" width="16" height="16" fill="{EMPTY_CELL}"/>'
                f'<text x="{ramp_x + 10 * step_w + 132}" y="{y0 + 12}">no leads</text>'
                + (f'<text x="{ramp_x + 10 * step_w + 240}" y="{y0 + 12}" fill="{NEUTRAL}">(log scale)</text>' if log_scale else ""))
    return _svg(name, title, body, height=int(height))


EMPTY_CELL = "#eaeef2"


def _heat(share: float) -> str:
    """Colour of a heatmap cell at ``share`` (0 = lowest value, 1 = highest) of the range."""
    return f"rgb({int(255 - 200 * share)},{int(245 - 150 * share)},{int(235 - 60 * share)})"
