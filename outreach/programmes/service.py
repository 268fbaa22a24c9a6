"""Starting, switching, pausing and stopping programme enrollments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import update
from sqlmodel import Session, col, select

from messages import schedule as content_schedule
from messages import texts
from outreach.chws.models import Chw
from outreach.config import get_settings
from outreach.content import service as content_service
from outreach.db import insert_row
from outreach.outbox import bodies
from outreach.outbox import service as outbox_service
from outreach.outbox.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Priority,
    is_sendable,
)
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry.models import Beneficiary, Child, Phone, PhoneKind, PhoneStatus
from outreach.timeutil import local_today, utcnow


def active_enrollments(session: Session, *, beneficiary_id: int) -> list[Enrollment]:
    """Every active enrollment of a beneficiary."""
    return list(
        session.exec(
            select(Enrollment).where(
                Enrollment.beneficiary_id == beneficiary_id,
                Enrollment.status == EnrollmentStatus.ACTIVE,
            )
        )
    )


def _running(session: Session, beneficiary_id: int) -> list[Enrollment]:
    return list(
        session.exec(
            select(Enrollment).where(
                Enrollment.beneficiary_id == beneficiary_id,
                col(Enrollment.status).in_([EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]),
            )
        )
    )


def _addressee(session: Session, beneficiary_id: int) -> str | None:
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        return None
    return texts.addressee(beneficiary.name, beneficiary.language)


def _start(
    session: Session,
    *,
    beneficiary_id: int,
    programme: Programme,
    anchor: date,
    child_id: int | None = None,
) -> Enrollment:
    enrollment = Enrollment(
        beneficiary_id=beneficiary_id,
        child_id=child_id,
        programme=programme,
        anchor_date=anchor,
        start_date=local_today(),
        addressee=_addressee(session, beneficiary_id),
    )
    return insert_row(session, enrollment)


def start_pregnancy(session: Session, *, beneficiary_id: int, edd: date) -> Enrollment:
    """Enroll a pregnant woman, anchored on her expected delivery date."""
    return _start(session, beneficiary_id=beneficiary_id, programme=Programme.PREGNANCY, anchor=edd)


def start_infant(session: Session, *, beneficiary_id: int, child: Child) -> Enrollment:
    """Enroll a mother for her infant, anchored on the child's date of birth."""
    return _start(
        session,
        beneficiary_id=beneficiary_id,
        programme=Programme.INFANT,
        anchor=child.birth_date,
        child_id=child.id,
    )


def record_birth(
    session: Session,
    *,
    beneficiary_id: int,
    birth_date: date,
    sex: str | None = None,
    child_name: str | None = None,
) -> Enrollment:
    """Close the pregnancy and move the mother to the infant programme from the real birth date."""
    for enrollment in _running(session, beneficiary_id):
        if enrollment.programme == Programme.PREGNANCY:
            enrollment.status = EnrollmentStatus.COMPLETED
            session.add(enrollment)
    _cancel_programme_messages(session, beneficiary_id=beneficiary_id, reason="birth")
    child = Child(mother_id=beneficiary_id, birth_date=birth_date, sex=sex, name=child_name)
    session.add(child)
    session.flush()
    return start_infant(session, beneficiary_id=beneficiary_id, child=child)


def record_loss(session: Session, *, beneficiary_id: int) -> None:
    """Stop every programme at once and send one kind message, never a congratulation."""
    for enrollment in _running(session, beneficiary_id):
        enrollment.status = EnrollmentStatus.STOPPED
        session.add(enrollment)
    _cancel_programme_messages(session, beneficiary_id=beneficiary_id, reason="loss")
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        return
    to = recipient(session, beneficiary=beneficiary)
    if to is None:
        return
    body = texts.render(
        "loss_support", to.language, gsm_safe=_gsm_safe(to.language), name=bodies.NAME
    )
    outbox_service.enqueue(
        session,
        dedupe_key=f"loss:{beneficiary_id}:{utcnow().date().isoformat()}",
        to_number=to.number,
        # The kind message already names her; the CHW also needs to know who it is for.
        body=(to.prefix if to.relay else "") + body,
        addressee=to.addressee,
        kind=MessageKind.REPLY,
        priority=Priority.INTERACTIVE,
        beneficiary_id=beneficiary_id,
        language=to.language,
    )


