"""Registering beneficiaries and children: consent, duplicates, transfers, self-registration."""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, and_, exists, or_, update
from sqlmodel import Session, col, select

from messages import texts
from outreach.db import insert_new, insert_row
from outreach.outbox import bodies
from outreach.outbox import service as outbox_service
from outreach.outbox.models import (
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Priority,
    is_sendable,
)
from outreach.programmes import service as programmes_service
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry import names, phones
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    Child,
    Consent,
    ConsentChannel,
    NameKind,
    Phone,
    PhoneKind,
    PhoneStatus,
    SelfRegistration,
    Transfer,
    has_number,
)
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

FULL_TERM_WEEKS = 40
MIN_PREGNANCY_WEEKS = 1
MAX_PREGNANCY_WEEKS = 42
MAX_INFANT_MONTHS = 24
CODE_DIGITS = 6
# Two spellings of one name by two people (Aoua / Awa, Traore / Traoré) score above this.
NAME_SIMILARITY = 82
DUPLICATE_WINDOW = timedelta(weeks=4)
DAYS_PER_MONTH = 30.4375


class RegistrationError(ValueError):
    """A registration answer that cannot be accepted, with a reason fit for the screen."""


def get_or_create_phone(session: Session, *, raw: str) -> Phone:
    """The phone row for a number, created on first sight; raises InvalidPhoneNumber."""
    e164 = phones.normalize(raw)
    created = insert_new(session, Phone(e164=e164), conflict=("e164_index",))
    if created is not None:
        return created
    return session.exec(select(Phone).where(has_number(e164))).one()


def edd_from_weeks(*, weeks: int, today: date) -> date:
    """Expected delivery date for a pregnancy of `weeks` completed weeks."""
    if not MIN_PREGNANCY_WEEKS <= weeks <= MAX_PREGNANCY_WEEKS:
        raise RegistrationError("semaines hors limites")
    return today + timedelta(weeks=FULL_TERM_WEEKS - weeks)


def weeks_from_edd(*, edd: date, today: date) -> int:
    """Completed weeks of pregnancy today for an expected delivery date."""
    return FULL_TERM_WEEKS - (edd - today).days // 7


def weeks_from_months(months: int) -> int:
    """Months of pregnancy as counted in the field, in completed weeks."""
    return max(MIN_PREGNANCY_WEEKS, round(months * DAYS_PER_MONTH / 7))


def birth_date_from_age(
    *, weeks: int | None = None, months: int | None = None, today: date
) -> date:
    """An infant's estimated date of birth from an age in weeks or months."""
    if weeks is not None:
        return today - timedelta(weeks=weeks)
    return today - timedelta(days=round((months or 0) * DAYS_PER_MONTH))


def new_code() -> str:
    """A short numeric registration code, easy to type on a keypad (never starting with 0).

    Uniqueness is the database's: the insert skips a taken code and draws again.
    """
    return secrets.choice("123456789") + "".join(
        secrets.choice("0123456789") for _ in range(CODE_DIGITS - 1)
    )


def normalise_name(name: str) -> str:
    """Lower case, no accents, letters and single spaces: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z]+", " ", plain).split())


def similar_names(a: str, b: str) -> bool:
    """True when two names are probably the same person's, spelt by two people."""
    return fuzz.token_sort_ratio(normalise_name(a), normalise_name(b)) >= NAME_SIMILARITY


@dataclass(frozen=True, slots=True)
class ConsentInfo:
    """A consent given during registration: by whom, through which channel, to which text."""

    text_key: str
    text_version: int
    language: str
    channel: str = ConsentChannel.USSD
    chw_id: int | None = None
    # False for a withdrawal: STOP is logged like a consent, with the text it was shown.
    granted: bool = True


@dataclass(frozen=True, slots=True)
class Registration:
    beneficiary: Beneficiary
    enrollment: Enrollment
    welcome_message_id: int | None


