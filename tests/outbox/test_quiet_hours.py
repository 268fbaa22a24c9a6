"""Quiet hours in Africa/Bamako: deferred to the next opening, never dropped; stale messages
cancelled, never sent late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from outreach.db import unit_of_work
from outreach.outbox import service
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage, Priority
from outreach.outbox.windows import parse_window, window_state
from outreach.timeutil import utcnow

BAMAKO = ZoneInfo("Africa/Bamako")
TOMORROW = (utcnow() + timedelta(days=1)).date()


def _at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """A moment on a fixed future day, Bamako time, as an aware UTC datetime."""
    local = datetime.combine(TOMORROW + timedelta(days=days), datetime.min.time(), BAMAKO)
    return local.replace(hour=hour, minute=minute).astimezone(UTC)


def _enqueue(
    db: Session, key: str, *, kind: str = MessageKind.REMINDER, expires_at: datetime | None = None
) -> int:
    priority = Priority.INTERACTIVE if kind == MessageKind.REPLY else Priority.REMINDER
    message = service.enqueue(
        db,
        dedupe_key=key,
        to_number="+22370123456",
        body="Rappel: vaccination demain matin au CSCom.",
        kind=kind,
        priority=priority,
        expires_at=expires_at,
    )
    db.commit()
    assert message.id is not None
    return message.id


def _message(db: Session, message_id: int) -> OutboundMessage:
    db.expire_all()
    message = db.get(OutboundMessage, message_id)
    assert message is not None
    return message


def _claim(now: datetime) -> list[int]:
    with unit_of_work() as session:
        return [c.message_id for c in service.claim_due(session, owner="w", limit=10, now=now)]


def _sweep(now: datetime) -> service.SweepResult:
    with unit_of_work() as session:
        return service.sweep(session, now=now)


@pytest.mark.parametrize(
    ("spec", "hour", "minute", "is_open"),
    [
        ("08:00-20:00", 7, 59, False),
        ("08:00-20:00", 8, 0, True),
        ("08:00-20:00", 19, 59, True),
        ("08:00-20:00", 20, 0, False),
        ("20:00-06:00", 23, 0, True),
        ("20:00-06:00", 0, 30, True),
        ("20:00-06:00", 5, 59, True),
        ("20:00-06:00", 6, 0, False),
        ("00:00-24:00", 3, 0, True),
    ],
)
def test_window_is_open(spec, hour, minute, is_open) -> None:
    # Given a window, When we ask about a local time, Then it answers as a clock would
    local = _at(hour, minute).astimezone(BAMAKO)
    assert parse_window(spec).is_open(local) is is_open


def test_next_opening_crosses_midnight() -> None:
    # Given the default window
    window = parse_window("08:00-20:00")
    # When it is 23:30, then 00:30 the next night
    late = window.next_opening(_at(23, 30).astimezone(BAMAKO))
    early = window.next_opening(_at(0, 30, days=1).astimezone(BAMAKO))
    # Then both open at 08:00 the next morning
    assert late == early == _at(8, 0, days=1)
    # and a window across midnight opens the same evening
    assert parse_window("22:00-02:00").next_opening(_at(3, 0).astimezone(BAMAKO)) == _at(22, 0)


@pytest.mark.parametrize("spec", ["8-20", "08:00", "25:00-26:00", "08:61-09:00"])
def test_bad_window_is_refused(spec) -> None:
    # Given a window that is not HH:MM-HH:MM, When it is read, Then it is refused
    with pytest.raises(ValueError, match="send window"):
        parse_window(spec)


def test_a_reminder_due_at_night_is_deferred_to_the_morning(db, settings_env) -> None:
    # Given the default window and a reminder due now, evaluated at 23:00 Bamako
    settings_env(send_window="08:00-20:00")
    reminder = _enqueue(db, "reminder:night")
    night = _at(23, 0)
    # When a worker looks for work, then the sweeper runs
    claimed = _claim(night)
    result = _sweep(night)
    # Then nothing is sent at night and the reminder waits for 08:00 the next morning
    assert claimed == []
    assert result.deferred == 1 and not result.due
    message = _message(db, reminder)
    assert message.status == MessageStatus.DEFERRED and message.due_at == _at(8, 0, days=1)
    # When morning comes after midnight, still before 08:00, it still waits
    assert _claim(_at(7, 59, days=1)) == []
    # Then at the opening it is claimed: deferred, never dropped
    assert _claim(_at(8, 0, days=1)) == [reminder]


def test_replies_are_not_held_by_quiet_hours(db, settings_env) -> None:
    # Given the default windows (replies: always) and a reply due at 23:00
    settings_env(send_window="08:00-20:00")
    reminder = _enqueue(db, "reminder:night")
    reply = _enqueue(db, "reply:night", kind=MessageKind.REPLY)
    # When a worker claims at night
    claimed = _claim(_at(23, 0))
    # Then the reply goes at once and the reminder does not
    assert claimed == [reply]
    assert _message(db, reminder).status == MessageStatus.QUEUED


def test_a_kind_can_have_its_own_window(db, settings_env) -> None:
    # Given reminders allowed until 21:00 while everything else stops at 20:00
    settings_env(send_window="08:00-20:00", send_window_by_kind='{"reminder": "07:00-21:00"}')
    reminder = _enqueue(db, "reminder:evening")
    programme = _enqueue(db, "programme:evening", kind=MessageKind.PROGRAMME)
    # When the sweeper and a worker run at 20:30
    _sweep(_at(20, 30))
    claimed = _claim(_at(20, 30))
    # Then the reminder is sent and the programme message waits for 08:00
    assert claimed == [reminder]
    message = _message(db, programme)
    assert message.status == MessageStatus.DEFERRED and message.due_at == _at(8, 0, days=1)
    state = window_state(_at(6, 30, days=1))
    assert not state.is_open("reminder") and state.opening("reminder") == _at(7, 0, days=1)


def test_a_reminder_whose_moment_passes_overnight_is_cancelled(db, settings_env) -> None:
    # Given a reminder valid until 06:00 (say, a dawn vaccination session), due at 23:00
    settings_env(send_window="08:00-20:00")
    stale = _enqueue(db, "reminder:stale", expires_at=_at(6, 0, days=1))
    fine = _enqueue(db, "reminder:fine", expires_at=_at(12, 0, days=1))
    # When the sweeper runs at night
    result = _sweep(_at(23, 0))
    # Then the one that would only go out after its moment is cancelled, not sent late
    assert result.deferred == 1
    message = _message(db, stale)
    assert message.status == MessageStatus.CANCELLED
    assert message.failure_reason == "no_longer_due" and message.final_at is not None
    assert _message(db, fine).status == MessageStatus.DEFERRED


def test_an_expired_message_is_cancelled_even_in_the_window(db) -> None:
    # Given a deferred reminder whose appointment ended an hour ago
    stale = _enqueue(db, "reminder:over", expires_at=utcnow() - timedelta(hours=1))
    # When the sweeper runs
    result = _sweep(utcnow())
    # Then it is cancelled, and never claimed
    assert result.cancelled == 1
    assert _message(db, stale).status == MessageStatus.CANCELLED
    assert _claim(utcnow()) == []
