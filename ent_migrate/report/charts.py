"""Inline SVG charts, computed in Python as plain shapes that the template writes out as elements.

No JavaScript and no chart library: the HTML report must open from a USB stick on a school's locked-down
PC years later, and print. Geometry is done here (integers and one-decimal floats, so the same counts
always give the same bytes); the template only escapes labels and emits ``<rect>`` and ``<text>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

__all__ = ["Chart", "Rect", "Text", "bar_chart", "stacked_chart"]

_LABEL_W = 190  # room for the row labels on the left
_BAR_W = 520
_ROW_H = 26
_BAR_H = 18
_VALUE_W = 90  # room for the figure right of the longest bar
_MAX_ROWS = 30  # schools beyond this are in the table, not the chart: a chart of 400 bars says nothing


@dataclasses.dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str


@dataclasses.dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor
    css: str = ""  # class name in the page's style sheet


@dataclasses.dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    rects: list[Rect]
    texts: list[Text]
    omitted: int = 0  # rows not drawn (over the row cap)


def _scale(value: int, largest: int) -> float:
    if largest <= 0 or value <= 0:
        return 0.0
    # At least one pixel so that a single difference among millions stays visible.
    return max(1.0, round(value * _BAR_W / largest, 1))


def bar_chart(title: str, rows: Sequence[tuple[str, int, str]]) -> Chart:
    """Horizontal bars: one ``(label, value, colour)`` per row."""
    rects: list[Rect] = []
    texts: list[Text] = []
    largest = max((value for _, value, _ in rows), default=0)
    for i, (label, value, colour) in enumerate(rows):
        y = 8 + i * _ROW_H
        width = _scale(value, largest)
        rects.append(Rect(_LABEL_W, y, width, _BAR_H, colour, f"{label} : {value}"))
        texts.append(Text(_LABEL_W - 8, y + 13, label, "end", "lbl"))
        texts.append(Text(_LABEL_W + width + 6, y + 13, f"{value:,}".replace(",", "\u202f"), "start", "val"))
    height = 16 + max(1, len(rows)) * _ROW_H
    return Chart(title, _LABEL_W + _BAR_W + _VALUE_W, height, rects, texts)


def stacked_chart(
    title: str,
    rows: Mapping[str, Mapping[str, int]],
    series: Sequence[tuple[str, str, str]],
) -> Chart:
    """One horizontal stacked bar per row (e.g. a school), one segment per ``(series, label, colour)``.

    Rows are sorted by total, largest first, then by name so that ties are stable; beyond the row cap
    they are counted in ``omitted``. Series present in the data but not in ``series`` are drawn grey.
    """
    known = {name for name, _, _ in series}
    extra = sorted({name for counts in rows.values() for name in counts} - known)
    all_series = [*series, *((name, name, "#9e9e9e") for name in extra)]
    ordered = sorted(rows.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    shown = ordered[:_MAX_ROWS]
    largest = max((sum(counts.values()) for _, counts in shown), default=0)
    rects: list[Rect] = []
    texts: list[Text] = []
    legend_y = 14
    x = float(_LABEL_W)
    for _, label, colour in all_series:
        rects.append(Rect(x, legend_y - 10, 12, 12, colour, label))
        texts.append(Text(x + 16, legend_y, label, "start", "lbl"))
        x += 24 + 7.5 * len(label)
    for i, (name, counts) in enumerate(shown):
        y = 30 + i * _ROW_H
        x = float(_LABEL_W)
        total = 0
        for key, label, colour in all_series:
            value = counts.get(key, 0)
            if value <= 0:
                continue
            total += value
            width = _scale(value, largest)
            rects.append(Rect(round(x, 1), y, width, _BAR_H, colour, f"{name} — {label} : {value}"))
            x += width
        texts.append(Text(_LABEL_W - 8, y + 13, name, "end", "lbl"))
        texts.append(Text(round(x + 6, 1), y + 13, f"{total:,}".replace(",", "\u202f"), "start", "val"))
    height = 38 + max(1, len(shown)) * _ROW_H
    width = _LABEL_W + _BAR_W + _VALUE_W
    return Chart(title, width, height, rects, texts, omitted=len(ordered) - len(shown))
