"""Small vector charts drawn straight onto an fpdf2 page: bars over days, horizontal bars for shares.

Drawn with rectangles, lines and text rather than a plotting library so the bulletin stays vector (sharp when
printed and faxed on), needs no matplotlib in the service's image, and uses the bulletin's own CJK font for
every label. Only what a monthly bulletin needs: one series, axis ticks at round numbers, readable at A4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpdf import FPDF

RGB = tuple[int, int, int]
BAR: RGB = (52, 101, 164)
ACCENT: RGB = (214, 96, 39)
GRID: RGB = (222, 222, 222)
AXIS: RGB = (120, 120, 120)
INK: RGB = (40, 40, 40)
MUTED: RGB = (110, 110, 110)


def nice_ticks(maximum: float, count: int = 5, *, integers: bool = True) -> list[float]:
    """Ticks from 0 to at least `maximum` at a round step (1, 2 or 5 × 10ⁿ), about `count` of them.

    Counts are whole numbers, so with `integers` the step is never below 1 (no "0.5 alerts" tick).
    """
    if not math.isfinite(maximum) or maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= raw)
    if integers:
        step = max(1.0, float(round(step)))
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def tick_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True, slots=True)
class _Font:
    family: str
    style: str
    size: float


def _keep_font(pdf: FPDF) -> _Font:
    return _Font(pdf.font_family, pdf.font_style, pdf.font_size_pt)


def _restore(pdf: FPDF, font: _Font) -> None:
    pdf.set_font(font.family, font.style, font.size)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(0, 0, 0)


def _text(pdf: FPDF, x: float, y: float, w: float, h: float, text: str, align: str) -> None:
    """`text` centred vertically in the box (x, y, w, h), aligned "L", "C" or "R"; drawn at a fixed place, so it
    never moves the page's cursor nor starts a new page."""
    width = pdf.get_string_width(text)
    left = x + (w - width) / 2 if align == "C" else x + w - width if align == "R" else x
    pdf.text(left, y + h / 2 + pdf.font_size * 0.35, text)


def bar_chart(pdf: FPDF, x: float, y: float, w: float, h: float, values: Sequence[float], labels: Sequence[str],
              *, color: RGB = BAR, show_values: bool = True) -> None:
    """Vertical bars, one per value, in the box (x, y, w, h): a y axis with round ticks and light grid lines,
    and the x labels thinned so they never overlap."""
    font = _keep_font(pdf)
    pdf.set_font(font.family, "", 6)
    axis_w, label_h = 9.0, 4.0
    left, right, top, bottom = x + axis_w, x + w, y + 2.5, y + h - label_h
    ticks = nice_ticks(max(values, default=0))
    scale = (bottom - top) / ticks[-1]
    pdf.set_line_width(0.15)
    for tick in ticks:
        ty = bottom - tick * scale
        pdf.set_draw_color(*(GRID if tick else AXIS))
        pdf.line(left, ty, right, ty)
        pdf.set_text_color(*MUTED)
        _text(pdf, x, ty - 1.5, axis_w - 1, 3, tick_text(tick), "R")
    n = max(1, len(values))
    slot = (right - left) / n
    bar_w = slot * 0.72
    pdf.set_fill_color(*color)
    for index, value in enumerate(values):
        if value > 0:
            bx = left + index * slot + (slot - bar_w) / 2
            pdf.rect(bx, bottom - value * scale, bar_w, value * scale, style="F")
    widest = max((pdf.get_string_width(label) for label in labels), default=0.0) + 0.8
    every = max(1, math.ceil(widest / slot))
    pdf.set_text_color(*MUTED)
    for index, label in enumerate(labels):
        if index % every == 0:
            box_x = min(max(left + index * slot - (every * slot - slot) / 2, x), right - every * slot)
            _text(pdf, box_x, bottom + 0.5, every * slot, 3, label, "C")
    value_w = max((pdf.get_string_width(tick_text(v)) for v in values), default=0.0)
    if show_values and values and value_w + 0.5 <= slot:
        pdf.set_font(font.family, "", 5)
        pdf.set_text_color(*INK)
        for index, value in enumerate(values):
            if value > 0:
                _text(pdf, left + index * slot, bottom - value * scale - 3, slot, 3, tick_text(value), "C")
    _restore(pdf, font)


def hbar_chart(pdf: FPDF, x: float, y: float, w: float, rows: Sequence[tuple[str, float, str]], *,
               row_h: float = 5.5, label_w: float = 28.0, text_w: float = 26.0, maximum: float | None = None,
               color: RGB = BAR, fit: Callable[[str, float], str] | None = None) -> float:
    """Horizontal bars, one row per (label, value, text): the label on the left, the bar scaled to `maximum`
    (default: the largest value), the text (count, share) after the bar. Returns the height drawn."""
    font = _keep_font(pdf)
    pdf.set_font(font.family, "", 8)
    top = max([value for _, value, _ in rows] + [maximum or 0.0]) or 1.0
    bar_left, bar_w = x + label_w, w - label_w - text_w
    pdf.set_line_width(0.15)
    pdf.set_draw_color(*AXIS)
    pdf.line(bar_left, y, bar_left, y + row_h * len(rows))
    for index, (label, value, text) in enumerate(rows):
        ry = y + index * row_h
        pdf.set_text_color(*INK)
        shown = fit(label, label_w - 1.5) if fit is not None else label
        _text(pdf, x, ry, label_w - 1.5, row_h, shown, "R")
        length = max(0.0, bar_w * value / top)
        if length > 0:
            pdf.set_fill_color(*color)
            pdf.rect(bar_left, ry + row_h * 0.18, length, row_h * 0.64, style="F")
        pdf.set_text_color(*MUTED)
        _text(pdf, bar_left + length + 1.2, ry, text_w + bar_w - length, row_h, text, "L")
    _restore(pdf, font)
    return row_h * len(rows)
