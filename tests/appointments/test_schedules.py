"""Schedules as data: the defaults, the validator, a staff directory, proposals from them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from outreach.appointments import schedules
from outreach.appointments import service as appointments_service
from outreach.appointments.models import Appointment
from outreach.timeutil import local_today


def test_the_defaults_are_valid_and_name_every_vaccine() -> None:
    # Given the shipped schedules
    loaded = schedules.load_dir(schedules.DEFAULT_DIR)
    # Then every kind is there, with the WHO 8 contacts and the EPI calendar
    assert set(loaded) == {"anc", "postnatal", "vaccination", "growth", "vitamin_a"}
    assert [e.week for e in loaded["anc"].entries] == [12, 20, 26, 30, 34, 36, 38, 40]
    epi = loaded["vaccination"].entries
    assert [(e.days, e.weeks, e.months) for e in epi] == [
        (0, 0, 0), (0, 6, 0), (0, 10, 0), (0, 14, 0), (0, 0, 9), (0, 0, 15)
    ]  # fmt: skip
    assert all(e.vaccines for e in epi) and "BCG (tuberculose)" in epi[0].vaccines
    assert [e.months for e in loaded["vitamin_a"].entries] == [6, 12, 18, 24]
    assert all(s.guidance for s in loaded.values())


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("kind: anc\nanchor: birth\nguidance: x\nentries: [{key: a, at: {days: 1}, label: A}]",
         "anchored on the edd"),
        ("kind: anc\nanchor: edd\nentries: [{key: a, at: {week: 12}, label: A}]", "guidance"),
        ("kind: anc\nanchor: edd\nguidance: x\nentries: [{key: a, at: {week: 50}, label: A}]",
         "pregnancy week"),
        ("kind: vaccination\nanchor: birth\nguidance: x\nentries: [{key: a, at: {days: 0}, label: A}]",  # noqa: E501
         "names its vaccines"),
        ("kind: growth\nanchor: birth\nguidance: x\nentries:\n"
         "  - {key: a, at: {months: 2}, label: A}\n  - {key: b, at: {months: 1}, label: B}",
         "in order"),
        ("kind: growth\nanchor: birth\nguidance: x\nentries: [{key: a, at: {months: 1}, label: Vitâmine}]",  # noqa: E501
         "GSM-7"),
    ],
)  # fmt: skip
def test_the_validator_refuses_broken_files(tmp_path: Path, body: str, problem: str) -> None:
    # Given a staff-edited file with a mistake
    (tmp_path / "broken.yaml").write_text(body, encoding="utf-8")
    # When the schedules are loaded
    # Then the mistake is named
    with pytest.raises(schedules.ScheduleError, match=problem):
        schedules.load_dir(tmp_path)


def test_a_staff_file_replaces_the_default_of_its_kind(tmp_path: Path) -> None:
    # Given a district that does 4 antenatal contacts
    (tmp_path / "anc.yaml").write_text(
        "kind: anc\nanchor: edd\nguidance: protocole du district\nentries:\n"
        + "".join(
            f"  - {{key: anc_{w}, at: {{week: {w}}}, label: CPN}}\n" for w in (16, 24, 32, 36)
        ),
        encoding="utf-8",
    )
    # When the schedules are loaded with the staff directory
    loaded = schedules.load_dir(tmp_path)
    # Then hers replaces the default, the other kinds keep theirs
    assert [e.week for e in loaded["anc"].entries] == [16, 24, 32, 36]
    assert len(loaded["vaccination"].entries) == 6


def test_proposals_from_the_edd_skip_what_is_past(db, pregnant) -> None:
    # Given a woman registering late, at 27 weeks
    woman = pregnant(weeks=27)
    # When her appointments are proposed
    appointments_service.propose_for_beneficiary(db, beneficiary_id=woman.id)
    db.commit()
    # Then only the contacts from 30 weeks on exist, none in the past
    found = db.exec(
        select(Appointment)
        .where(Appointment.beneficiary_id == woman.id)
        .order_by(col(Appointment.due_on))
    ).all()
    assert [a.schedule_key for a in found] == ["anc_4", "anc_5", "anc_6", "anc_7", "anc_8"]
    assert all(a.due_on >= local_today() for a in found)
    assert found[0].due_on == local_today() + timedelta(weeks=3)
    assert found[0].place and found[0].kind == "anc"


def test_proposals_from_a_date_of_birth_for_a_late_registrant(db, mother) -> None:
    # Given a baby of 8 weeks registered today
    born = local_today() - timedelta(weeks=8)
    kadia = mother(born)
    # When her appointments are proposed (twice: a re-run adds nothing)
    appointments_service.propose_for_beneficiary(db, beneficiary_id=kadia.id)
    appointments_service.propose_for_beneficiary(db, beneficiary_id=kadia.id)
    db.commit()
    found = db.exec(select(Appointment).where(Appointment.beneficiary_id == kadia.id)).all()
    keys = {a.schedule_key for a in found}
    # Then the 10-week vaccines onwards, no birth dose, no postnatal check, no 6-week dose
    assert {"epi_10w", "epi_14w", "epi_9m", "epi_15m", "vita_6m", "gmp_2m"} <= keys
    assert not keys & {"epi_birth", "epi_6w", "pnc_1", "pnc_4", "gmp_1m"}
    assert len(keys) == len(found)
    assert min(a.due_on for a in found) >= local_today()
    ten = next(a for a in found if a.schedule_key == "epi_10w")
    assert ten.due_on == born + timedelta(weeks=10) and ten.child_id is not None


def test_a_clinic_round_draws_the_proposal_to_its_day(db, pregnant, village) -> None:
    # Given a mobile clinic in her village every second Tuesday of the month
    today = local_today()
    appointments_service.create_round(
        db,
        kind="mobile_clinic",
        name="Clinique mobile Ségou nord",
        place="Clinique mobile",
        starts_on=today,
        villages=[village],
        rrule="FREQ=MONTHLY;BYDAY=+2TU",
    )
    db.commit()
    # When a woman at 12 weeks is registered and her contacts proposed
    woman = pregnant(weeks=12)
    appointments_service.propose_for_beneficiary(db, beneficiary_id=woman.id)
    db.commit()
    # Then each contact sits on the nearest second Tuesday when one is within 7 days,
    # and on its ideal day otherwise
    for appointment in db.exec(select(Appointment).where(Appointment.beneficiary_id == woman.id)):
        entry = schedules.entry(appointment.schedule_key or "")
        assert entry is not None
        edd = today + timedelta(weeks=28)
        ideal = entry.day(edd)
        tuesdays = [
            d
            for d in (ideal + timedelta(days=n) for n in range(-7, 8))
            if d.weekday() == 1 and 8 <= d.day <= 14 and d >= today
        ]
        if tuesdays:
            nearest = min(tuesdays, key=lambda d: (abs(d - ideal), d))
            assert appointment.due_on == nearest and appointment.place == "Clinique mobile"
            assert appointment.round_id is not None
        else:
            assert appointment.due_on == ideal and appointment.round_id is None


def test_explicit_round_dates_and_rules_give_occurrences(db, village) -> None:
    # Given a round with two explicit dates and one with "every second Tuesday"
    listed = appointments_service.create_round(
        db,
        kind="mobile_clinic",
        name="A",
        place="Bla",
        starts_on=date(2026, 1, 1),
        villages=[village],
        dates=[date(2026, 3, 3), date(2026, 3, 17)],
    )
    ruled = appointments_service.create_round(
        db, kind="mobile_clinic", name="B", place="Bla", starts_on=date(2026, 1, 1),
        villages=[village], rrule="FREQ=MONTHLY;BYDAY=+2TU",
    )  # fmt: skip
    # Then March has those days
    march = (date(2026, 3, 1), date(2026, 3, 31))
    assert appointments_service.occurrences(listed, *march) == [date(2026, 3, 3), date(2026, 3, 17)]
    assert appointments_service.occurrences(ruled, *march) == [date(2026, 3, 10)]
    # And a rule dateutil cannot read is refused
    with pytest.raises(appointments_service.AppointmentError, match="récurrence"):
        appointments_service.create_round(
            db, kind="mobile_clinic", name="C", place="Bla", starts_on=date(2026, 1, 1),
            villages=[village], rrule="every second tuesday",
        )  # fmt: skip
