"""Incoming SMS and gateway opt-outs."""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from outreach.db import insert_ignore
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.inbound.schemas import IncomingSms, OptOut
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, Phone

log = logging.getLogger(__name__)


def receive(db: Session, *, sms: IncomingSms) -> bool:
    """Store an incoming SMS once per gateway id (the gateway retries until it gets a 200)."""
    beneficiary_id = None
    try:
        e164 = phones.normalize(sms.from_)
    except phones.InvalidPhoneNumber:
        e164 = None
    if e164:
        beneficiary_id = db.exec(
            select(Beneficiary.id)
            .join(Phone, Phone.id == Beneficiary.phone_id)  # type: ignore[arg-type]
            .where(Phone.e164 == e164)
        ).first()
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
            "beneficiary_id": beneficiary_id,
        },
    )
    log.info(
        "incoming sms %s from %s (%s)",
        sms.id,
        phones.mask(e164 or sms.from_),
        "new" if inserted else "replay",
    )
    return inserted


def opt_out(db: Session, *, notice: OptOut) -> None:
    """The gateway says this number opted out of bulk SMS: stop everything to it."""
    db.add(OptOutNotice(phone_number=notice.phone_number, sender_id=notice.sender_id))
    registry_service.opt_out_phone(db, raw=notice.phone_number, reason="gateway_optout")
