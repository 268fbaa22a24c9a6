"""One beneficiary's data: everything held about her as one document, and her erasure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, SQLModel, col, select

from outreach.accounts.models import StaffUser
from outreach.appointments.models import Appointment, AppointmentStatus
from outreach.audit import service as audit
from outreach.audit.models import AuditEntry
from outreach.chws.models import Chw
from outreach.encryption import keys
from outreach.imports.models import BeneficiaryImport
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.outbox.models import (
    MessageAttempt,
    MessageStatus,
    OutboundMessage,
    addressed_to,
    is_sendable,
)
from outreach.programmes.costs import PREFIX_LENGTH
from outreach.programmes.models import Enrollment, EnrollmentStatus
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    Child,
    Consent,
    Phone,
    PhoneKind,
    SelfRegistration,
    Transfer,
)
from outreach.sites.models import Site
from outreach.timeutil import local_today, utcnow
from outreach.ussd.models import UssdSessionEvent

EXPORT_FORMAT = 1
# What her name becomes: the row stays (programme, stage, village, dates) for the counts.
ERASED_NAME = "Effacée"
# Still being handed to the gateway: left to finish, then blanked by the retention purge.
IN_FLIGHT = (MessageStatus.SENDING.value,)


def _dump(row: SQLModel, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data = row.model_dump(mode="json")
    for key in drop:
        data.pop(key, None)
    return data


def _phone_of(session: Session, beneficiary: Beneficiary) -> Phone | None:
    return session.get(Phone, beneficiary.phone_id) if beneficiary.phone_id is not None else None


def _about_her(beneficiary_id: int) -> Any:
    """Messages to her, or about her to her CHW (the registration notice names her)."""
    return or_(
        col(OutboundMessage.beneficiary_id) == beneficiary_id,
        col(OutboundMessage.dedupe_key) == f"registered-chw:{beneficiary_id}",
    )


def _others_on_phone(session: Session, phone: Phone, beneficiary_id: int) -> int:
    """Other women and CHWs using this handset: their number must stay."""
    women = session.exec(
        select(Beneficiary.id).where(
            Beneficiary.phone_id == phone.id, col(Beneficiary.id) != beneficiary_id
        )
    ).all()
    chws = session.exec(select(Chw.id).where(Chw.phone_id == phone.id)).all()
    return len(women) + len(chws)


def export_beneficiary(session: Session, *, beneficiary: Beneficiary) -> dict[str, Any]:
    """Everything held about her (a shared phone's other users left out), as JSON values."""
    assert beneficiary.id is not None
    her = beneficiary.id
    phone = _phone_of(session, beneficiary)
    # Texts from or about the number are hers only when nobody else uses that phone.
    own_number = (
        phone.e164 if phone is not None and _others_on_phone(session, phone, her) == 0 else None
    )
    village = session.get(Site, beneficiary.village_id) if beneficiary.village_id else None
    chw = session.get(Chw, beneficiary.chw_id) if beneficiary.chw_id else None

    outbound_filter = _about_her(her)
    if own_number:
        outbound_filter = or_(outbound_filter, addressed_to(own_number))
    outbound = session.exec(
        select(OutboundMessage).where(outbound_filter).order_by(col(OutboundMessage.id))
    ).all()
    inbound_filter = col(InboundMessage.beneficiary_id) == her
    if own_number:
        inbound_filter = or_(inbound_filter, _from(own_number))
    inbound = session.exec(
        select(InboundMessage).where(inbound_filter).order_by(col(InboundMessage.id))
    ).all()
    events = (
        session.exec(
            select(UssdSessionEvent)
            .where(_dialled_by(own_number))
            .order_by(col(UssdSessionEvent.id))
        ).all()
        if own_number
        else []
    )
    notices = (
        session.exec(select(OptOutNotice).where(_opted_out(own_number))).all() if own_number else []
    )
    registration = session.exec(
        select(SelfRegistration).where(SelfRegistration.beneficiary_id == her)
    ).first()
    audit = session.exec(
        select(AuditEntry)
        .where(AuditEntry.object_type == "beneficiary", AuditEntry.object_id == str(her))
        .order_by(col(AuditEntry.id))
    ).all()

    def rows(model: Any, column: Any) -> list[dict[str, Any]]:
        found = session.exec(select(model).where(column == her).order_by(col(model.id))).all()
        return [_dump(r) for r in found]

    return {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "beneficiary": {
            **_dump(beneficiary),
            "village": village.name if village else None,
            "chw": {"id": chw.id, "name": chw.name} if chw else None,
        },
        "phone": (
            {
                "number": phone.e164,
                "status": phone.status,
                "opted_out_at": phone.opted_out_at.isoformat() if phone.opted_out_at else None,
                "kind": beneficiary.phone_kind,
                "shared": own_number is None,
            }
            if phone
            else None
        ),
        "consents": rows(Consent, Consent.beneficiary_id),
        "children": rows(Child, Child.mother_id),
        "enrollments": rows(Enrollment, Enrollment.beneficiary_id),
        "appointments": rows(Appointment, Appointment.beneficiary_id),
        "transfers": rows(Transfer, Transfer.beneficiary_id),
        "self_registration": _dump(registration) if registration else None,
        # Bodies are kept until the retention period ends; then they are "" with redacted_at.
        "messages_sent": [
            _dump(m, drop=("lease_owner", "lease_expires_at", "enqueued_at")) for m in outbound
        ],
        "messages_received": [
            _dump(m, drop=("assigned_user_id", "handled_by_user_id")) for m in inbound
        ],
        "ussd_sessions": [_dump(e) for e in events],
        "operator_opt_outs": [_dump(n) for n in notices],
        # Who did what to her record, and when (the staff member's id, not her data).
        "audit": [_dump(a, drop=("ip",)) for a in audit],
    }


@dataclass
class Erasure:
    already: bool = False
    messages_cancelled: int = 0
    messages_blanked: int = 0
    messages_in_flight: int = 0
    inbound_blanked: int = 0
    ussd_events: int = 0
    appointments_cancelled: int = 0
    enrollments_stopped: int = 0
    children: int = 0
    phone_removed: bool = False
    import_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from(e164: str) -> ColumnElement[bool]:
    return col(InboundMessage.from_index).in_(keys.blind_indexes(e164))


def _dialled_by(e164: str) -> ColumnElement[bool]:
    return col(UssdSessionEvent.phone_index).in_(keys.blind_indexes(e164))


def _opted_out(e164: str) -> ColumnElement[bool]:
    return col(OptOutNotice.phone_index).in_(keys.blind_indexes(e164))


def _prefix(e164: str) -> str:
    # The country and network part only: per-network counts stay, the person does not.
    return e164[:PREFIX_LENGTH]


def erase_beneficiary(session: Session, *, beneficiary: Beneficiary) -> Erasure:
    """Anonymise her for good, keeping counts, statuses, costs and non-identifying fields."""
    if beneficiary.erased_at is not None:
        return Erasure(already=True)
    assert beneficiary.id is not None
    her = beneficiary.id
    now = utcnow()
    result = Erasure()
    name = beneficiary.name
    phone = _phone_of(session, beneficiary)
    own_number = (
        phone.e164 if phone is not None and _others_on_phone(session, phone, her) == 0 else None
    )

    # Nothing more goes out to her: waiting messages, reminders, programmes.
    mine = _about_her(her)
    if own_number:
        mine = or_(mine, addressed_to(own_number))
    cancelled = session.execute(
        update(OutboundMessage)
        .where(mine, is_sendable())
        .values(
            status=MessageStatus.CANCELLED,
            failure_reason="beneficiary_erased",
            final_at=now,
            updated_at=now,
        )
    )
    result.messages_cancelled = int(getattr(cancelled, "rowcount", 0) or 0)
    # Her appointments' reminders carry her id: the update above cancelled them already.
    today = local_today()
    for appointment in session.exec(
        select(Appointment).where(Appointment.beneficiary_id == her)
    ).all():
        if appointment.status == AppointmentStatus.SCHEDULED and appointment.due_on >= today:
            appointment.status = AppointmentStatus.CANCELLED
            appointment.updated_at = now
            result.appointments_cancelled += 1
        appointment.addressee = None
        session.add(appointment)
    for enrollment in session.exec(
        select(Enrollment).where(Enrollment.beneficiary_id == her)
    ).all():
        if enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
            enrollment.status = EnrollmentStatus.STOPPED
            result.enrollments_stopped += 1
        enrollment.addressee = None
        session.add(enrollment)

    # What was said to her and by her: bodies blanked, her number cut to its network prefix.
    finished = and_(mine, col(OutboundMessage.status).not_in(IN_FLIGHT))
    message_ids = [i for i in session.exec(select(OutboundMessage.id).where(finished)).all() if i]
    if message_ids:
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id).in_(message_ids))
            .values(body="", addressee=None, last_error=None, redacted_at=now)
        )
        if own_number:
            # Reminders about her sent to her CHW keep the CHW's number.
            session.execute(
                update(OutboundMessage)
                .where(
                    col(OutboundMessage.id).in_(message_ids),
                    addressed_to(own_number),
                )
                # The blind index goes too: with the index key it would still confirm her number.
                .values(to_number=_prefix(own_number), to_index=None)
            )
        session.execute(
            update(MessageAttempt)
            .where(col(MessageAttempt.message_id).in_(message_ids))
            .values(error=None)
        )
    result.messages_blanked = len(message_ids)
    in_flight = session.exec(
        select(OutboundMessage.id).where(mine, col(OutboundMessage.status).in_(IN_FLIGHT))
    ).all()
    result.messages_in_flight = len(in_flight)
    heard = col(InboundMessage.beneficiary_id) == her
    if own_number:
        heard = or_(heard, _from(own_number))
    inbound_ids = [i for i in session.exec(select(InboundMessage.id).where(heard)).all() if i]
    if inbound_ids:
        session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id).in_(inbound_ids))
            .values(text="", redacted_at=now)
        )
        if own_number:
            session.execute(
                update(InboundMessage)
                .where(
                    col(InboundMessage.id).in_(inbound_ids),
                    _from(own_number),
                )
                .values(from_number=_prefix(own_number), from_index=None)
            )
    result.inbound_blanked = len(inbound_ids)
    if own_number:
        events = session.execute(
            update(UssdSessionEvent)
            .where(_dialled_by(own_number))
            .values(
                phone_number=_prefix(own_number),
                phone_index=None,
                input=None,
                last_app_response=None,
                error_message=None,
            )
        )
        result.ussd_events = int(getattr(events, "rowcount", 0) or 0)
        session.execute(
            update(OptOutNotice)
            .where(_opted_out(own_number))
            .values(phone_number=_prefix(own_number), phone_index=None)
        )

    for child in session.exec(select(Child).where(Child.mother_id == her)).all():
        child.name = None
        session.add(child)
        result.children += 1
    registration = session.exec(
        select(SelfRegistration).where(SelfRegistration.beneficiary_id == her)
    ).first()
    if registration is not None:
        registration.village_text = None
        session.add(registration)
    result.import_rows = _scrub_imports(
        session,
        name=name,
        number=phone.e164 if phone else None,
        village_id=beneficiary.village_id,
    )

    beneficiary.name = ERASED_NAME
    beneficiary.phone_id = None
    beneficiary.phone_kind = PhoneKind.NONE
    beneficiary.status = BeneficiaryStatus.OPTED_OUT
    beneficiary.erased_at = now
    session.add(beneficiary)
    session.flush()
    if phone is not None and own_number:
        # Nobody else uses the handset: the number itself goes.
        session.delete(phone)
        result.phone_removed = True
    session.flush()
    return result


