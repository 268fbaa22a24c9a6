"""Incoming SMS and gateway opt-outs: keywords, consent, the staff inbox, replies."""

from __future__ import annotations

import logging
import secrets
from enum import StrEnum

from redis.exceptions import RedisError
from sqlmodel import Session, col, select

from messages import texts
from outreach.config import get_settings
from outreach.db import insert_ignore
from outreach.encryption import keys
from outreach.inbound.matcher import Intent, Match, match
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.inbound.schemas import IncomingSms, OptOut
from outreach.outbox import bodies
from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageKind, OutboundMessage, Priority
from outreach.programmes import service as programmes_service
from outreach.redis import get_redis
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    ConsentChannel,
    Phone,
    PhoneStatus,
    has_number,
)
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

RATE_KEY = "outreach:inbound:replies:{phone}"
RATE_WINDOW_SECONDS = 3600
# Three GSM-7 segments: a staff answer stays an SMS, not a letter.
STAFF_REPLY_MAX_CHARS = 459


class Kind(StrEnum):
    """What an incoming SMS was understood as (stored on the message)."""

    STOP = "stop"
    STOP_ONE = "stop_one"
    START = "start"
    HELP = "help"
    LANGUAGE = "language"
    # OK / OUI / CONFIRME: a reply to a reminder, for the appointments to consume.
    CONFIRM = "confirm"
    OTHER = "other"
    # A short code or an alphanumeric sender: stored, never answered.
    NOT_A_PHONE = "not_a_phone"


def receive(db: Session, *, sms: IncomingSms) -> bool:
    """Store an incoming SMS once per gateway id and act on it once (the gateway retries
    until it gets a 200); False for a replay."""
    try:
        e164: str | None = phones.normalize(sms.from_)
    except phones.InvalidPhoneNumber:
        e164 = None
    on_phone = registry_service.find_by_phone(db, e164=e164) if e164 else []
    found = match(sms.text)
    kind = _classify(db, e164=e164, found=found, on_phone=on_phone)
    inserted = insert_ignore(
        db,
        InboundMessage,
        {
            "gateway_id": sms.id,
            "from_number": e164 or sms.from_,
            "to": sms.to,
            "text": sms.text,
            "link_id": sms.link_id,
            "network_code": sms.network_code,
            # The form accepts 40 characters, the column 30: never fail AT's retried callback.
            "sent_date": sms.date[:30] if sms.date else sms.date,
            "beneficiary_id": on_phone[0].id if on_phone else None,
            "intent": kind,
        },
    )
    log.info(
        "incoming sms %s from %s: %s (%s)",
        sms.id,
        phones.mask(e164 or sms.from_),
        kind,
        "new" if inserted else "replay",
    )
    if inserted and e164 is not None:
        _act(db, at_id=sms.id, e164=e164, kind=kind, found=found, on_phone=on_phone)
    return inserted


def _classify(db: Session, *, e164: str | None, found: Match, on_phone: list[Beneficiary]) -> Kind:
    if e164 is None:
        return Kind.NOT_A_PHONE
    if found.intent == Intent.STOP:
        return Kind.STOP_ONE if _by_code(on_phone, found.code) else Kind.STOP
    if found.intent == Intent.YES:
        return Kind.START if _opted_out(db, e164, on_phone) else Kind.CONFIRM
    return {
        Intent.START: Kind.START,
        Intent.CONFIRM: Kind.CONFIRM,
        Intent.HELP: Kind.HELP,
        Intent.LANGUAGE: Kind.LANGUAGE,
        Intent.FR: Kind.LANGUAGE,
        Intent.BM: Kind.LANGUAGE,
    }.get(found.intent, Kind.OTHER)


def _by_code(on_phone: list[Beneficiary], code: str | None) -> Beneficiary | None:
    return next((b for b in on_phone if code and b.code == code), None)


def _opted_out(db: Session, e164: str, on_phone: list[Beneficiary]) -> bool:
    phone = db.exec(select(Phone).where(has_number(e164))).first()
    if phone is not None and phone.status == PhoneStatus.OPTED_OUT:
        return True
    return any(b.status == BeneficiaryStatus.OPTED_OUT for b in on_phone)


