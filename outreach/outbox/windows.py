"""Quiet hours: when each kind of message may reach a phone, in the programme's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from outreach.config import get_settings

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Minutes after local midnight; `end` may be smaller than `start` (crosses midnight)."""

    start: int
    end: int

    @property
    def always_open(self) -> bool:
        return self.start == self.end or (self.start == 0 and self.end == _DAY)

    def is_open(self, local: datetime) -> bool:
        if self.always_open:
            return True
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def next_opening(self, local: datetime) -> datetime:
        """The first moment at or after `local` when the window is open (same time zone)."""
        if self.is_open(local):
            return local
        opening = time(self.start // 60, self.start % 60)
        today = datetime.combine(local.date(), opening, tzinfo=local.tzinfo)
        return today if today > local else today + timedelta(days=1)


def parse_window(spec: str) -> SendWindow:
    """Read "08:00-20:00" (or "20:00-06:00" across midnight, "00:00-24:00" for always)."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"send window {spec!r}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start >= _DAY or end > _DAY:
        raise ValueError(f"send window {spec!r}: not a time of day")
    return SendWindow(start=start, end=end)


@dataclass(frozen=True, slots=True)
class WindowState:
    """Which kinds may be sent right now, and when the closed ones open again (UTC)."""

    default_open: bool
    default_opening: datetime
    # Kinds with their own window: whether it is open, and its next opening.
    overrides: dict[str, tuple[bool, datetime]]

    @property
    def open_overrides(self) -> list[str]:
        return sorted(kind for kind, (is_open, _) in self.overrides.items() if is_open)

    @property
    def closed_overrides(self) -> list[str]:
        return sorted(kind for kind, (is_open, _) in self.overrides.items() if not is_open)

    def is_open(self, kind: str) -> bool:
        if kind in self.overrides:
            return self.overrides[kind][0]
        return self.default_open

    def opening(self, kind: str) -> datetime:
        if kind in self.overrides:
            return self.overrides[kind][1]
        return self.default_opening


def window_state(now: datetime) -> WindowState:
    """Evaluate every configured window at `now` (an aware datetime)."""
    settings = get_settings()
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)

    def evaluate(spec: str) -> tuple[bool, datetime]:
        window = parse_window(spec)
        return window.is_open(local), window.next_opening(local).astimezone(UTC)

    default_open, default_opening = evaluate(settings.send_window)
    overrides = {kind: evaluate(spec) for kind, spec in settings.send_window_by_kind.items()}
    return WindowState(default_open, default_opening, overrides)