def _scrub_imports(
    session: Session, *, name: str, number: str | None, village_id: int | None
) -> int:
    """Remove her line from CSV imports still holding their rows."""
    scrubbed = 0
    for batch in session.exec(select(BeneficiaryImport)).all():
        rows = []
        changed = False
        for row in batch.rows:
            same_place = (
                row.get("phone") == number if number else row.get("village_id") == village_id
            )
            if row.get("name") == name and same_place:
                rows.append({**row, "name": ERASED_NAME, "phone": None})
                changed = True
                scrubbed += 1
            else:
                rows.append(row)
        if changed:
            batch.rows = rows
            session.add(batch)
    return scrubbed


def export_audited(
    session: Session,
    *,
    beneficiary: Beneficiary,
    user: StaffUser | None = None,
    actor: str | None = None,
    ip: str | None = None,
) -> dict[str, Any]:
    """Her document, with an audit entry naming who took it (never its content)."""
    document = export_beneficiary(session, beneficiary=beneficiary)
    audit.record(
        session,
        action="beneficiary.export",
        user=user,
        actor=actor,
        object_type="beneficiary",
        object_id=beneficiary.id,
        detail={"format": "json"},
        ip=ip,
    )
    return document


def erase_audited(
    session: Session,
    *,
    beneficiary: Beneficiary,
    user: StaffUser | None = None,
    actor: str | None = None,
    ip: str | None = None,
) -> Erasure:
    """Erase her and audit it with the counts; a second erasure changes and records nothing."""
    result = erase_beneficiary(session, beneficiary=beneficiary)
    if not result.already:
        audit.record(
            session,
            action="beneficiary.erase",
            user=user,
            actor=actor,
            object_type="beneficiary",
            object_id=beneficiary.id,
            detail=result.as_dict(),
            ip=ip,
        )
    return result
