"""USSD hops and end-of-session events."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from sqlmodel import Session

from outreach.config import get_settings
from outreach.db import insert_ignore
from outreach.gateways.africastalking import parse_cost
from outreach.redis import get_redis
from outreach.registry import phones
from outreach.ussd.engine import Engine, SessionStore
from outreach.ussd.flows import MAIN_FLOW
from outreach.ussd.models import UssdSessionEvent
from outreach.ussd.schemas import UssdEvent, UssdRequest

log = logging.getLogger(__name__)


def get_engine() -> Engine:
    """The engine for the main menu, on the shared Redis session store."""
    store = SessionStore(get_redis(), ttl_seconds=get_settings().ussd_session_ttl_seconds)
    return Engine(MAIN_FLOW, store)


def answer(db: Session, *, request: UssdRequest) -> str:
    """Answer one USSD hop."""
    try:
        phone = phones.normalize(request.phone_number)
    except phones.InvalidPhoneNumber:
        phone = request.phone_number.strip()
    reply = get_engine().handle(db, session_id=request.session_id, phone=phone, text=request.text)
    log.info("ussd hop %s from %s -> %s", request.session_id, phones.mask(phone), reply[:3])
    return reply


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def record_event(db: Session, *, event: UssdEvent) -> bool:
    """Store an end-of-session notification once per session; True when new."""
    cost: Decimal | None
    try:
        cost, _currency = parse_cost(event.cost)
    except InvalidOperation:
        cost = None
    return insert_ignore(
        db,
        UssdSessionEvent,
        {
            "session_id": event.session_id,
            "service_code": event.service_code,
            "phone_number": event.phone_number,
            "network_code": event.network_code,
            "status": event.status,
            "cost": cost,
            "duration_ms": _int(event.duration_ms),
            "hops_count": _int(event.hops_count),
            "input": event.input,
            "last_app_response": event.last_app_response,
            "error_message": event.error_message,
            "event_date": event.date,
        },
    )
