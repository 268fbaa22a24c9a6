"""Appointments by USSD (CHW outcomes, "a suivre", set and move; her next appointment),
and her OK by SMS, through the gateway callbacks."""

from __future__ import annotations

from datetime import timedelta

from appointments_helpers import reminders
from sqlmodel import col, select

from outreach.appointments import service as appointments_service
from outreach.appointments.models import Appointment, AppointmentStatus
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.timeutil import local_today

MENU_APPOINTMENTS = "9"


def _chw_menu(dialer):
    session = dialer()
    session.dial()
    session.answer("1234")
    return session


def test_a_chw_records_attended_and_the_next_dose_is_proposed(db, dialer, mother) -> None:
    # Given a baby born 6 weeks ago whose 6-week vaccines are due today
    kadia = mother(local_today() - timedelta(weeks=6))
    appointments_service.propose_for_beneficiary(db, beneficiary_id=kadia.id)
    db.commit()
    due = db.exec(select(Appointment).where(Appointment.schedule_key == "epi_6w")).one()
    assert due.due_on == local_today()
    planned_next = db.exec(select(Appointment).where(Appointment.schedule_key == "epi_10w")).one()
    # When her CHW opens Rendez-vous > Noter venue ou absence and picks her
    session = _chw_menu(dialer)
    assert "Rendez-vous" in session.answer(MENU_APPOINTMENTS)
    listing = session.answer("1")
    assert "RDV a noter" in listing and "Kadia Coulibaly" in listing and "Penta1" in listing
    line = next(x for x in listing.split("\n") if "Kadia" in x and "Penta1" in x)
    screen = session.answer(line.split(" ")[0].removeprefix("CON"))
    assert "1 Venue" in screen and "2 Absente" in screen
    # And records that she came
    end = session.answer("1")
    # Then it is attended, its reminders are gone, and the next dose is shown
    assert end.startswith("END Venue enregistree") and "Penta2" in end
    db.expire_all()
    assert db.get(Appointment, due.id).status == AppointmentStatus.ATTENDED  # type: ignore[union-attr]
    assert all(r.status == MessageStatus.CANCELLED for r in reminders(db, due.id))
    assert db.get(Appointment, planned_next.id).status == AppointmentStatus.SCHEDULED  # type: ignore[union-attr]
    assert planned_next.due_on.strftime("%d/%m") in end


def test_a_missed_visit_sends_a_kind_sms_and_lands_on_a_suivre(db, dialer, pregnant) -> None:
    # Given a woman whose contact was yesterday, not yet recorded
    woman = pregnant()
    appointment = appointments_service.create(
        db, beneficiary_id=woman.id, kind="anc", due_on=local_today(), source="chw"
    )
    appointment.due_on = local_today() - timedelta(days=1)
    db.add(appointment)
    db.commit()
    # When her CHW records her absent by USSD
    session = _chw_menu(dialer)
    session.answer(MENU_APPOINTMENTS)
    assert "Awa Traore" in session.answer("1")
    session.answer("1")
    end = session.answer("2")
    # Then a kind follow-up SMS is queued to her
    assert end.startswith("END Absence enregistree")
    sms = db.exec(
        select(OutboundMessage).where(OutboundMessage.dedupe_key == f"appt-missed:{appointment.id}")
    ).one()
    assert sms.to_number == "+22370123456" and "Awa" in sms.rendered and "pas grave" in sms.body
    # And she is on the CHW's "a suivre" list until marked followed up
    follow = _chw_menu(dialer)
    follow.answer(MENU_APPOINTMENTS)
    listing = follow.answer("2")
    assert "A suivre" in listing and "Awa Traore" in listing
    assert "Marquer comme suivie" in follow.answer("1")
    assert follow.answer("1").startswith("END Marquee comme suivie")
    again = _chw_menu(dialer)
    again.answer(MENU_APPOINTMENTS)
    assert "Personne a suivre" in again.answer("2")


