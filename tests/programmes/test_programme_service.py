"""Enrollment life: start, birth, loss, pause and resume, as the fan-out sees them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, col, select

from messages import texts
from outreach.outbox.models import OutboundMessage
from outreach.programmes import fanout, service
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Phone, PhoneKind
from outreach.timeutil import local_today


def messages(db: Session) -> list[OutboundMessage]:
    db.expire_all()
    return list(db.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))))


def test_a_new_enrollment_starts_today_with_a_short_gsm_safe_addressee(
    db: Session, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # Given a woman whose name has letters outside GSM-7
    woman = make_beneficiary(name="Aïssata Fatoumata Coulibaly", language="bm")
    assert woman.id is not None
    # When she is enrolled in the pregnancy programme
    enrollment = service.start_pregnancy(
        db, beneficiary_id=woman.id, edd=local_today() + timedelta(weeks=10)
    )
    # Then she starts today, addressed by a short GSM-safe name
    assert enrollment.start_date == local_today()
    assert enrollment.addressee == "Aissata Fatoumata"


def test_late_registrant_gets_her_current_week_on_her_first_day_only(
    db: Session, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given a woman registered today, three days into week 24
    today = local_today()
    woman = make_beneficiary()
    assert woman.id is not None
    edd = today + timedelta(weeks=16) - timedelta(days=3)
    service.start_pregnancy(db, beneficiary_id=woman.id, edd=edd)
    db.commit()
    # When today's fan-out runs
    fanout.run(day=today, messages=approved_library)
    # Then only week 24 is queued: no weeks 8 to 23
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in messages(db)] == ["preg_w24"]


def test_a_birth_before_the_edd_moves_her_to_the_infant_programme(
    db: Session, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given a woman at week 35 with this week's pregnancy message still queued
    today = local_today()
    woman = make_beneficiary()
    assert woman.id is not None
    pregnancy = service.start_pregnancy(db, beneficiary_id=woman.id, edd=today + timedelta(weeks=5))
    db.commit()
    fanout.run(day=today, messages=approved_library)
    assert [m.status for m in messages(db)] == ["queued"]
    # When the CHW records a birth yesterday, five weeks before the EDD
    born = today - timedelta(days=1)
    infant = service.record_birth(db, beneficiary_id=woman.id, birth_date=born, sex="F")
    db.commit()
    fanout.run(day=today, messages=approved_library)
    # Then the pregnancy is completed and its queued message cancelled
    db.expire_all()
    assert db.get_one(Enrollment, pregnancy.id).status == "completed"
    assert infant.programme == "infant" and infant.anchor_date == born
    sent = messages(db)
    assert sent[0].status == "cancelled"
    # and the newborn's first message, counted from the real birth, is queued
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in sent[1:]] == ["inf_d000"]


def test_a_loss_stops_everything_at_once_with_one_kind_message(
    db: Session, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given a woman at week 20 with a queued programme message
    today = local_today()
    woman = make_beneficiary(name="Awa Traoré")
    assert woman.id is not None
    enrollment = service.start_pregnancy(
        db, beneficiary_id=woman.id, edd=today + timedelta(weeks=20)
    )
    db.commit()
    fanout.run(day=today, messages=approved_library)
    # When a loss is recorded
    service.record_loss(db, beneficiary_id=woman.id)
    db.commit()
    # Then her enrollment stops, the queued message is cancelled
    db.expire_all()
    assert db.get_one(Enrollment, enrollment.id).status == "stopped"
    programme, loss = messages(db)
    assert (programme.kind, programme.status, programme.failure_reason) == (
        "programme",
        "cancelled",
        "loss",
    )
    # and one kind message goes to her, never a congratulation
    assert loss.kind == "reply" and loss.status == "queued"
    assert loss.rendered == texts.render("loss_support", "fr", name="Awa Traoré")
    assert "Félicitations" not in loss.rendered and "Awa" not in loss.body
    # and no later fan-out sends her anything
    for offset in range(14):
        fanout.run(day=today + timedelta(days=offset), messages=approved_library)
    assert len(messages(db)) == 2


def test_a_loss_without_a_phone_is_told_to_her_chw_by_name(
    db: Session, make_beneficiary: Callable[..., Beneficiary], make_chw
) -> None:
    # Given a woman without a phone, followed by a Bambara-reading CHW
    chw = make_chw(language="bm")
    woman = make_beneficiary(name="Mariam Diallo", phone_kind=PhoneKind.NONE, chw=chw)
    assert woman.id is not None
    service.start_pregnancy(db, beneficiary_id=woman.id, edd=local_today() + timedelta(weeks=9))
    # When a loss is recorded
    service.record_loss(db, beneficiary_id=woman.id)
    db.commit()
    # Then the CHW gets the kind message in her language, addressed by name
    (loss,) = messages(db)
    assert loss.to_number == db.get_one(Phone, chw.phone_id).e164
    assert loss.rendered == "Mariam Diallo ye: " + texts.render(
        "loss_support", "bm", name="Mariam Diallo"
    )


def test_pause_holds_messages_and_resume_restarts_at_the_current_stage(
    db: Session, make_beneficiary: Callable[..., Beneficiary], approved_library
) -> None:
    # Given a woman at week 20 with a queued message
    today = local_today()
    woman = make_beneficiary()
    assert woman.id is not None
    enrollment = service.start_pregnancy(
        db, beneficiary_id=woman.id, edd=today + timedelta(weeks=20)
    )
    db.commit()
    fanout.run(day=today, messages=approved_library)
    # When she pauses
    assert service.pause(db, beneficiary_id=woman.id) == 1
    db.commit()
    # Then the queued message is cancelled and the next weeks send nothing
    assert [m.status for m in messages(db)] == ["cancelled"]
    for offset in range(1, 15):
        fanout.run(day=today + timedelta(days=offset), messages=approved_library)
    assert len(messages(db)) == 1
    # When she resumes (recorded as starting today) at what is now her week 22
    assert service.resume(db, beneficiary_id=woman.id) == 1
    db.commit()
    db.expire_all()
    resumed = db.get_one(Enrollment, enrollment.id)
    assert (resumed.status, resumed.start_date) == ("active", today)
    # Then the fan-out on her restart day brings her current week, not the missed ones
    enrollment_row = db.get_one(Enrollment, enrollment.id)
    enrollment_row.anchor_date = today + timedelta(weeks=18)
    db.commit()
    fanout.run(day=today, messages=approved_library)
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in messages(db)] == ["preg_w20", "preg_w22"]


def test_opted_out_phone_is_not_rerouted_to_the_chw(
    db: Session, make_beneficiary: Callable[..., Beneficiary], make_chw
) -> None:
    # Given a woman with her own phone, opted out, and a CHW
    woman = make_beneficiary(chw=make_chw())
    db.get_one(Phone, woman.phone_id).status = "opted_out"
    # When her recipient is resolved
    # Then there is none: her STOP is honoured
    assert service.recipient(db, beneficiary=woman) is None


def test_current_text_never_repeats_an_unreviewed_message(
    db: Session, make_beneficiary: Callable[..., Beneficiary]
) -> None:
    # Given a woman at week 30 and the shipped library, still all drafts
    woman = make_beneficiary(language="bm")
    assert woman.id is not None
    enrollment = service.start_pregnancy(
        db, beneficiary_id=woman.id, edd=local_today() + timedelta(weeks=10)
    )
    # When "advice again" asks for her current message outside development
    # Then there is none: drafts are not sent, on demand either
    assert service.current_text(db, enrollment=enrollment, language="bm") is None