def _act(
    db: Session, *, at_id: str, e164: str, kind: Kind, found: Match, on_phone: list[Beneficiary]
) -> None:
    language = on_phone[0].language if on_phone else "fr"
    key = f"{outbox_service.ANSWER_PREFIX}{at_id}"
    if kind == Kind.STOP:
        registry_service.opt_out_phone(
            db, raw=e164, reason="sms_stop", withdrawal=_consent("sms_stop_confirmed", language)
        )
        for beneficiary in on_phone:
            assert beneficiary.id is not None
            programmes_service.pause(db, beneficiary_id=beneficiary.id)
        _reply(db, e164=e164, dedupe_key=key, text_key="sms_stop_confirmed", language=language)
    elif kind == Kind.STOP_ONE:
        one = _by_code(on_phone, found.code)
        assert one is not None and one.id is not None
        registry_service.opt_out_beneficiary(
            db,
            beneficiary_id=one.id,
            withdrawal=_consent("sms_stop_one_confirmed", one.language),
            reason="sms_stop",
        )
        programmes_service.pause(db, beneficiary_id=one.id)
        _reply(
            db,
            e164=e164,
            dedupe_key=key,
            text_key="sms_stop_one_confirmed",
            language=one.language,
            addressee=texts.addressee(one.name, one.language),
            name=bodies.NAME,
            code=one.code,
        )
    elif kind == Kind.START:
        one = _by_code(on_phone, found.code)
        resumed = registry_service.opt_in(
            db,
            e164=e164,
            consent=_consent("sms_start_confirmed", language),
            beneficiary_id=one.id if one else None,
        )
        for beneficiary in resumed:
            assert beneficiary.id is not None
            programmes_service.resume(db, beneficiary_id=beneficiary.id)
        if not on_phone:
            _reactivate_unknown(db, e164)
        _reply(db, e164=e164, dedupe_key=key, text_key="sms_start_confirmed", language=language)
    elif kind == Kind.HELP:
        _help(db, e164=e164, dedupe_key=key, on_phone=on_phone, language=language)
    elif kind == Kind.LANGUAGE:
        chosen = found.language or language
        for beneficiary in on_phone:
            assert beneficiary.id is not None
            registry_service.set_language(db, beneficiary_id=beneficiary.id, language=chosen)
        _reply(db, e164=e164, dedupe_key=key, text_key="sms_language_set", language=chosen)
    elif kind == Kind.CONFIRM:
        _confirm(db, e164=e164, dedupe_key=key, on_phone=on_phone, language=language)
    elif kind == Kind.OTHER:
        # One auto-reply a day, whatever she writes: the key makes it structural.
        # The number's blind index, not the number: keys are stored in clear.
        sender = keys.blind_index(e164)
        daily = f"{outbox_service.ANSWER_PREFIX}auto:{sender}:{local_today().isoformat()}"
        _reply(db, e164=e164, dedupe_key=daily, text_key="sms_not_understood", language=language)


def _confirm(
    db: Session, *, e164: str, dedupe_key: str, on_phone: list[Beneficiary], language: str
) -> None:
    # OK / OUI after a reminder: her next appointment is confirmed, and she is told which.
    from outreach.appointments import service as appointments_service

    found = appointments_service.confirm_next(
        db, beneficiary_ids=[b.id for b in on_phone if b.id is not None]
    )
    if found is None:
        # Nothing to confirm: an OK is not worth an SMS back.
        return
    owner = next((b for b in on_phone if b.id == found.beneficiary_id), None)
    language = owner.language if owner else language
    if not allow_reply(e164):
        return
    outbox_service.enqueue(
        db,
        dedupe_key=dedupe_key,
        to_number=e164,
        body=appointments_service.confirmation_text(found, language),
        kind=MessageKind.REPLY,
        priority=Priority.INTERACTIVE,
        language=language,
    )


def _consent(text_key: str, language: str) -> registry_service.ConsentInfo:
    return registry_service.ConsentInfo(
        text_key=text_key,
        text_version=texts.get(text_key).version,
        language=language,
        channel=ConsentChannel.SMS,
    )


def _reactivate_unknown(db: Session, e164: str) -> None:
    # A number nobody is registered on that had sent STOP: it may be texted again.
    phone = db.exec(select(Phone).where(has_number(e164))).first()
    if phone is not None and phone.status == PhoneStatus.OPTED_OUT:
        phone.status = PhoneStatus.ACTIVE
        phone.opted_out_at = None
        db.add(phone)


def _help(
    db: Session, *, e164: str, dedupe_key: str, on_phone: list[Beneficiary], language: str
) -> None:
    with_chw = next((b for b in on_phone if b.chw_id is not None), None)
    name, number = ("", "")
    if with_chw is not None:
        name, number, _phone, _lang = registry_service._chw_contact(db, with_chw.chw_id)
    if name and number:
        _reply(
            db,
            e164=e164,
            dedupe_key=dedupe_key,
            text_key="sms_help",
            language=language,
            addressee=texts.addressee(name, language),
            chw_name=bodies.NAME,
            chw_phone=number,
        )
    else:
        _reply(db, e164=e164, dedupe_key=dedupe_key, text_key="sms_help_no_chw", language=language)


