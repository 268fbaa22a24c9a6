"""Outbox rules: what may be sent, how a send result or a delivery report moves a message.

Nothing here commits. Callers own the transaction (see `outreach.db`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from outreach.config import get_settings
from outreach.db import after_commit, insert_ignore
from outreach.gateways.base import RecipientResult
from outreach.outbox.models import (
    FINAL_STATES,
    DeliveryReport,
    MessageAttempt,
    MessageStatus,
    OutboundMessage,
    Priority,
    is_sendable,
)
from outreach.registry.models import Phone, PhoneStatus
from outreach.timeutil import utcnow

log = logging.getLogger(__name__)

SEND_TASK = "outbox.send_message"
SEND_QUEUE = "outbox"

# Delivery report status -> outbox state. None: informative, the message stays `sent`.
REPORT_STATUS: dict[str, MessageStatus | None] = {
    "Success": MessageStatus.DELIVERED,
    "Failed": MessageStatus.FAILED,
    "Rejected": MessageStatus.REJECTED,
    "Expired": MessageStatus.EXPIRED,
    "Sent": None,
    "Submitted": None,
    "Buffered": None,
    "AbsentSubscriber": None,
}

# Per-recipient send codes that end the message for good.
REJECTED_CODES = frozenset({403, 404, 406, 407, 409})
# The account, not the message, is at fault: hold the message until an operator acts.
ACCOUNT_CODES = frozenset({402, 405})
ACCOUNT_HOLD = timedelta(minutes=15)


def wake(message_id: int) -> None:
    """Ask a worker to try this message now (best effort: the sweeper is the safety net)."""
    from workers.app import celery_app

    celery_app.send_task(SEND_TASK, args=[message_id], queue=SEND_QUEUE)


def _wake_all(message_ids: list[int]) -> None:
    for message_id in message_ids:
        wake(message_id)


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    to_number: str,
    body: str,
    kind: str,
    priority: int = Priority.PROGRAMME,
    beneficiary_id: int | None = None,
    language: str | None = None,
    sender_id: str | None = None,
    due_at: datetime | None = None,
) -> OutboundMessage:
    """Add a message to the outbox once per dedupe key; a worker is woken after commit."""
    existing = session.exec(
        select(OutboundMessage).where(OutboundMessage.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing
    now = utcnow()
    due = due_at or now
    message = OutboundMessage(
        dedupe_key=dedupe_key,
        kind=kind,
        priority=priority,
        to_number=to_number,
        body=body,
        sender_id=sender_id if sender_id is not None else get_settings().at_sender_id,
        language=language,
        beneficiary_id=beneficiary_id,
        due_at=due,
        enqueued_at=now if due <= now else None,
    )
    session.add(message)
    session.flush()
    if due <= now:
        message_id = message.id
        assert message_id is not None
        after_commit(session, lambda: wake(message_id))
    return message


@dataclass(frozen=True, slots=True)
class Claim:
    """A message leased to one worker for one gateway try."""

    message_id: int
    attempt_id: int
    to_number: str
    body: str
    sender_id: str | None


def claim(session: Session, *, message_id: int, owner: str) -> Claim | None:
    """Lease a due message for sending, or return None if it is not ours to send."""
    settings = get_settings()
    now = utcnow()
    leased = session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.id) == message_id,
            is_sendable(),
            col(OutboundMessage.due_at) <= now,
        )
        .values(
            status=MessageStatus.SENDING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.lease_seconds),
            attempt_count=col(OutboundMessage.attempt_count) + 1,
            updated_at=now,
        )
        .returning(col(OutboundMessage.id))
    ).first()
    if leased is None:
        return None
    message = session.get(OutboundMessage, message_id, populate_existing=True)
    assert message is not None
    # Consent is checked at send time: an opt-out after queueing cancels the message.
    phone = session.exec(select(Phone).where(Phone.e164 == message.to_number)).first()
    if phone is not None and phone.status != PhoneStatus.ACTIVE:
        _finish(message, MessageStatus.CANCELLED, now, reason=f"phone_{phone.status}")
        return None
    attempt = MessageAttempt(message_id=message_id, number=message.attempt_count, worker=owner)
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    return Claim(
        message_id=message_id,
        attempt_id=attempt.id,
        to_number=message.to_number,
        body=message.body,
        sender_id=message.sender_id,
    )


def record_result(session: Session, *, claim: Claim, result: RecipientResult) -> OutboundMessage:
    """Store the gateway's answer for one recipient and move the message accordingly."""
    now = utcnow()
    message, attempt = _load(session, claim)
    attempt.finished_at = now
    attempt.status_code = result.status_code
    attempt.gateway_message_id = result.message_id
    attempt.cost = result.cost
    message.lease_owner = None
    message.lease_expires_at = None
    message.updated_at = now
    if message.status != MessageStatus.SENDING:
        # The lease expired and someone else moved it; the attempt row keeps the evidence.
        attempt.outcome = "late_result"
        return message
    if result.accepted:
        attempt.outcome = "accepted"
        message.status = MessageStatus.SENT
        message.gateway_message_id = result.message_id
        message.cost = result.cost
        message.currency = result.currency
        message.sent_at = now
        session.flush()
        _apply_pending_reports(session, message)
    elif result.status_code in REJECTED_CODES:
        attempt.outcome = "rejected"
        _finish(message, MessageStatus.REJECTED, now, reason=result.status)
        _mark_phone(session, message.to_number, result.status_code)
    elif result.status_code in ACCOUNT_CODES:
        attempt.outcome = "account_hold"
        log.error(
            "gateway account problem: %s (%s); message %s held",
            result.status,
            result.status_code,
            message.id,
        )
        _defer(message, now + ACCOUNT_HOLD)
    else:
        attempt.outcome = "gateway_error"
        _retry_or_fail(message, now, error=f"{result.status_code} {result.status}")
    return message