def _new_beneficiary(
    session: Session,
    *,
    name: str,
    phone: str | None,
    phone_kind: PhoneKind,
    chw_id: int | None,
    language: str,
    village_id: int | None,
    displaced: bool,
    status: BeneficiaryStatus = BeneficiaryStatus.ACTIVE,
) -> Beneficiary:
    clean_name = " ".join(name.split())
    if not clean_name:
        raise RegistrationError("nom vide")
    phone_row = get_or_create_phone(session, raw=phone) if phone else None
    while True:
        beneficiary = Beneficiary(
            code=new_code(),
            name=clean_name[:120],
            phone_id=phone_row.id if phone_row else None,
            phone_kind=phone_kind if phone_row else PhoneKind.NONE,
            chw_id=chw_id,
            village_id=village_id,
            language=language,
            displaced=displaced,
            status=status,
        )
        if insert_new(session, beneficiary, conflict=("code",)) is not None:
            # A plain INSERT, not a flush: the name's search tokens are written here.
            assert beneficiary.id is not None
            names.index(
                session, kind=NameKind.BENEFICIARY, owner_id=beneficiary.id, name=beneficiary.name
            )
            return beneficiary


def record_consent(session: Session, *, beneficiary_id: int, consent: ConsentInfo) -> Consent:
    """Keep who agreed to the messages, for whom, when, how and to which text."""
    row = Consent(
        beneficiary_id=beneficiary_id,
        chw_id=consent.chw_id,
        channel=consent.channel,
        text_key=consent.text_key,
        text_version=consent.text_version,
        language=consent.language,
        granted=consent.granted,
    )
    return insert_row(session, row)


def register_pregnancy(
    session: Session,
    *,
    name: str,
    phone: str | None,
    weeks: int | None = None,
    edd: date | None = None,
    chw_id: int | None,
    language: str = "fr",
    village_id: int | None = None,
    displaced: bool = False,
    phone_kind: PhoneKind = PhoneKind.OWN,
    consent: ConsentInfo | None = None,
) -> Registration:
    """Create a pregnant beneficiary, her enrollment and confirmation SMS, in one transaction."""
    today = local_today()
    if edd is None:
        if weeks is None:
            raise RegistrationError("ni semaines ni terme")
        edd = edd_from_weeks(weeks=weeks, today=today)
    return _register(
        session,
        enroll=lambda b_id: programmes_service.start_pregnancy(
            session, beneficiary_id=b_id, edd=edd
        ),
        consent=consent,
        name=name,
        phone=phone,
        phone_kind=phone_kind,
        chw_id=chw_id,
        language=language,
        village_id=village_id,
        displaced=displaced,
    )


def _register(
    session: Session,
    *,
    enroll: Callable[[int], Enrollment],
    consent: ConsentInfo | None,
    **fields: Any,
) -> Registration:
    # The steps every registration shares, around the programme it starts.
    beneficiary = _new_beneficiary(session, **fields)
    assert beneficiary.id is not None
    if consent is not None:
        record_consent(session, beneficiary_id=beneficiary.id, consent=consent)
    enrollment = enroll(beneficiary.id)
    welcome_id = notify_registration(session, beneficiary=beneficiary)
    return Registration(
        beneficiary=beneficiary, enrollment=enrollment, welcome_message_id=welcome_id
    )


def add_child(
    session: Session, *, beneficiary_id: int, birth_date: date, sex: str | None
) -> Enrollment:
    """Add an infant to a mother and enroll her in the infant programme for it."""
    child = Child(mother_id=beneficiary_id, birth_date=birth_date, sex=sex)
    session.add(child)
    session.flush()
    return programmes_service.start_infant(session, beneficiary_id=beneficiary_id, child=child)


def register_mother_with_infant(
    session: Session,
    *,
    name: str,
    phone: str | None,
    birth_date: date,
    sex: str | None,
    chw_id: int | None,
    language: str = "fr",
    village_id: int | None = None,
    displaced: bool = False,
    phone_kind: PhoneKind = PhoneKind.OWN,
    consent: ConsentInfo | None = None,
) -> Registration:
    """Create a mother, her infant, the infant enrollment and the confirmation SMS."""
    return _register(
        session,
        enroll=lambda b_id: add_child(session, beneficiary_id=b_id, birth_date=birth_date, sex=sex),
        consent=consent,
        name=name,
        phone=phone,
        phone_kind=phone_kind,
        chw_id=chw_id,
        language=language,
        village_id=village_id,
        displaced=displaced,
    )


def _phone_of(session: Session, phone_id: int | None) -> Phone | None:
    return session.get(Phone, phone_id) if phone_id is not None else None


def _chw_contact(session: Session, chw_id: int | None) -> tuple[str, str, Phone | None, str]:
    """Name, phone number, phone row and language of a CHW (empty when unknown)."""
    from outreach.chws.models import Chw

    if chw_id is None:
        return "", "", None, "fr"
    # One query for both rows: this runs on the confirming USSD hop.
    found = session.exec(
        select(Chw.name, Chw.language, Phone)
        .join(Phone, col(Phone.id) == col(Chw.phone_id))
        .where(Chw.id == chw_id)
    ).first()
    if found is None:
        return "", "", None, "fr"
    name, language, phone = found
    return name, phones.national(phone.e164), phone, language