def pause(session: Session, *, beneficiary_id: int) -> int:
    """Hold her programme messages (travel, illness, her wish); returns enrollments paused."""
    paused = 0
    for enrollment in active_enrollments(session, beneficiary_id=beneficiary_id):
        enrollment.status = EnrollmentStatus.PAUSED
        session.add(enrollment)
        paused += 1
    _cancel_programme_messages(session, beneficiary_id=beneficiary_id, reason="paused")
    return paused


def resume(session: Session, *, beneficiary_id: int) -> int:
    """Restart paused programmes at her current stage, without the messages she missed."""
    resumed = 0
    for enrollment in session.exec(
        select(Enrollment).where(
            Enrollment.beneficiary_id == beneficiary_id,
            Enrollment.status == EnrollmentStatus.PAUSED,
        )
    ):
        enrollment.status = EnrollmentStatus.ACTIVE
        enrollment.start_date = local_today()
        session.add(enrollment)
        resumed += 1
    return resumed


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a beneficiary's messages go, in which language, behind which address prefix."""

    number: str
    language: str
    # Holds the name's marker; the name itself is `addressee` (outreach.outbox.bodies).
    prefix: str
    addressee: str
    # True when the message goes to her CHW to be passed on.
    relay: bool = False


def recipient(session: Session, *, beneficiary: Beneficiary) -> Recipient | None:
    """Her own phone; a shared one with her name; her CHW's when she has none; or None."""
    if beneficiary.phone_id is not None and beneficiary.phone_kind != PhoneKind.NONE:
        phone = session.get(Phone, beneficiary.phone_id)
        # An opted-out phone stays silent: her wish is not rerouted to the CHW.
        if phone is None or phone.status != PhoneStatus.ACTIVE:
            return None
        language = beneficiary.language
        prefix = ""
        if beneficiary.phone_kind == PhoneKind.SHARED:
            prefix = _prefix(language, relay=False)
        return Recipient(phone.e164, language, prefix, texts.addressee(beneficiary.name, language))
    chw = session.get(Chw, beneficiary.chw_id) if beneficiary.chw_id else None
    if chw is None or not chw.active:
        return None
    chw_phone = session.get(Phone, chw.phone_id)
    if chw_phone is None or chw_phone.status != PhoneStatus.ACTIVE:
        return None
    # The CHW reads the message and passes it on: it is written in her language.
    prefix = _prefix(chw.language, relay=True)
    name = texts.addressee(beneficiary.name, chw.language)
    return Recipient(chw_phone.e164, chw.language, prefix, name, relay=True)


def current_text(session: Session, *, enrollment: Enrollment, language: str) -> str | None:
    """The programme message of her current stage, as sent (advice again on demand)."""
    library = content_service.with_approvals(session, texts.load())
    slots = content_schedule.slots(library.values(), include_drafts=get_settings().send_drafts)
    slot = content_schedule.current(
        slots, programme=enrollment.programme, anchor=enrollment.anchor_date, day=local_today()
    )
    if slot is None:
        return None
    return library[slot.key].text(language, gsm_safe=_gsm_safe(language))


def _gsm_safe(language: str) -> bool:
    return get_settings().content_gsm_safe.get(language, True)


def _prefix(language: str, *, relay: bool) -> str:
    before, after = texts.address_parts(language, relay=relay, gsm_safe=_gsm_safe(language))
    return before + bodies.NAME + after


def _cancel_programme_messages(session: Session, *, beneficiary_id: int, reason: str) -> None:
    now = utcnow()
    session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.beneficiary_id) == beneficiary_id,
            col(OutboundMessage.kind).in_([MessageKind.PROGRAMME, MessageKind.REMINDER]),
            is_sendable(),
        )
        .values(status=MessageStatus.CANCELLED, failure_reason=reason, final_at=now, updated_at=now)
    )
