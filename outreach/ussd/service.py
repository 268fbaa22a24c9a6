"""USSD hops, end-of-session events and drop-off per screen."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import anyio.to_thread
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from outreach.config import get_settings
from outreach.db import insert_ignore, unit_of_work
from outreach.gateways.africastalking import parse_cost
from outreach.redis import get_redis
from outreach.registry import phones
from outreach.ussd.engine import Engine, SessionStore
from outreach.ussd.flows import MAIN_FLOW
from outreach.ussd.models import UssdSessionEvent
from outreach.ussd.schemas import UssdEvent, UssdRequest

log = logging.getLogger(__name__)

# AT's end-of-session statuses for a session that did not end on our END screen.
DROPPED_STATUSES = ("Incomplete", "Failed")


@lru_cache
def get_engine() -> Engine:
    """The engine for the main menu, on the shared Redis session store."""
    settings = get_settings()
    store = SessionStore(
        get_redis(),
        ttl_seconds=settings.ussd_session_ttl_seconds,
        resume_seconds=settings.ussd_resume_window_seconds,
    )
    return Engine(MAIN_FLOW, store)


@lru_cache(maxsize=8192)
def caller(raw: str) -> str:
    """The caller's number in E.164 when it parses, else as sent.

    Cached: every hop of a session repeats it, and parsing costs as much as a Redis call.
    """
    try:
        return phones.normalize(raw)
    except phones.InvalidPhoneNumber:
        return raw.strip()


async def answer_in_thread(*, request: UssdRequest) -> str:
    """Answer one hop in its own unit of work, in one trip through the thread pool."""
    return await anyio.to_thread.run_sync(_answer_and_commit, request)


def _answer_and_commit(request: UssdRequest) -> str:
    # The hop commits before it answers: the handset never sees a screen (a
    # registration code, say) for work that was rolled back.
    with unit_of_work() as db:
        return answer(db, request=request)


def answer(db: Session, *, request: UssdRequest) -> str:
    """Answer one USSD hop."""
    phone = caller(request.phone_number)
    engine = get_engine()
    reply = engine.handle(db, session_id=request.session_id, phone=phone, text=request.text)
    # The session id and a masked number are enough to follow a session; never a name.
    log.info("ussd hop %s from %s -> %s", request.session_id, phones.mask(phone), reply[:3])
    return reply


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def record_event(db: Session, *, event: UssdEvent) -> bool:
    """Store an end-of-session notification once per session; True when new.

    A session that died mid-flow is offered back to the same phone for a while.
    """
    cost: Decimal | None
    try:
        cost, _currency = parse_cost(event.cost)
    except InvalidOperation:
        cost = None
    store = get_engine().store
    state = store.load(event.session_id)
    last_screen = None
    if state is not None:
        last_screen = state.final_key or state.step or None
        if event.status in DROPPED_STATUSES and store.mark_dropped(event.session_id):
            log.info(
                "ussd session %s dropped at %s: offered for resuming",
                event.session_id,
                last_screen,
            )
        elif event.status not in DROPPED_STATUSES:
            store.forget_pointer(event.session_id, state.phone)
    return insert_ignore(
        db,
        UssdSessionEvent,
        {
            "session_id": event.session_id,
            "service_code": event.service_code,
            # As the woman's phone stores it, so erasure finds it by the same blind index.
            "phone_number": caller(event.phone_number) if event.phone_number else None,
            "network_code": event.network_code,
            "status": event.status,
            "cost": cost,
            "duration_ms": _int(event.duration_ms),
            "hops_count": _int(event.hops_count),
            "input": event.input,
            "last_app_response": event.last_app_response,
            "error_message": event.error_message,
            "event_date": event.date,
            "last_screen": (last_screen or "")[:60] or None,
        },
    )


@dataclass(frozen=True, slots=True)
class DropOff:
    """Sessions that ended on one screen, and how many of them were dropped there."""

    screen: str
    sessions: int
    dropped: int

    @property
    def rate(self) -> float:
        return self.dropped / self.sessions if self.sessions else 0.0


def drop_off_by_screen(db: Session, *, since: datetime | None = None) -> list[DropOff]:
    """Where sessions die: per last screen, sessions and drops, most drops first."""
    dropped = func.sum(case((col(UssdSessionEvent.status).in_(DROPPED_STATUSES), 1), else_=0))
    screen = func.coalesce(UssdSessionEvent.last_screen, "?")
    stmt = select(screen, func.count(), dropped).group_by(screen)
    if since is not None:
        stmt = stmt.where(UssdSessionEvent.received_at >= since)
    rows = db.exec(stmt).all()
    report = [DropOff(screen=str(s), sessions=int(n), dropped=int(d or 0)) for s, n, d in rows]
    return sorted(report, key=lambda r: (-r.dropped, -r.sessions, r.screen))