def test_a_chw_sets_then_moves_an_appointment(db, dialer, pregnant) -> None:
    # Given a registered woman with no appointment
    woman = pregnant()
    day = local_today() + timedelta(days=3)
    later = local_today() + timedelta(days=10)
    # When her CHW sets an antenatal contact in 3 days, finding her by her code
    session = _chw_menu(dialer)
    session.answer(MENU_APPOINTMENTS)
    session.answer("3")
    session.answer("2")
    assert "Nouveau RDV" in session.answer(woman.code)
    session.answer("1")
    session.answer("1")
    end = session.answer(day.strftime("%d%m%Y"))
    assert end.startswith("END RDV fixe le " + day.strftime("%d/%m/%Y"))
    made = db.exec(select(Appointment).where(Appointment.beneficiary_id == woman.id)).one()
    # And then moves it to day 10 from her list
    move = _chw_menu(dialer)
    move.answer(MENU_APPOINTMENTS)
    move.answer("3")
    move.answer("2")
    listing = move.answer(woman.code)
    assert day.strftime("%d/%m") in listing
    assert "1 Deplacer" in move.answer("1")
    move.answer("1")
    # A date in the past is refused with a reason
    assert "Date passee" in move.answer((local_today() - timedelta(days=1)).strftime("%d%m%Y"))
    assert move.answer(later.strftime("%d%m%Y")).startswith("END RDV deplace")
    # Then the first is moved and one scheduled appointment remains, on the new day
    db.expire_all()
    assert db.get(Appointment, made.id).status == AppointmentStatus.MOVED  # type: ignore[union-attr]
    scheduled = db.exec(
        select(Appointment).where(
            Appointment.beneficiary_id == woman.id, Appointment.status == "scheduled"
        )
    ).all()
    assert [a.due_on for a in scheduled] == [later]


def test_her_next_appointment_by_ussd(db, dialer, pregnant) -> None:
    # Given a woman with an antenatal contact in 5 days at the CSCom of Bla
    woman = pregnant()
    day = local_today() + timedelta(days=5)
    appointments_service.create(
        db, beneficiary_id=woman.id, kind="anc", due_on=day, source="staff", place="CSCom Bla"
    )
    db.commit()
    # When she dials and picks "Prochain rendez-vous"
    session = dialer("+22370123456")
    session.dial()
    screen = session.answer("1")
    # Then she sees its kind, date and place
    assert "Prochain rendez-vous" in screen
    assert day.strftime("%d/%m/%Y") in screen and "CSCom Bla" in screen


def test_ok_by_sms_confirms_her_next_appointment(client, db, pregnant) -> None:
    # Given a woman with an appointment tomorrow in her village
    woman = pregnant()
    tomorrow = local_today() + timedelta(days=1)
    appointment = appointments_service.create(
        db, beneficiary_id=woman.id, kind="anc", due_on=tomorrow, source="staff", place="CSCom Bla"
    )
    db.commit()
    # When she answers the reminder with "oui" (and AT retries the callback)
    form = {
        "id": "ATXid_ok_1",
        "from": "+22370123456",
        "to": "36123",
        "text": "Oui",
        "date": "2026-03-14 19:12:45",
        "linkId": "link",
        "networkCode": "61001",
    }
    for _ in range(2):
        assert client.post("/callbacks/at/sms", data=form).status_code == 200
    # Then the appointment is confirmed, she gets one reply saying what she confirmed
    db.expire_all()
    assert db.get(Appointment, appointment.id).confirmed_at is not None  # type: ignore[union-attr]
    intents = db.exec(select(InboundMessage.intent)).all()
    assert intents == ["confirm"]
    replies = db.exec(
        select(OutboundMessage).where(col(OutboundMessage.dedupe_key).like("sms-reply:%"))
    ).all()
    assert len(replies) == 1
    assert "confirm" in replies[0].body and tomorrow.strftime("%d/%m") in replies[0].body
    # And the confirmation rate of her village counts it
    rates = appointments_service.confirmation_rates(db, since=local_today(), until=tomorrow)
    assert [(r["appointments"], r["confirmed"], r["rate"]) for r in rates] == [(1, 1, 1.0)]


def test_nothing_to_record_is_said_plainly(db, dialer, chw) -> None:
    # Given a CHW with no appointment due among her women
    session = _chw_menu(dialer)
    session.answer(MENU_APPOINTMENTS)
    # When she opens "Noter venue ou absence"
    screen = session.answer("1")
    # Then she is told there is nothing to record, and a number is refused
    assert screen == "CON Aucun rendez-vous a noter.\n0 Retour"
    assert session.answer("1").startswith("CON Choix invalide.")
