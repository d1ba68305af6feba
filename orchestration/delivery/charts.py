"""Small SVG charts drawn in Python, so the report opens offline with no script or font to fetch.

Each function returns one ``<svg>`` element (fixed viewBox, scales with the page) or, when there
is nothing to draw, a short note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

WIDTH, HEIGHT = 720, 300
MARGIN = {"left": 64, "right": 16, "top": 16, "bottom": 48}
PALETTE = ["#1f6feb", "#d1242f", "#2da44e", "#9a6700", "#8250df", "#57606a"]
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


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


def _y_axis(y_max: float, fmt: Callable[[float], str], height: int = HEIGHT, ticks: int = 4) -> list[str]:
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    out = []
    for i in range(ticks + 1):
        value = y_max * i / ticks
        y = MARGIN["top"] + plot_h * (1 - i / ticks)
        out.append(f'<line x1="{MARGIN["left"]}" x2="{WIDTH - MARGIN["right"]}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                   f'<text x="{MARGIN["left"] - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out, x = [], MARGIN["left"]
    for i, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def line_chart(name: str, title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]],
               fmt: Callable[[float], str], bands: dict[str, tuple[Sequence[float | None], Sequence[float | None]]] | None = None) -> str:
    """One line per series over shared x labels; ``bands`` shades a (low, high) range under a series."""
    values = [v for s in series.values() for v in s if v is not None]
    values += [v for lo_hi in (bands or {}).values() for part in lo_hi for v in part if v is not None]
    if not x_labels or not values:
        return empty("no data for this chart")
    y_max = nice_max(max(values))
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    step = plot_w / max(len(x_labels) - 1, 1)
    x = lambda i: MARGIN["left"] + (i * step if len(x_labels) > 1 else plot_w / 2)  # noqa: E731
    y = lambda v: MARGIN["top"] + plot_h * (1 - v / y_max)  # noqa: E731
    body = _y_axis(y_max, fmt)
    every = max(1, math.ceil(len(x_labels) / 12))
    body += [f'<text x="{x(i):.1f}" y="{HEIGHT - MARGIN["bottom"] + 16}" text-anchor="middle">{escape(label)}</text>'
             for i, label in enumerate(x_labels) if i % every == 0]
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
        body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in pts]
    body += _legend(list(series))
    return _svg(name, title, body)


def bar_chart(name: str, title: str, bars: Sequence[tuple[str, float | None]], fmt: Callable[[float], str],
              x_max: float | None = None, target: float | None = None) -> str:
    """Horizontal bars, one per label; an optional dashed target line."""
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
        body.append(f'<text x="{left - 6}" y="{y0 + 14}" text-anchor="end">{escape(label[:24])}</text>'
                    f'<rect x="{left}" y="{y0 + 3}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}"/>'
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
    y_max = nice_max(max(highs + [reference or 0]))
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    slot = plot_w / len(rows)
    y = lambda v: MARGIN["top"] + plot_h * (1 - min(max(v, 0), y_max) / y_max)  # noqa: E731
    body = _y_axis(y_max, fmt)
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
    """A grid coloured from light (low) to dark (high); empty cells stay grey."""
    values = [v for v in cells.values() if v is not None]
    if not values:
        return empty("no data for this chart")
    lo, hi = min(values), max(values)
    left, top, cell_w, cell_h = 40, 24, (WIDTH - 56) / len(col_labels), 30
    height = top + cell_h * len(row_labels) + 10
    body = [f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{top - 6}" text-anchor="middle">{escape(c)}</text>'
            for j, c in enumerate(col_labels)]
    for i, row in enumerate(row_labels):
        body.append(f'<text x="{left - 6}" y="{top + cell_h * i + 19:.1f}" text-anchor="end">{escape(row)}</text>')
        for j in range(len(col_labels)):
            value = cells.get((i, j))
            if value is None:
                fill, label = "#eaeef2", "no leads"
            else:
                share = 0.0 if hi == lo else (value - lo) / (hi - lo)
                fill, label = f"rgb({int(255 - 200 * share)},{int(245 - 150 * share)},{int(235 - 60 * share)})", fmt(value)
            body.append(f'<rect x="{left + cell_w * j:.1f}" y="{top + cell_h * i:.1f}" width="{cell_w - 1:.1f}" '
                        f'height="{cell_h - 1}" fill="{fill}"><title>{escape(row)} {escape(col_labels[j])}: {escape(label)}</title></rect>')
    return _svg(name, title, body, height=int(height))