def notify_registration(session: Session, *, beneficiary: Beneficiary) -> int | None:
    """Queue the confirmation SMS: to her (or to her CHW, addressed by name) and to the CHW."""
    assert beneficiary.id is not None
    _chw_name, chw_number, chw_phone, chw_language = _chw_contact(session, beneficiary.chw_id)
    # Her name's place is a marker; the row's encrypted addressee holds it (outbox.bodies).
    values: dict[str, Any] = {
        "name": bodies.NAME,
        "code": beneficiary.code,
        "chw_phone": chw_number,
    }
    own = _phone_of(session, beneficiary.phone_id)
    welcome_id = None
    if own is not None and own.status == PhoneStatus.ACTIVE:
        key = "ussd_registration_shared" if beneficiary.phone_kind == PhoneKind.SHARED else None
        welcome = outbox_service.enqueue(
            session,
            dedupe_key=f"welcome:{beneficiary.id}",
            to_number=own.e164,
            body=texts.render(key or "ussd_registration_confirmed", beneficiary.language, **values),
            addressee=beneficiary.name,
            kind=MessageKind.REPLY,
            priority=Priority.INTERACTIVE,
            beneficiary_id=beneficiary.id,
            language=beneficiary.language,
        )
        welcome_id = welcome.id
    elif own is None and chw_phone is not None and chw_phone.status == PhoneStatus.ACTIVE:
        # No phone: her messages go to the CHW, addressed by her name, in her language.
        welcome = outbox_service.enqueue(
            session,
            dedupe_key=f"welcome:{beneficiary.id}",
            to_number=chw_phone.e164,
            body=texts.render("ussd_registration_proxy", beneficiary.language, **values),
            addressee=beneficiary.name,
            kind=MessageKind.REPLY,
            priority=Priority.INTERACTIVE,
            beneficiary_id=beneficiary.id,
            language=beneficiary.language,
        )
        welcome_id = welcome.id
    if chw_phone is not None and chw_phone.status == PhoneStatus.ACTIVE:
        outbox_service.enqueue(
            session,
            dedupe_key=f"registered-chw:{beneficiary.id}",
            to_number=chw_phone.e164,
            body=texts.render("ussd_registration_chw", chw_language, **values),
            addressee=beneficiary.name,
            kind=MessageKind.REPLY,
            priority=Priority.INTERACTIVE,
            language=chw_language,
        )
    session.flush()
    return welcome_id


def anchor_dates(session: Session, *, beneficiary_id: int) -> list[date]:
    """The dates a record is pinned to: EDDs, births, or a self-registration's estimate."""
    dates: list[date] = []
    for enrollment in session.exec(
        select(Enrollment).where(Enrollment.beneficiary_id == beneficiary_id)
    ):
        dates.append(enrollment.anchor_date)
    for child in session.exec(select(Child).where(Child.mother_id == beneficiary_id)):
        dates.append(child.birth_date)
    for pending in session.exec(
        select(SelfRegistration).where(SelfRegistration.beneficiary_id == beneficiary_id)
    ):
        dates.append(pending.estimated_anchor)
    return dates


def _anchored_near(anchor: date) -> Any:
    """Women with an EDD, a birth or a self-registration estimate within the window."""
    low, high = anchor - DUPLICATE_WINDOW, anchor + DUPLICATE_WINDOW
    ben_id = col(Beneficiary.id)
    return or_(
        exists().where(
            col(Enrollment.beneficiary_id) == ben_id,
            col(Enrollment.anchor_date).between(low, high),
        ),
        exists().where(col(Child.mother_id) == ben_id, col(Child.birth_date).between(low, high)),
        exists().where(
            col(SelfRegistration.beneficiary_id) == ben_id,
            col(SelfRegistration.estimated_anchor).between(low, high),
        ),
    )


