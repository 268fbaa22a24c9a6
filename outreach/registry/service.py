"""Registering beneficiaries and their enrollments."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, select

from messages import library
from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageKind, Priority
from outreach.programmes import service as programmes_service
from outreach.programmes.models import Enrollment
from outreach.registry import phones
from outreach.registry.models import Beneficiary, Phone, PhoneKind, PhoneStatus
from outreach.timeutil import local_today, utcnow

FULL_TERM_WEEKS = 40
MIN_PREGNANCY_WEEKS = 1
MAX_PREGNANCY_WEEKS = 42
CODE_DIGITS = 6


class RegistrationError(ValueError):
    """A registration answer that cannot be accepted, with a reason fit for the screen."""


def get_or_create_phone(session: Session, *, raw: str) -> Phone:
    """The phone row for a number, created on first sight; raises InvalidPhoneNumber."""
    e164 = phones.normalize(raw)
    phone = session.exec(select(Phone).where(Phone.e164 == e164)).first()
    if phone is None:
        phone = Phone(e164=e164)
        session.add(phone)
        session.flush()
    return phone


def edd_from_weeks(*, weeks: int, today: date) -> date:
    """Expected delivery date for a pregnancy of `weeks` completed weeks."""
    if not MIN_PREGNANCY_WEEKS <= weeks <= MAX_PREGNANCY_WEEKS:
        raise RegistrationError("semaines hors limites")
    return today + timedelta(weeks=FULL_TERM_WEEKS - weeks)


def new_code(session: Session) -> str:
    """A short numeric registration code, easy to type on a keypad, unique."""
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        if (
            code[0] != "0"
            and not session.exec(select(Beneficiary.id).where(Beneficiary.code == code)).first()
        ):
            return code


@dataclass(frozen=True, slots=True)
class Registration:
    beneficiary: Beneficiary
    enrollment: Enrollment
    welcome_message_id: int | None


def register_pregnancy(
    session: Session,
    *,
    name: str,
    phone: str,
    weeks: int,
    chw_id: int | None,
    language: str = "fr",
    village_id: int | None = None,
    displaced: bool = False,
    phone_kind: PhoneKind = PhoneKind.OWN,
) -> Registration:
    """Create a pregnant beneficiary, her enrollment and her welcome SMS, in one transaction."""
    clean_name = " ".join(name.split())
    if not clean_name:
        raise RegistrationError("nom vide")
    today = local_today()
    edd = edd_from_weeks(weeks=weeks, today=today)
    phone_row = get_or_create_phone(session, raw=phone)
    beneficiary = Beneficiary(
        code=new_code(session),
        name=clean_name[:120],
        phone_id=phone_row.id,
        phone_kind=phone_kind,
        chw_id=chw_id,
        village_id=village_id,
        language=language,
        displaced=displaced,
    )
    session.add(beneficiary)
    session.flush()
    assert beneficiary.id is not None
    enrollment = programmes_service.start_pregnancy(session, beneficiary_id=beneficiary.id, edd=edd)
    welcome_id = None
    if phone_row.status == PhoneStatus.ACTIVE:
        welcome = outbox_service.enqueue(
            session,
            dedupe_key=f"welcome:{beneficiary.id}",
            to_number=phone_row.e164,
            body=library.render("welcome_pregnancy", language, name=beneficiary.name),
            kind=MessageKind.REPLY,
            priority=Priority.INTERACTIVE,
            beneficiary_id=beneficiary.id,
            language=language,
        )
        welcome_id = welcome.id
    session.flush()
    return Registration(
        beneficiary=beneficiary, enrollment=enrollment, welcome_message_id=welcome_id
    )


def opt_out_phone(session: Session, *, raw: str, reason: str) -> Phone | None:
    """Stop every message to a number and cancel what is still queued for it."""
    try:
        e164 = phones.normalize(raw)
    except phones.InvalidPhoneNumber:
        return None
    phone = session.exec(select(Phone).where(Phone.e164 == e164)).first()
    if phone is None:
        phone = Phone(e164=e164)
    phone.status = PhoneStatus.OPTED_OUT
    phone.opted_out_at = utcnow()
    session.add(phone)
    outbox_service.cancel_for_phone(session, e164=e164, reason=reason)
    session.flush()
    return phone
