"""Retention: message bodies and other free text older than the period are blanked.

Rows, statuses, costs and dates stay, so dashboards and cost reports do not change.
Each batch is its own short transaction (the caller commits between batches): the
outbox is the hottest table and must never wait behind one long purge.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from outreach.audit import service as audit
from outreach.config import get_settings
from outreach.db import unit_of_work
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import FINAL_STATES, MessageAttempt, OutboundMessage
from outreach.registry.models import Beneficiary, SelfRegistration
from outreach.timeutil import utcnow
from outreach.ussd.models import UssdSessionEvent

log = logging.getLogger(__name__)

PURGE_TASK = "privacy.purge_expired_text"
PURGE_QUEUE = "maintenance"
AUDIT_ACTION = "retention.purge"


@dataclass
class PurgeCounts:
    outbound: int = 0
    attempts: int = 0
    inbound: int = 0
    ussd_events: int = 0
    self_registrations: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def add(self, other: PurgeCounts) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def cutoff_for(days: int, *, now: datetime | None = None) -> datetime:
    """The moment before which free text is no longer kept."""
    return (now or utcnow()) - timedelta(days=days)


def _blank(
    session: Session, model: Any, *, where: list[Any], values: dict[str, Any], limit: int
) -> int:
    """Set `values` on at most `limit` rows of `model` matching `where`; how many."""
    # Ids first, then one UPDATE on them: a bounded batch on both back ends (neither
    # SQLite nor PostgreSQL takes UPDATE ... LIMIT), and plain values go through the
    # column types, so an encrypted column stores its own ''.
    ids = list(session.exec(select(model.id).where(*where).limit(limit)).all())
    if ids:
        session.execute(update(model).where(col(model.id).in_(ids)).values(**values))
    return len(ids)


def purge_batch(session: Session, *, cutoff: datetime, limit: int) -> PurgeCounts:
    """Blank at most `limit` rows of each kind older than `cutoff`; 0s once all is done."""
    now = utcnow()
    return PurgeCounts(
        # Only messages that will never be sent again: a queued body is still needed.
        outbound=_blank(
            session,
            OutboundMessage,
            where=[
                # An erased woman's messages still in flight at her erasure go once they end.
                or_(
                    col(OutboundMessage.created_at) < cutoff,
                    col(OutboundMessage.beneficiary_id).in_(
                        select(Beneficiary.id).where(col(Beneficiary.erased_at).is_not(None))
                    ),
                ),
                col(OutboundMessage.status).in_([s.value for s in FINAL_STATES]),
                col(OutboundMessage.redacted_at).is_(None),
            ],
            values={"body": "", "addressee": None, "last_error": None, "redacted_at": now},
            limit=limit,
        ),
        # Gateway error texts can echo the number or the text sent.
        attempts=_blank(
            session,
            MessageAttempt,
            where=[
                col(MessageAttempt.started_at) < cutoff,
                col(MessageAttempt.error).is_not(None),
            ],
            values={"error": None},
            limit=limit,
        ),
        inbound=_blank(
            session,
            InboundMessage,
            where=[
                col(InboundMessage.received_at) < cutoff,
                col(InboundMessage.redacted_at).is_(None),
            ],
            values={"text": "", "redacted_at": now},
            limit=limit,
        ),
        # What was typed and shown in a USSD session (names, dates); status and screen stay.
        ussd_events=_blank(
            session,
            UssdSessionEvent,
            where=[
                col(UssdSessionEvent.received_at) < cutoff,
                or_(
                    col(UssdSessionEvent.input).is_not(None),
                    col(UssdSessionEvent.last_app_response).is_not(None),
                    col(UssdSessionEvent.error_message).is_not(None),
                ),
            ],
            values={"input": None, "last_app_response": None, "error_message": None},
            limit=limit,
        ),
        self_registrations=_blank(
            session,
            SelfRegistration,
            where=[
                col(SelfRegistration.created_at) < cutoff,
                col(SelfRegistration.village_text).is_not(None),
            ],
            values={"village_text": None},
            limit=limit,
        ),
    )


def record_purge(
    session: Session, *, counts: PurgeCounts, cutoff: datetime, days: int, actor: str = "system"
) -> None:
    """Audit and log one finished purge (how many of each kind, never what they said)."""
    detail = {**asdict(counts), "days": days, "cutoff": cutoff.isoformat()}
    audit.record(session, action=AUDIT_ACTION, actor=actor, detail=detail)
    log.info(
        "retention purge: %d rows blanked older than %d days (%s)",
        counts.total,
        days,
        ", ".join(f"{k}={v}" for k, v in asdict(counts).items()),
    )


def run(
    *,
    days: int | None = None,
    batch: int | None = None,
    actor: str = "system",
    now: datetime | None = None,
    engine: Engine | None = None,
) -> PurgeCounts:
    """Purge everything past the retention period, one short transaction per batch."""
    settings = get_settings()
    days = settings.message_retention_days if days is None else days
    batch = batch or settings.retention_batch
    cutoff = cutoff_for(days, now=now)
    total = PurgeCounts()
    while True:
        with unit_of_work(engine) as session:
            counts = purge_batch(session, cutoff=cutoff, limit=batch)
        total.add(counts)
        if counts.total == 0:
            break
    with unit_of_work(engine) as session:
        record_purge(session, counts=total, cutoff=cutoff, days=days, actor=actor)
    return total