def find_duplicates(
    session: Session,
    *,
    name: str,
    phone: str | None,
    village_id: int | None,
    anchor: date | None,
) -> list[Beneficiary]:
    """Likely existing records of the same woman: same phone and a similar name, or same
    village, a similar name and an EDD (or birth) within four weeks."""
    # The database narrows by phone, or by village and date; names are compared here,
    # on a handful of rows, because "similar" is a fuzzy score. Only ids and names are
    # read until a match is found: this runs on the confirming USSD hop.
    conditions: list[ColumnElement[bool]] = []
    if phone:
        conditions.append(
            col(Beneficiary.phone_id).in_(select(col(Phone.id)).where(has_number(phone)))
        )
    if village_id is not None and anchor is not None:
        conditions.append(and_(col(Beneficiary.village_id) == village_id, _anchored_near(anchor)))
    if not conditions:
        return []
    candidates = session.execute(
        select(Beneficiary.id, Beneficiary.name).where(or_(*conditions))
    ).all()
    ids = [ben_id for ben_id, other in candidates if similar_names(name, other)]
    if not ids:
        return []
    found = session.exec(select(Beneficiary).where(col(Beneficiary.id).in_(ids))).all()
    return sorted(found, key=lambda b: b.created_at, reverse=True)


def confirm_pending(
    session: Session,
    *,
    beneficiary_id: int,
    chw_id: int,
    edd: date | None = None,
    birth_date: date | None = None,
    sex: str | None = None,
    village_id: int | None = None,
    consent: ConsentInfo | None = None,
) -> Beneficiary:
    """A CHW confirms a self-registration: she is enrolled and gets her confirmation SMS."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None or beneficiary.status != BeneficiaryStatus.PENDING:
        raise RegistrationError("pas en attente")
    pending = session.exec(
        select(SelfRegistration).where(SelfRegistration.beneficiary_id == beneficiary_id)
    ).first()
    if edd is None and birth_date is None and pending is not None:
        if pending.kind == Programme.INFANT:
            birth_date = pending.estimated_anchor
        else:
            edd = pending.estimated_anchor
    beneficiary.status = BeneficiaryStatus.ACTIVE
    beneficiary.chw_id = chw_id
    if village_id is not None:
        beneficiary.village_id = village_id
    session.add(beneficiary)
    if consent is not None:
        record_consent(session, beneficiary_id=beneficiary_id, consent=consent)
    if birth_date is not None:
        add_child(session, beneficiary_id=beneficiary_id, birth_date=birth_date, sex=sex)
    else:
        programmes_service.start_pregnancy(
            session, beneficiary_id=beneficiary_id, edd=edd or local_today()
        )
    if pending is not None:
        pending.confirmed_at = utcnow()
        pending.confirmed_by_chw_id = chw_id
        session.add(pending)
    session.flush()
    notify_registration(session, beneficiary=beneficiary)
    return beneficiary


def self_register(
    session: Session,
    *,
    phone: str,
    name: str,
    language: str,
    weeks: int | None = None,
    child_months: int | None = None,
    village_text: str | None = None,
    village_id: int | None = None,
) -> Beneficiary:
    """A woman registers herself by USSD: a pending record and a welcome SMS, nothing more."""
    today = local_today()
    if weeks is not None:
        kind, anchor = Programme.PREGNANCY, edd_from_weeks(weeks=weeks, today=today)
    elif child_months is not None:
        kind, anchor = Programme.INFANT, birth_date_from_age(months=child_months, today=today)
    else:
        raise RegistrationError("ni grossesse ni enfant")
    beneficiary = _new_beneficiary(
        session,
        name=name,
        phone=phone,
        phone_kind=PhoneKind.OWN,
        chw_id=None,
        language=language,
        village_id=village_id,
        displaced=False,
        status=BeneficiaryStatus.PENDING,
    )
    assert beneficiary.id is not None
    session.add(
        SelfRegistration(
            beneficiary_id=beneficiary.id,
            kind=kind,
            stated_weeks=weeks,
            stated_child_months=child_months,
            estimated_anchor=anchor,
            village_text=village_text,
        )
    )
    record_consent(
        session,
        beneficiary_id=beneficiary.id,
        consent=ConsentInfo(text_key="self_consent", text_version=1, language=language),
    )
    own = _phone_of(session, beneficiary.phone_id)
    if own is not None and own.status == PhoneStatus.ACTIVE:
        outbox_service.enqueue(
            session,
            dedupe_key=f"self-welcome:{beneficiary.id}",
            to_number=own.e164,
            body=texts.render("ussd_self_registration", language, name=bodies.NAME),
            addressee=beneficiary.name,
            kind=MessageKind.REPLY,
            priority=Priority.INTERACTIVE,
            beneficiary_id=beneficiary.id,
            language=language,
        )
    session.flush()
    return beneficiary


def transfer(
    session: Session, *, beneficiary_id: int, to_chw_id: int, to_village_id: int | None
) -> Transfer:
    """Another CHW takes her over: enrollments and history stay, the move is recorded."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        raise RegistrationError("inconnue")
    move = Transfer(
        beneficiary_id=beneficiary_id,
        from_chw_id=beneficiary.chw_id,
        to_chw_id=to_chw_id,
        from_village_id=beneficiary.village_id,
        to_village_id=to_village_id,
    )
    beneficiary.chw_id = to_chw_id
    if to_village_id is not None:
        beneficiary.village_id = to_village_id
    session.add(beneficiary)
    session.add(move)
    session.flush()
    return move


