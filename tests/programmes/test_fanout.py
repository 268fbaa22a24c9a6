"""The daily fan-out: set-based, in batches, idempotent, faithful to the pure schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from messages import texts
from messages.schedule import due_on, slots
from outreach.outbox import bodies
from outreach.outbox.models import OutboundMessage
from outreach.programmes import fanout
from outreach.programmes.fanout import BatchResult
from outreach.programmes.models import Enrollment, EnrollmentStatus
from outreach.registry.models import Beneficiary, Phone, PhoneKind

DAY = date(2026, 12, 7)
EDD_AT_WEEK_20 = DAY + timedelta(weeks=20)


def rows(db: Session) -> list[OutboundMessage]:
    db.expire_all()
    return list(db.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))))


def test_due_messages_reach_her_phone_a_shared_phone_by_name_or_her_chw(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], make_chw, approved_library
) -> None:
    # Given four women at pregnancy week 20: own phone (fr), shared phone (bm), no phone
    # (her CHW reads French), and one whose phone opted out
    chw = make_chw(language="fr")
    own = make_beneficiary(name="Awa Traoré", language="fr")
    shared = make_beneficiary(name="Ɲɛlɛni Dembélé", language="bm", phone_kind=PhoneKind.SHARED)
    no_phone = make_beneficiary(
        name="Mariam Diallo", language="bm", phone_kind=PhoneKind.NONE, chw=chw
    )
    opted_out = make_beneficiary(name="Kadia Sangaré")
    db.get_one(Phone, opted_out.phone_id).status = "opted_out"
    enrollments = {
        b.name: enroll(b, "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=30))
        for b in (own, shared, no_phone, opted_out)
    }
    db.commit()
    # When the day is fanned out
    result = fanout.run(day=DAY, messages=approved_library, include_drafts=False)
    # Then three messages are queued, each in the right words for the right handset
    sent = {m.beneficiary_id: m for m in rows(db)}
    assert result.inserted == 3 and set(sent) == {own.id, shared.id, no_phone.id}
    w20 = texts.load()["preg_w20"]
    assert sent[own.id].rendered == w20.text("fr")
    assert sent[shared.id].rendered == "Nyèlèni Dembélé ye: " + w20.texts["bm_gsm"]
    assert sent[no_phone.id].rendered == "Pour Mariam Diallo: " + w20.text("fr")
    # And no body holds a name: a marker keeps its place, the name is encrypted beside it
    assert sent[shared.id].body == bodies.NAME + " ye: " + w20.texts["bm_gsm"]
    assert sent[no_phone.id].body == "Pour " + bodies.NAME + ": " + w20.text("fr")
    assert sent[own.id].addressee is None
    assert sent[no_phone.id].language == "fr"
    chw_phone = db.get_one(Phone, chw.phone_id)
    assert sent[no_phone.id].to_number == chw_phone.e164
    for beneficiary_id, message in sent.items():
        enrollment = next(e for e in enrollments.values() if e.beneficiary_id == beneficiary_id)
        assert message.dedupe_key == f"prog:{enrollment.id}:preg_w20"
        assert (message.kind, message.priority, message.status) == ("programme", 2, "queued")
        assert len(message.rendered) <= 160


def test_only_approved_messages_are_sent_unless_drafts_are_allowed(
    db: Session, enroll, approve, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # Given a woman at week 20 and the shipped library, all drafts
    enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=30))
    db.commit()
    # When the day is fanned out with drafts refused
    result = fanout.run(day=DAY, include_drafts=False)
    # Then nothing goes out
    assert result.inserted == 0 and rows(db) == []
    # When week 20 alone is approved
    fanout.run(day=DAY, include_drafts=False, messages=approve({"preg_w20"}))
    # Then exactly that message is queued
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in rows(db)] == ["preg_w20"]


def test_paused_stopped_and_unconfirmed_women_receive_nothing(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given women at week 20 whose enrollment is paused or stopped, or who are pending
    paused = enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=9))
    paused.status = EnrollmentStatus.PAUSED
    stopped = enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=9))
    stopped.status = EnrollmentStatus.STOPPED
    enroll(
        make_beneficiary(status="pending"),
        "pregnancy",
        EDD_AT_WEEK_20,
        start=DAY - timedelta(days=9),
    )
    db.commit()
    # When the day is fanned out
    # Then nobody gets a message
    assert fanout.run(day=DAY, messages=approved_library).inserted == 0


def test_running_the_day_twice_adds_nothing(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given ten women due a message today
    for _ in range(10):
        enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=9))
    db.commit()
    # When the day is fanned out twice
    first = fanout.run(day=DAY, messages=approved_library, batch_size=3)
    second = fanout.run(day=DAY, messages=approved_library, batch_size=3)
    # Then the second run finds everything already queued
    assert (first.inserted, second.inserted) == (10, 0)
    assert len(rows(db)) == 10


class Crash(RuntimeError):
    pass


def test_a_run_killed_after_its_first_batch_resumes_without_duplicates_or_gaps(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given 25 women due today, fanned out 5 enrollment ids at a time
    for _ in range(25):
        enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20, start=DAY - timedelta(days=9))
    db.commit()

    def die(batch: BatchResult) -> None:
        raise Crash(f"worker killed after ids {batch.id_from}-{batch.id_to}")

    # When the worker dies right after committing its first batch
    with pytest.raises(Crash):
        fanout.run(day=DAY, messages=approved_library, batch_size=5, on_batch=die)
    # Then that batch is in the outbox and nothing else
    assert len(rows(db)) == 5
    # When beat runs it again
    again = fanout.run(day=DAY, messages=approved_library, batch_size=5)
    # Then the other 20 are added, and every woman has exactly one message
    assert again.inserted == 20
    assert sorted(m.beneficiary_id for m in rows(db)) == sorted(
        db.exec(select(Enrollment.beneficiary_id)).all()
    )


def test_the_sql_fan_out_matches_the_pure_schedule_day_after_day(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], make_chw, approved_library
) -> None:
    # Given women at every kind of stage, some starting in the middle of the period
    chw = make_chw()
    cases = [
        ("pregnancy", DAY + timedelta(weeks=33), DAY - timedelta(days=3)),  # week 7 -> 10
        ("pregnancy", DAY + timedelta(weeks=5, days=2), DAY - timedelta(days=40)),
        ("pregnancy", DAY + timedelta(days=1), DAY - timedelta(days=40)),  # past the EDD
        ("pregnancy", DAY + timedelta(weeks=12, days=4), DAY + timedelta(days=5)),  # late start
        ("infant", DAY - timedelta(days=2), DAY - timedelta(days=2)),  # newborn
        ("infant", DAY - timedelta(days=1), DAY + timedelta(days=4)),  # birth recorded late
        ("infant", DAY - timedelta(weeks=50, days=3), DAY - timedelta(days=100)),
        ("infant", DAY - timedelta(weeks=102), DAY - timedelta(days=100)),  # to 24 months
    ]
    enrollments = []
    for n, (programme, anchor, start) in enumerate(cases):
        kind = (PhoneKind.OWN, PhoneKind.SHARED, PhoneKind.NONE)[n % 3]
        beneficiary = make_beneficiary(phone_kind=kind, chw=chw, language=("fr", "bm")[n % 2])
        enrollments.append(enroll(beneficiary, programme, anchor, start=start))
    db.commit()
    schedule = slots(approved_library.values(), include_drafts=False)
    # When three weeks are fanned out one day at a time
    expected = set()
    for offset in range(21):
        day = DAY + timedelta(days=offset)
        fanout.run(day=day, messages=approved_library, include_drafts=False, batch_size=3)
        for e in enrollments:
            if day < e.start_date:
                continue
            for slot in due_on(
                schedule, programme=e.programme, anchor=e.anchor_date, day=day, start=e.start_date
            ):
                expected.add(f"prog:{e.id}:{slot.key}")
    # Then the outbox holds exactly what the pure function says, each once
    found = [m.dedupe_key for m in rows(db)]
    assert len(found) == len(set(found))
    assert set(found) == expected
    assert len(expected) > 20


def test_a_registration_after_the_last_run_is_caught_up_the_next_morning(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given a woman registered yesterday evening at week 20, after yesterday's run
    yesterday = DAY - timedelta(days=1)
    enroll(make_beneficiary(), "pregnancy", EDD_AT_WEEK_20 - timedelta(days=2), start=yesterday)
    db.commit()
    # When this morning's window runs (today and the catch-up day before it)
    results = [fanout.run(day=d, messages=approved_library) for d in (yesterday, DAY)]
    # Then her current week's message is queued once
    assert [r.inserted for r in results] == [1, 0]
    assert rows(db)[0].dedupe_key.endswith(":preg_w20")


def test_finished_enrollments_are_completed(
    db: Session, enroll, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given an infant past 24 months and a pregnancy 7 weeks past its EDD, no birth recorded
    old = enroll(
        make_beneficiary(),
        "infant",
        DAY - timedelta(weeks=106),
        start=DAY - timedelta(weeks=106),
    )
    overdue = enroll(
        make_beneficiary(),
        "pregnancy",
        DAY - timedelta(weeks=7),
        start=DAY - timedelta(weeks=30),
    )
    young = enroll(
        make_beneficiary(), "infant", DAY - timedelta(weeks=10), start=DAY - timedelta(weeks=10)
    )
    db.commit()
    # When the day is fanned out
    result = fanout.run(day=DAY, messages=approved_library)
    # Then the two finished enrollments are completed, the young one untouched
    db.expire_all()
    assert result.completed == 2
    assert [db.get_one(Enrollment, e.id).status for e in (old, overdue, young)] == [
        "completed",
        "completed",
        "active",
    ]