def _reply(
    db: Session,
    *,
    e164: str,
    dedupe_key: str,
    text_key: str,
    language: str,
    addressee: str | None = None,
    **values: str,
) -> None:
    already = db.exec(
        select(OutboundMessage.id).where(col(OutboundMessage.dedupe_key) == dedupe_key)
    ).first()
    if already is not None or not allow_reply(e164):
        return
    safe = get_settings().content_gsm_safe.get(language, True)
    outbox_service.enqueue(
        db,
        dedupe_key=dedupe_key,
        to_number=e164,
        body=texts.render(text_key, language, gsm_safe=safe, **values),
        addressee=addressee,
        kind=MessageKind.REPLY,
        priority=Priority.INTERACTIVE,
        language=language,
    )


def allow_reply(e164: str) -> bool:
    """Count a reply to this phone; False once the hourly budget is spent (or unknown)."""
    limit = get_settings().inbound_replies_per_hour
    # Keyed hash, not the number: Redis holds no phone numbers.
    key = RATE_KEY.format(phone=keys.blind_index(e164))
    try:
        redis = get_redis()
        redis.set(key, 0, ex=RATE_WINDOW_SECONDS, nx=True)
        count = int(redis.incr(key))
    except RedisError:
        # Costs are the risk being guarded: no count, no reply.
        log.warning("reply budget unavailable; not answering %s", phones.mask(e164))
        return False
    if count > limit:
        log.warning("reply budget spent for %s (%d this hour)", phones.mask(e164), count)
        return False
    return True


def inbox(db: Session, *, limit: int = 100) -> list[InboundMessage]:
    """The staff inbox: messages that were no keyword, latest first."""
    return list(
        db.exec(
            select(InboundMessage)
            .where(col(InboundMessage.intent).in_([Kind.OTHER, Kind.NOT_A_PHONE]))
            .order_by(col(InboundMessage.received_at).desc(), col(InboundMessage.id).desc())
            .limit(limit)
        )
    )


def opt_out(db: Session, *, notice: OptOut) -> None:
    """The gateway says this number opted out of bulk SMS: stop everything to it, no reply."""
    db.add(OptOutNotice(phone_number=notice.phone_number, sender_id=notice.sender_id))
    registry_service.opt_out_phone(
        db,
        raw=notice.phone_number,
        reason="gateway_optout",
        withdrawal=registry_service.ConsentInfo(
            text_key="gateway_optout",
            text_version=0,
            language="fr",
            channel=ConsentChannel.GATEWAY_OPTOUT,
        ),
    )


def assign(db: Session, *, message: InboundMessage, user_id: int | None) -> None:
    """Give an inbox message to a staff user to follow up (None: nobody)."""
    message.assigned_user_id = user_id
    db.add(message)


def mark_handled(db: Session, *, message: InboundMessage, user_id: int) -> None:
    """Take a message out of the inbox: it has been dealt with."""
    if message.handled_at is None:
        message.handled_at = utcnow()
        message.handled_by_user_id = user_id
        db.add(message)


def staff_reply(
    db: Session, *, message: InboundMessage, text: str, user_id: int
) -> OutboundMessage:
    """Answer an inbox message: an outbox row at the reply lane (sent by the workers)."""
    clean = text.strip()
    if not clean:
        raise ValueError("réponse vide")
    if len(clean) > STAFF_REPLY_MAX_CHARS:
        raise ValueError(f"réponse trop longue: {STAFF_REPLY_MAX_CHARS} caractères au plus")
    try:
        e164 = phones.normalize(message.from_number)
    except phones.InvalidPhoneNumber as exc:
        raise ValueError("ce message ne vient pas d'un téléphone: pas de réponse possible") from exc
    beneficiary = db.get(Beneficiary, message.beneficiary_id) if message.beneficiary_id else None
    row = outbox_service.enqueue(
        db,
        # The sms-reply prefix lets an answer to someone who wrote pass the send-time
        # consent check; the random part allows several answers to one message.
        dedupe_key=f"sms-reply:staff:{message.id}:{secrets.token_hex(6)}",
        to_number=e164,
        body=clean,
        kind=MessageKind.REPLY,
        priority=Priority.INTERACTIVE,
        beneficiary_id=message.beneficiary_id,
        language=beneficiary.language if beneficiary else None,
    )
    mark_handled(db, message=message, user_id=user_id)
    return row
