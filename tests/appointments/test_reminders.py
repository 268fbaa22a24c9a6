"""Reminder planning: timing, quiet hours, midnight, validity at planning and at send time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from appointments_helpers import reminders
from sqlmodel import select

from outreach.appointments import planning
from outreach.appointments import service as appointments_service
from outreach.appointments.models import Appointment, AppointmentStatus
from outreach.config import get_settings
from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.outbox.windows import parse_window
from outreach.timeutil import local_today

BAMAKO = ZoneInfo("Africa/Bamako")


def _slot(spec: str, name: str = "eve") -> planning.Slot:
    return planning.parse_slot(name, spec)


def test_evening_before_and_same_morning_by_default() -> None:
    # Given the default slots and quiet hours 08:00-20:00 in Bamako
    quiet = parse_window("08:00-20:00")
    slots = {s.name: s for s in planning.slots_for("anc")}
    day = date(2026, 3, 10)
    # When an appointment on 10 March is timed
    eve = planning.slot_times(day, slots["eve"], quiet=quiet, zone=BAMAKO)
    morning = planning.slot_times(day, slots["morning"], quiet=quiet, zone=BAMAKO)
    # Then the evening one goes from 18:00 the day before until 20:00, the morning one
    # waits for the end of quiet hours (08:00) and expires at 10:00
    assert eve == (datetime(2026, 3, 9, 18, tzinfo=UTC), datetime(2026, 3, 9, 20, tzinfo=UTC))
    assert morning == (datetime(2026, 3, 10, 8, tzinfo=UTC), datetime(2026, 3, 10, 10, tzinfo=UTC))


def test_a_slot_inside_quiet_hours_is_not_sent_late() -> None:
    # Given an evening slot 20:30-22:00 while quiet hours start at 20:00
    quiet = parse_window("08:00-20:00")
    # When it is timed
    # Then there is no reminder at all rather than one the next morning
    assert (
        planning.slot_times(date(2026, 3, 10), _slot("1 20:30-22:00"), quiet=quiet, zone=BAMAKO)
        is None
    )


def test_timing_across_midnight_month_end_and_time_zone() -> None:
    # Given quiet hours that cross midnight (send 06:00 to 01:00) in a UTC+1 zone
    quiet = parse_window("06:00-01:00")
    lagos = ZoneInfo("Africa/Lagos")
    # When the evening reminder of a 1 March appointment is timed (the day before is 28 Feb)
    eve = planning.slot_times(date(2026, 3, 1), _slot("1 21:00-23:30"), quiet=quiet, zone=lagos)
    # And a morning slot opening at 00:30, inside the window that crossed midnight
    early = planning.slot_times(date(2026, 3, 1), _slot("0 00:30-02:00"), quiet=quiet, zone=lagos)
    # And one opening at 01:30, once quiet hours have begun
    late = planning.slot_times(date(2026, 3, 1), _slot("0 01:30-07:00"), quiet=quiet, zone=lagos)
    # Then each lands on the right UTC instant
    assert eve == (datetime(2026, 2, 28, 20, tzinfo=UTC), datetime(2026, 2, 28, 22, 30, tzinfo=UTC))
    assert early == (datetime(2026, 2, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 1, 1, tzinfo=UTC))
    assert late == (datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 3, 1, 6, tzinfo=UTC))


def test_slots_refuse_bad_specs() -> None:
    # Given slot specs with a missing day count and a window across midnight
    # Then each is refused with a message naming it
    for spec in ("18:00-20:00", "1 22:00-02:00", "x 18:00-20:00"):
        with pytest.raises(ValueError, match="reminder slot"):
            planning.parse_slot("eve", spec)


def test_planning_writes_both_reminders_once(db, pregnant, midnight) -> None:
    # Given an appointment tomorrow
    woman = pregnant()
    tomorrow = local_today() + timedelta(days=1)
    appointment = appointments_service.create(
        db, beneficiary_id=woman.id, kind="anc", due_on=tomorrow, source="staff", place="CSCom Bla"
    )
    db.commit()
    # When planning runs from the start of today, twice
    planning.run(now=midnight(local_today()))
    second = planning.run(now=midnight(local_today()))
    # Then tonight's and tomorrow morning's reminders exist once each, with a dedupe key
    # per (appointment, slot), the place in the text, and a time limit
    rows = reminders(db, appointment.id)
    assert sorted(r.dedupe_key for r in rows) == [
        f"appt:{appointment.id}:eve",
        f"appt:{appointment.id}:morning",
    ]
    assert second.inserted == 0
    eve = next(r for r in rows if r.dedupe_key.endswith(":eve"))
    assert "demain" in eve.body and "CSCom Bla" in eve.body and "OK" in eve.body
    assert eve.kind == "reminder" and eve.priority == 1 and eve.expires_at is not None


def test_no_reminder_after_attended_moved_or_cancelled(db, pregnant, midnight) -> None:
    # Given three appointments tomorrow with their reminders planned
    woman = pregnant()
    tomorrow = local_today() + timedelta(days=1)
    made = [
        appointments_service.create(
            db, beneficiary_id=woman.id, kind="anc", due_on=tomorrow, source="staff"
        )
        for _ in range(3)
    ]
    db.commit()
    planning.run(now=midnight(local_today()))
    # When one is attended, one cancelled and one moved to next week
    appointments_service.record_outcome(db, appointment_id=made[0].id, attended=True, chw_id=None)
    appointments_service.cancel(db, appointment_id=made[1].id)
    moved = appointments_service.move(
        db, appointment_id=made[2].id, due_on=tomorrow + timedelta(days=7), source="staff"
    )
    db.commit()
    planning.run(now=midnight(local_today()))
    # Then their reminders are cancelled and a re-run plans none again
    for appointment in made:
        rows = reminders(db, appointment.id)
        assert rows and all(r.status == MessageStatus.CANCELLED for r in rows)
    # And the moved one's new appointment has no reminder yet (next week), none doubled
    assert reminders(db, moved.id) == []
    assert db.get(Appointment, made[2].id).status == AppointmentStatus.MOVED  # type: ignore[union-attr]
    # When the moved one comes within the horizon
    planning.run(
        today=moved.due_on - timedelta(days=1), now=midnight(moved.due_on - timedelta(days=1))
    )
    # Then it gets its own two reminders, once
    assert len(reminders(db, moved.id)) == 2


def test_the_send_time_check_skips_a_reminder_whose_appointment_changed(db, pregnant) -> None:
    # Given a reminder due now for an appointment today
    woman = pregnant()
    appointment = appointments_service.create(
        db, beneficiary_id=woman.id, kind="anc", due_on=local_today(), source="staff"
    )
    db.commit()
    # At noon in Bamako, whatever the hour the suite runs: a reminder queued during quiet
    # hours is held for the morning and never reaches the claim.
    now = datetime.combine(local_today(), time(12), ZoneInfo("Africa/Bamako")).astimezone(UTC)
    outbox_service.enqueue(
        db,
        dedupe_key=f"appt:{appointment.id}:morning",
        to_number="+22370123456",
        body="Rappel",
        kind="reminder",
        due_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(hours=1),
    )
    # When the appointment is marked attended behind the planner's back (a race with a
    # claim already under way) and a worker claims
    appointment.status = AppointmentStatus.ATTENDED
    db.add(appointment)
    db.commit()
    get_settings().send_window_by_kind["reminder"] = "00:00-24:00"
    try:
        claims = outbox_service.claim_due(db, owner="test", limit=10, now=now)
    finally:
        get_settings().send_window_by_kind.pop("reminder")
    db.commit()
    # Then the reminder is not handed out: it is cancelled as no longer due
    assert all(not c.body.startswith("Rappel") for c in claims)
    row = db.exec(
        select(OutboundMessage).where(
            OutboundMessage.dedupe_key == f"appt:{appointment.id}:morning"
        )
    ).one()
    assert row.status == MessageStatus.CANCELLED
    assert row.failure_reason == "appointment_no_longer_due"


def test_a_past_appointment_gets_no_reminder(db, pregnant, midnight) -> None:
    # Given an appointment yesterday that nobody recorded
    woman = pregnant()
    appointment = appointments_service.create(
        db,
        beneficiary_id=woman.id,
        kind="anc",
        due_on=local_today() + timedelta(days=1),
        source="staff",
    )
    appointment.due_on = local_today() - timedelta(days=1)
    db.add(appointment)
    db.commit()
    for row in reminders(db, appointment.id):
        db.delete(row)
    db.commit()
    # When planning runs
    planning.run(now=midnight(local_today()))
    # Then nothing is planned for it
    assert reminders(db, appointment.id) == []