def find_by_phone(session: Session, *, e164: str) -> list[Beneficiary]:
    """Every beneficiary using a phone number, oldest first."""
    return list(
        session.exec(
            select(Beneficiary)
            .join(Phone, col(Phone.id) == col(Beneficiary.phone_id))
            .where(has_number(e164))
            .order_by(col(Beneficiary.id))
        )
    )


def find_by_code(session: Session, *, code: str) -> Beneficiary | None:
    """The beneficiary with this registration code."""
    return session.exec(select(Beneficiary).where(Beneficiary.code == code)).first()


def recent_for_chw(session: Session, *, chw_id: int, limit: int = 30) -> list[Beneficiary]:
    """The CHW's women, latest registered first."""
    return list(
        session.exec(
            select(Beneficiary)
            .where(Beneficiary.chw_id == chw_id)
            .order_by(col(Beneficiary.created_at).desc(), col(Beneficiary.id).desc())
            .limit(limit)
        )
    )


def active_pregnancy(session: Session, *, beneficiary_id: int) -> Enrollment | None:
    """Her active pregnancy enrollment, if any."""
    for enrollment in programmes_service.active_enrollments(session, beneficiary_id=beneficiary_id):
        if enrollment.programme == Programme.PREGNANCY:
            return enrollment
    return None


def current_enrollment(session: Session, *, beneficiary_id: int) -> Enrollment | None:
    """Her most recent active enrollment."""
    return session.exec(
        select(Enrollment)
        .where(
            Enrollment.beneficiary_id == beneficiary_id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
        )
        .order_by(col(Enrollment.created_at).desc(), col(Enrollment.id).desc())
    ).first()


def set_language(session: Session, *, beneficiary_id: int, language: str) -> None:
    """Her messages from now on come in `language`."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is not None:
        beneficiary.language = language
        session.add(beneficiary)


USSD_STOP = ConsentInfo(text_key="ussd_stop_confirm", text_version=1, language="fr", granted=False)


def opt_out_beneficiary(
    session: Session,
    *,
    beneficiary_id: int,
    withdrawal: ConsentInfo = USSD_STOP,
    reason: str = "ussd_stop",
) -> None:
    """Stop her messages. On a phone of her own the whole number is opted out; on a
    shared phone only her record, so the others on it keep theirs."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        return
    beneficiary.status = BeneficiaryStatus.OPTED_OUT
    session.add(beneficiary)
    record_consent(
        session,
        beneficiary_id=beneficiary_id,
        consent=replace(withdrawal, language=beneficiary.language, granted=False),
    )
    phone = _phone_of(session, beneficiary.phone_id)
    others = (
        [b for b in find_by_phone(session, e164=phone.e164) if b.id != beneficiary_id]
        if phone
        else []
    )
    if phone is not None and not others:
        opt_out_phone(session, raw=phone.e164, reason=reason)
    else:
        now = utcnow()
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.beneficiary_id) == beneficiary_id, is_sendable())
            .values(
                status=MessageStatus.CANCELLED,
                failure_reason=reason,
                final_at=now,
                updated_at=now,
            )
        )
    session.flush()


def opt_out_phone(
    session: Session, *, raw: str, reason: str, withdrawal: ConsentInfo | None = None
) -> Phone | None:
    """Stop every message to a number and cancel what is still queued for it; with a
    `withdrawal`, log it for every beneficiary on the number who had not yet opted out."""
    try:
        e164 = phones.normalize(raw)
    except phones.InvalidPhoneNumber:
        return None
    phone = session.exec(select(Phone).where(has_number(e164))).first()
    if phone is None:
        phone = Phone(e164=e164)
    phone.status = PhoneStatus.OPTED_OUT
    phone.opted_out_at = utcnow()
    session.add(phone)
    outbox_service.cancel_for_phone(session, e164=e164, reason=reason)
    if withdrawal is not None:
        for beneficiary in find_by_phone(session, e164=e164):
            if beneficiary.id is not None and beneficiary.status != BeneficiaryStatus.OPTED_OUT:
                record_consent(
                    session,
                    beneficiary_id=beneficiary.id,
                    consent=replace(withdrawal, language=beneficiary.language, granted=False),
                )
    session.flush()
    return phone


