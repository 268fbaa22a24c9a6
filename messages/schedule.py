"""When programme messages are due: pure functions of (anchor date, programme, day).

The anchor is the expected delivery date (EDD) for a pregnancy and the date of birth
for an infant. A message due on day D falls at `anchor + offset_days`. Re-running a
day therefore never changes what is due.

A woman who starts (or resumes) late starts at her current stage: what fell due in
the `LATE_WINDOW_DAYS` before her start is sent on her start day, anything older is
skipped, so she never receives a flood of back messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from messages.texts import Message

# One message is due every week of these ranges (the validator's "no gaps" rule).
CADENCE: dict[str, range] = {
    # Pregnancy week 8 (first antenatal contact) through the EDD.
    "pregnancy": range(8, 41),
    # Birth through 24 months (week 104).
    "infant": range(0, 105),
}
# Weeks a message may be due at; pregnancy goes on past the EDD until week 42.
ALLOWED_WEEKS: dict[str, range] = {
    "pregnancy": range(8, 43),
    "infant": range(0, 105),
}
MAX_PER_WEEK = 2
LATE_WINDOW_DAYS = 6


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """A programme message's place in its schedule."""

    offset_days: int
    programme: str
    key: str


def programme_week(programme: str, offset_days: int) -> int:
    """The pregnancy week, or the infant's age in weeks, at `offset_days` from the anchor."""
    if programme == "pregnancy":
        return 40 + offset_days // 7
    return offset_days // 7


def stage_week(programme: str, *, anchor: date, day: date) -> int:
    """The pregnancy week, or the infant's age in completed weeks, on `day`."""
    return programme_week(programme, (day - anchor).days)


def anchor_for_week(programme: str, *, week: int, day: date) -> date:
    """The anchor date of someone at the first day of `week` on `day`."""
    if programme == "pregnancy":
        return day + timedelta(weeks=40 - week)
    return day - timedelta(weeks=week)


def slots(messages: Iterable[Message], *, include_drafts: bool) -> list[Slot]:
    """The sendable schedule: approved programme messages, and drafts when allowed."""
    return sorted(
        Slot(m.offset_days, m.programme, m.key)
        for m in messages
        if m.offset_days is not None and (m.approved or include_drafts)
    )


def send_day(*, anchor: date, offset_days: int, start: date) -> date | None:
    """The day a message is sent to an enrollment that started on `start`, or None if skipped."""
    due = anchor + timedelta(days=offset_days)
    if due >= start:
        return due
    if due >= start - timedelta(days=LATE_WINDOW_DAYS):
        return start
    return None


def due_on(
    schedule: Iterable[Slot], *, programme: str, anchor: date, day: date, start: date
) -> list[Slot]:
    """The messages an enrollment receives on `day`."""
    return [
        slot
        for slot in schedule
        if slot.programme == programme
        and send_day(anchor=anchor, offset_days=slot.offset_days, start=start) == day
    ]


def current(schedule: Iterable[Slot], *, programme: str, anchor: date, day: date) -> Slot | None:
    """The latest message already due on `day` (what "advice again" repeats)."""
    offset = (day - anchor).days
    past = [s for s in schedule if s.programme == programme and s.offset_days <= offset]
    return max(past) if past else None


def last_offset(schedule: Iterable[Slot], *, programme: str) -> int | None:
    """The offset of a programme's last message; after it the enrollment is complete."""
    offsets = [s.offset_days for s in schedule if s.programme == programme]
    return max(offsets) if offsets else None
