"""Geometry for the dashboard's inline SVG charts (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass

from outreach.reports.service import DailyStatus


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    display: str
    # Share of the longest bar, 0-100.
    width: float


def bars(rows: list[tuple[str, float, str]]) -> list[Bar]:
    """Horizontal bars scaled to the largest value."""
    top = max((v for _, v, _ in rows), default=0) or 1
    return [
        Bar(label=label, value=v, display=d, width=round(100 * v / top, 2)) for label, v, d in rows
    ]


@dataclass(frozen=True, slots=True)
class Segment:
    status: str
    y: float
    height: float
    count: int


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    x: float
    total: int
    segments: list[Segment]


# Chart box in SVG user units; the SVG scales to its container.
COLUMN_CHART_HEIGHT = 120.0
COLUMN_WIDTH = 10.0


def stacked_columns(daily: DailyStatus) -> list[Column]:
    """One column per day, stacked by status, scaled to the busiest day."""
    top = max((daily.day_total(d) for d in daily.days), default=0) or 1
    columns = []
    for i, day in enumerate(daily.days):
        y = COLUMN_CHART_HEIGHT
        segments = []
        for status in daily.statuses:
            count = daily.counts.get((day, status), 0)
            if not count:
                continue
            height = COLUMN_CHART_HEIGHT * count / top
            y -= height
            segments.append(
                Segment(status=status, y=round(y, 2), height=round(height, 2), count=count)
            )
        columns.append(
            Column(
                label=day.strftime("%d/%m"),
                x=i * COLUMN_WIDTH,
                total=daily.day_total(day),
                segments=segments,
            )
        )
    return columns