def opt_in(
    session: Session, *, e164: str, consent: ConsentInfo, beneficiary_id: int | None = None
) -> list[Beneficiary]:
    """Messages to this number start again: for one beneficiary on it, or for all who had
    stopped; returns the beneficiaries who opted back in (their consent is logged)."""
    phone = session.exec(select(Phone).where(has_number(e164))).first()
    on_phone = find_by_phone(session, e164=e164)
    chosen = [b for b in on_phone if beneficiary_id is None or b.id == beneficiary_id]
    chosen_ids = {b.id for b in chosen}
    resumed = [
        b
        for b in chosen
        if b.status == BeneficiaryStatus.OPTED_OUT
        or (phone is not None and phone.status == PhoneStatus.OPTED_OUT)
    ]
    if phone is not None and phone.status == PhoneStatus.OPTED_OUT:
        # The number stopped for everyone; only the chosen one asked to come back.
        for other in on_phone:
            if other.id not in chosen_ids and other.status != BeneficiaryStatus.OPTED_OUT:
                other.status = BeneficiaryStatus.OPTED_OUT
                session.add(other)
        phone.status = PhoneStatus.ACTIVE
        phone.opted_out_at = None
        session.add(phone)
    for beneficiary in resumed:
        assert beneficiary.id is not None
        if beneficiary.status == BeneficiaryStatus.OPTED_OUT:
            # A self-registration nobody has confirmed yet goes back to waiting for it.
            unconfirmed = session.exec(
                select(SelfRegistration.id).where(
                    SelfRegistration.beneficiary_id == beneficiary.id,
                    col(SelfRegistration.confirmed_at).is_(None),
                )
            ).first()
            beneficiary.status = (
                BeneficiaryStatus.PENDING if unconfirmed else BeneficiaryStatus.ACTIVE
            )
            session.add(beneficiary)
        record_consent(
            session,
            beneficiary_id=beneficiary.id,
            consent=replace(consent, language=beneficiary.language, granted=True),
        )
    session.flush()
    return resumed


def consent_history(session: Session, *, beneficiary_id: int) -> list[Consent]:
    """Every consent and withdrawal recorded for her, oldest first."""
    return list(
        session.exec(
            select(Consent)
            .where(Consent.beneficiary_id == beneficiary_id)
            .order_by(col(Consent.recorded_at), col(Consent.id))
        )
    )


def correct(
    session: Session,
    *,
    beneficiary: Beneficiary,
    name: str | None = None,
    language: str | None = None,
    displaced: bool | None = None,
    village_id: int | None = None,
    phone: str | None = None,
) -> list[str]:
    """Correct what staff may fix about her (None: unchanged); returns the fields changed."""
    changed = []
    if name is not None and " ".join(name.split()) != beneficiary.name:
        clean = " ".join(name.split())
        if not clean:
            raise RegistrationError("nom vide")
        beneficiary.name = clean[:120]
        changed.append("name")
    if language is not None and language != beneficiary.language:
        beneficiary.language = language
        changed.append("language")
    if displaced is not None and displaced != beneficiary.displaced:
        beneficiary.displaced = displaced
        changed.append("displaced")
    if village_id is not None and village_id != beneficiary.village_id:
        beneficiary.village_id = village_id
        changed.append("village_id")
    if phone is not None:
        row = get_or_create_phone(session, raw=phone)
        if row.id != beneficiary.phone_id:
            beneficiary.phone_id = row.id
            if beneficiary.phone_kind == PhoneKind.NONE:
                beneficiary.phone_kind = PhoneKind.OWN
            changed.append("phone")
    session.add(beneficiary)
    session.flush()
    return changed


def transfers_of(session: Session, *, beneficiary_id: int) -> list[Transfer]:
    """Her moves from one CHW to another, oldest first."""
    return list(
        session.exec(
            select(Transfer)
            .where(Transfer.beneficiary_id == beneficiary_id)
            .order_by(col(Transfer.moved_at), col(Transfer.id))
        )
    )