def record_error(session: Session, *, claim: Claim, error: str, ambiguous: bool) -> OutboundMessage:
    """Store a failed try; retry it, or mark it unknown when the gateway may have it."""
    now = utcnow()
    message, attempt = _load(session, claim)
    attempt.finished_at = now
    attempt.outcome = "timeout" if ambiguous else "error"
    attempt.error = error[:2000]
    message.lease_owner = None
    message.lease_expires_at = None
    message.updated_at = now
    message.last_error = error[:2000]
    if message.status != MessageStatus.SENDING:
        return message
    if ambiguous and get_settings().ambiguous_policy == "at_most_once":
        message.status = MessageStatus.UNKNOWN
        return message
    _retry_or_fail(message, now, error=error)
    return message


def apply_delivery_report(
    session: Session,
    *,
    gateway_message_id: str,
    status: str,
    failure_reason: str | None = None,
    network_code: str | None = None,
    retry_count: int | None = None,
) -> DeliveryReport | None:
    """Store a delivery report once per (message id, status) and apply it if it moves forward."""
    if status not in REPORT_STATUS:
        log.warning("unknown delivery status %r stored for %s", status, gateway_message_id)
    inserted = insert_ignore(
        session,
        DeliveryReport,
        {
            "gateway_message_id": gateway_message_id,
            "status": status,
            "failure_reason": failure_reason,
            "network_code": network_code,
            "retry_count": retry_count,
            "applied": False,
            "received_at": utcnow(),
        },
    )
    if not inserted:
        return None
    report = session.exec(
        select(DeliveryReport).where(
            DeliveryReport.gateway_message_id == gateway_message_id,
            DeliveryReport.status == status,
        )
    ).one()
    message = session.exec(
        select(OutboundMessage).where(OutboundMessage.gateway_message_id == gateway_message_id)
    ).first()
    if message is not None:
        _apply_report(message, report)
    return report


@dataclass(frozen=True, slots=True)
class SweepResult:
    reclaimed: int
    woken: int
    reports_matched: int


def sweep(session: Session) -> SweepResult:
    """Reclaim expired leases, match stray delivery reports and wake due idle messages."""
    settings = get_settings()
    now = utcnow()
    reclaimed = _reclaim_expired_leases(session, now)
    matched = _match_stray_reports(session)
    stale = now - timedelta(seconds=settings.requeue_after_seconds)
    due_ids = list(
        session.exec(
            select(OutboundMessage.id)
            .where(
                is_sendable(),
                col(OutboundMessage.due_at) <= now,
                or_(
                    col(OutboundMessage.enqueued_at).is_(None),
                    col(OutboundMessage.enqueued_at) < stale,
                ),
            )
            .order_by(col(OutboundMessage.priority), col(OutboundMessage.due_at))
            .limit(settings.sweep_batch)
        )
    )
    if due_ids:
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id).in_(due_ids))
            .values(enqueued_at=now)
        )
        ids = [i for i in due_ids if i is not None]
        after_commit(session, lambda: _wake_all(ids))
    return SweepResult(reclaimed=reclaimed, woken=len(due_ids), reports_matched=matched)


