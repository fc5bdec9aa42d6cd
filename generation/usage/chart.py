"""The monthly chart's geometry: bars and grid lines in SVG user units, from the months' totals.

Computed here, not in the template, so the template needs no arithmetic or inline styles. No queries:
the months come from `totals.monthly`.

The SVG holds only shapes; it stretches to its box (`preserveAspectRatio="none"`, strokes that do not
scale). Its labels (the amounts of the grid lines, the months) are HTML beside and below it, so they keep
their CSS size at any width: SVG text scales with the viewBox, and at 390 px a 720-unit chart drew 12 px
labels 8 px high. The grid lines sit at fixed fractions of the height (bottom, middle, top, `TICK_AT`),
where the stylesheet puts their labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from generation.money import format_usd
from generation.usage.totals import Month


@dataclass(frozen=True)
class Bar:
    month: Month
    x: int
    y: int
    width: int
    height: int
    label_x: int


@dataclass(frozen=True)
class Chart:
    """Bar geometry in SVG user units, computed here so the template needs no arithmetic or styles."""

    bars: list[Bar]
    ticks: list[tuple[int, str]]  # (y, label) of horizontal grid lines: bottom, middle, top
    width: int = 720
    height: int = 200
    left: int = 0
    # 4% of the height above and below: the labels of the top and bottom lines are centred on them
    # (half a 16 px line at the stylesheet's 12rem chart height).
    bottom: int = 8
    top: int = 8

    @property
    def base_y(self) -> int:
        return self.height - self.bottom


def _nice_ceiling(amount_nanousd: int) -> int:
    """Return the smallest 1, 2 or 5 × 10^k nano-dollars (at least one cent) not below `amount`."""
    step = 10_000_000
    while True:
        for factor in (1, 2, 5):
            if step * factor >= amount_nanousd:
                return step * factor
        step *= 10


def chart(months: list[Month]) -> Chart:
    """Return the bars and grid lines of the monthly chart."""
    geometry = Chart(bars=[], ticks=[])
    plot_height = geometry.base_y - geometry.top
    top = _nice_ceiling(max((m.total.amount_nanousd for m in months), default=0))
    slot = (geometry.width - geometry.left) // max(len(months), 1)
    bars = []
    for i, month in enumerate(months):
        height = month.total.amount_nanousd * plot_height // top
        if month.total.amount_nanousd and height < 2:
            height = 2  # a month with any spend stays visible
        x = geometry.left + i * slot + slot // 6
        width = slot - slot // 3
        bars.append(Bar(month, x, geometry.base_y - height, width, height, x + width // 2))
    ticks = [(geometry.base_y - plot_height * k // 2, format_usd(top * k // 2)) for k in range(3)]
    return replace(geometry, bars=bars, ticks=ticks)
