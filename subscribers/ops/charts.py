"""Small inline-SVG charts for reports and the operator pages: no JavaScript, no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ["#2f6f62", "#d08c2c", "#4a78b5", "#b5495b", "#7a5fb0", "#5c8a3a", "#8c6d46", "#3b9bb0", "#9a9a9a"]


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    width: int = 760,
    height: int = 260,
    colors: dict[str, str] | None = None,
) -> str:
    """Vertical stacked bars: one bar per label, one stack segment per series. A label with a
    line break is written on two lines under its bar."""
    colors = colors or {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    left, bottom, top = 48, 16 + 12 * lines, 40
    height += 12 * (lines - 1)
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    bar_w = plot_w / max(len(labels), 1)
    parts = [_title(title, width), _axis(left, top, plot_h, peak)]
    for i, label in enumerate(labels):
        y = top + plot_h
        for name, values in series.items():
            h = values[i] / peak * plot_h
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{left + i * bar_w + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{colors[name]}"><title>{escape(" ".join(label.split()))}: {escape(name)} '
                    f"{values[i]:g}</title></rect>"
                )
        if len(labels) <= 16 or i % max(len(labels) // 12, 1) == 0:
            x = left + (i + 0.5) * bar_w
            rows = "".join(f'<tspan x="{x:.1f}" dy="{0 if n == 0 else 12}">{escape(part)}</tspan>'
                           for n, part in enumerate(label.split("\n")))  # fmt: skip
            parts.append(
                f'<text x="{x:.1f}" y="{height - 10 - 12 * (lines - 1)}" font-size="10" '
                f'text-anchor="middle" fill="#5b6670">{rows}</text>'
            )
    parts.append(_legend(list(series), colors, left, width))
    return _svg(title, width, height, parts)


def horizontal_bars(
    title: str, items: Sequence[tuple[str, float]], *, width: int = 760, color: str = PALETTE[0]
) -> str:
    """One labelled horizontal bar per item (e.g. readers per lesson)."""
    row, label_w, top = 16, 290, 28
    height = top + row * len(items) + 10
    peak = max((value for _, value in items), default=0) or 1
    parts = [_title(title, width)]
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = value / peak * (width - label_w - 60)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end" fill="#1f2933">'
            f"{escape(label[:44])}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 4}" fill="{color}"></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 11}" font-size="10" fill="#5b6670">{value:g}</text>'
        )
    return _svg(title, width, height, parts)


def _svg(title: str, width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="100%" style="max-width:{width}px;font-family:system-ui,Arial,sans-serif">'
        + "".join(parts)
        + "</svg>"
    )


def _title(title: str, width: int) -> str:
    return f'<text x="4" y="16" font-size="13" font-weight="bold" fill="#14332d">{escape(title)}</text>'


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _axis(left: int, top: int, plot_h: float, peak: float) -> str:
    ticks = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        ticks.append(
            f'<line x1="{left}" x2="100%" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3ded5"></line>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#5b6670">'
            f"{_number(peak * fraction)}</text>"
        )
    return "".join(ticks)


def _legend(names: list[str], colors: dict[str, str], left: int, width: int) -> str:
    items, x = [], left
    for name in names:
        items.append(
            f'<rect x="{x}" y="20" width="10" height="10" fill="{colors[name]}"></rect>'
            f'<text x="{x + 14}" y="29" font-size="11" fill="#1f2933">{escape(name)}</text>'
        )
        x += 22 + 7 * len(name)
        if x > width - 80:
            break
    return "".join(items)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    width: int = 760,
    height: int = 240,
    colors: dict[str, str] | None = None,
) -> str:
    """One line per series over the labels (e.g. emails per day), on a shared axis from zero."""
    colors = colors or {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    left, bottom, top = 48, 28, 40
    plot_w, plot_h = width - left - 16, height - bottom - top
    peak = max((v for values in series.values() for v in values), default=0) or 1
    step = plot_w / max(len(labels) - 1, 1)
    parts = [_title(title, width), _axis(left, top, plot_h, peak)]
    for name, values in series.items():
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - value / peak * plot_h:.1f}" for i, value in enumerate(values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colors[name]}" stroke-width="2" '
            f'stroke-linejoin="round"><title>{escape(name)}: {sum(values):g} in all</title></polyline>'
        )
    every = max(len(labels) // 10, 1)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{height - 10}" font-size="10" text-anchor="middle" '
                f'fill="#5b6670">{escape(label)}</text>'
            )
    parts.append(_legend(list(series), colors, left, width))
    return _svg(title, width, height, parts)


def donut(
    title: str, items: Sequence[tuple[str, float]], *, size: int = 220, colors: dict[str, str] | None = None
) -> str:
    """Shares of a whole as a ring, with a legend of counts beside it (e.g. readers by status)."""
    colors = colors or {label: PALETTE[i % len(PALETTE)] for i, (label, _) in enumerate(items)}
    total = sum(value for _, value in items)
    width, radius, cx, cy = size + 200, size * 0.32, size / 2, size / 2 + 14
    circumference = 2 * 3.141592653589793 * radius
    parts = [_title(title, width)]
    offset = 0.0
    for label, value in items:
        if value <= 0 or total == 0:
            continue
        length = value / total * circumference
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" fill="none" stroke="{colors[label]}" '
            f'stroke-width="{radius * 0.55:.1f}" stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {cx:.1f} {cy:.1f})">'
            f"<title>{escape(label)}: {value:g}</title></circle>"
        )
        offset += length
    parts.append(
        f'<text x="{cx:.1f}" y="{cy + 6:.1f}" font-size="18" font-weight="bold" text-anchor="middle" '
        f'fill="#14332d">{total:,.0f}</text>'
    )
    for i, (label, value) in enumerate(items):
        y = 40 + i * 20
        share = f"{value / total:.0%}" if total else "-"
        parts.append(
            f'<rect x="{size + 4}" y="{y - 10}" width="11" height="11" fill="{colors[label]}"></rect>'
            f'<text x="{size + 20}" y="{y}" font-size="12" fill="#1f2933">{escape(label)}: {value:,.0f} '
            f'<tspan fill="#5b6670">({share})</tspan></text>'
        )
    height = max(size + 20, 40 + len(items) * 20)
    return _svg(title, width, height, parts)