def cancel_for_phone(session: Session, *, e164: str, reason: str) -> int:
    """Cancel every message still waiting to go to this number."""
    now = utcnow()
    result = session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.to_number) == e164,
            is_sendable(),
        )
        .values(status=MessageStatus.CANCELLED, failure_reason=reason, final_at=now, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _load(session: Session, claim: Claim) -> tuple[OutboundMessage, MessageAttempt]:
    message = session.get(OutboundMessage, claim.message_id, populate_existing=True)
    attempt = session.get(MessageAttempt, claim.attempt_id)
    assert message is not None and attempt is not None
    return message, attempt


def _finish(
    message: OutboundMessage, status: MessageStatus, now: datetime, *, reason: str | None
) -> None:
    message.status = status
    message.failure_reason = reason
    message.final_at = now
    message.updated_at = now
    message.lease_owner = None
    message.lease_expires_at = None


def _defer(message: OutboundMessage, due_at: datetime) -> None:
    message.status = MessageStatus.DEFERRED
    message.due_at = due_at
    message.enqueued_at = None


def _retry_or_fail(message: OutboundMessage, now: datetime, *, error: str) -> None:
    settings = get_settings()
    message.last_error = error[:2000]
    if message.attempt_count >= settings.send_max_attempts:
        _finish(message, MessageStatus.FAILED, now, reason="max_attempts")
        return
    delay = min(
        settings.send_backoff_max_seconds,
        settings.send_backoff_seconds * 2 ** max(0, message.attempt_count - 1),
    )
    # Full jitter spreads retries from many messages that failed together.
    delay = random.uniform(delay / 2, delay)
    message.status = MessageStatus.QUEUED
    message.due_at = now + timedelta(seconds=delay)
    message.enqueued_at = None


def _mark_phone(session: Session, e164: str, status_code: int) -> None:
    phone = session.exec(select(Phone).where(Phone.e164 == e164)).first()
    if phone is None:
        return
    if status_code == 406:
        # The person blocked our sender: that is an opt-out.
        phone.status = PhoneStatus.OPTED_OUT
        phone.opted_out_at = utcnow()
    elif status_code in (403, 404):
        phone.status = PhoneStatus.INVALID
    session.add(phone)


def _apply_report(message: OutboundMessage, report: DeliveryReport) -> None:
    report.message_id = message.id
    report.applied = True
    target = REPORT_STATUS.get(report.status)
    if target is None or message.status in FINAL_STATES:
        return
    if message.status not in (MessageStatus.SENT, MessageStatus.UNKNOWN):
        return
    _finish(message, target, utcnow(), reason=report.failure_reason)


def _apply_pending_reports(session: Session, message: OutboundMessage) -> None:
    reports = session.exec(
        select(DeliveryReport)
        .where(
            DeliveryReport.gateway_message_id == message.gateway_message_id,
            col(DeliveryReport.applied).is_(False),
        )
        .order_by(col(DeliveryReport.id))
    ).all()
    # A final report wins whatever order the reports came in.
    for report in sorted(reports, key=lambda r: REPORT_STATUS.get(r.status) in FINAL_STATES):
        _apply_report(message, report)


def _match_stray_reports(session: Session) -> int:
    strays = session.exec(
        select(DeliveryReport, OutboundMessage)
        .join(
            OutboundMessage,
            col(OutboundMessage.gateway_message_id) == col(DeliveryReport.gateway_message_id),
        )
        .where(col(DeliveryReport.applied).is_(False))
        .limit(1000)
    ).all()
    for report, message in strays:
        _apply_report(message, report)
    return len(strays)


def _reclaim_expired_leases(session: Session, now: datetime) -> int:
    expired = session.exec(
        select(OutboundMessage).where(
            OutboundMessage.status == MessageStatus.SENDING,
            col(OutboundMessage.lease_expires_at) < now,
        )
    ).all()
    policy = get_settings().ambiguous_policy
    for message in expired:
        # The worker died mid-try: the gateway may or may not have the message.
        log.warning("lease expired on message %s (owner %s)", message.id, message.lease_owner)
        message.lease_owner = None
        message.lease_expires_at = None
        message.updated_at = now
        message.last_error = "lease expired: worker lost during a try"
        if policy == "at_most_once":
            message.status = MessageStatus.UNKNOWN
        else:
            message.status = MessageStatus.QUEUED
            message.enqueued_at = None
    return len(expired)
