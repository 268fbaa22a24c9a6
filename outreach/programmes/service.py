"""Starting, switching and stopping programme enrollments."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update
from sqlmodel import Session, col, select

from messages import library
from outreach.outbox import service as outbox_service
from outreach.outbox.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Priority,
    is_sendable,
)
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry.models import Beneficiary, Child, Phone, PhoneStatus
from outreach.timeutil import utcnow


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


def start_pregnancy(session: Session, *, beneficiary_id: int, edd: date) -> Enrollment:
    """Enroll a pregnant woman, anchored on her expected delivery date."""
    enrollment = Enrollment(
        beneficiary_id=beneficiary_id, programme=Programme.PREGNANCY, anchor_date=edd
    )
    session.add(enrollment)
    session.flush()
    return enrollment


def start_infant(session: Session, *, beneficiary_id: int, child: Child) -> Enrollment:
    """Enroll a mother for her infant, anchored on the child's date of birth."""
    enrollment = Enrollment(
        beneficiary_id=beneficiary_id,
        child_id=child.id,
        programme=Programme.INFANT,
        anchor_date=child.birth_date,
    )
    session.add(enrollment)
    session.flush()
    return enrollment


def record_birth(
    session: Session,
    *,
    beneficiary_id: int,
    birth_date: date,
    sex: str | None = None,
    child_name: str | None = None,
) -> Enrollment:
    """Close the pregnancy and move the mother to the infant programme from the real birth date."""
    for enrollment in active_enrollments(session, beneficiary_id=beneficiary_id):
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
    for enrollment in active_enrollments(session, beneficiary_id=beneficiary_id):
        enrollment.status = EnrollmentStatus.STOPPED
        session.add(enrollment)
    _cancel_programme_messages(session, beneficiary_id=beneficiary_id, reason="loss")
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None or beneficiary.phone_id is None:
        return
    phone = session.get(Phone, beneficiary.phone_id)
    if phone is None or phone.status != PhoneStatus.ACTIVE:
        return
    outbox_service.enqueue(
        session,
        dedupe_key=f"loss:{beneficiary_id}:{utcnow().date().isoformat()}",
        to_number=phone.e164,
        body=library.render("loss_support", beneficiary.language, name=beneficiary.name),
        kind=MessageKind.REPLY,
        priority=Priority.INTERACTIVE,
        beneficiary_id=beneficiary_id,
        language=beneficiary.language,
    )


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
