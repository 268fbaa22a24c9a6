"""Outbox rules: what may be sent, how a send result or a delivery report moves a message.

Nothing here commits. Callers own the transaction (see `outreach.db`).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, true, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from outreach.config import get_settings
from outreach.db import after_commit, get_engine, insert_ignore, insert_new
from outreach.encryption import keys
from outreach.gateways.base import RecipientResult
from outreach.outbox import bodies, metrics
from outreach.outbox.models import (
    FINAL_STATES,
    DeliveryReport,
    MessageAttempt,
    MessageStatus,
    OutboundMessage,
    Priority,
    addressed_to,
    is_sendable,
)
from outreach.outbox.windows import WindowState, window_state
from outreach.registry.models import (
    Beneficiary,
    BeneficiaryStatus,
    Phone,
    PhoneStatus,
    has_number,
)
from outreach.timeutil import utcnow

log = logging.getLogger(__name__)

DRAIN_TASK = "outbox.drain"
SEND_QUEUE = "outbox"
# Set while a drain is requested and not yet started: one wake-up per burst of enqueues.
WAKE_KEY = "outreach:outbox:wake"
WAKE_TTL_SECONDS = 5

# Delivery report status -> outbox state. None: informative, the message stays `sent`.
REPORT_STATUS: dict[str, MessageStatus | None] = {
    "Success": MessageStatus.DELIVERED,
    "Failed": MessageStatus.FAILED,
    "Rejected": MessageStatus.REJECTED,
    "Expired": MessageStatus.EXPIRED,
    "Sent": None,
    "Submitted": None,
    "Buffered": None,
    # The handset is off; the operator keeps trying until Success, Failed or Expired.
    "AbsentSubscriber": None,
}
# Failure reasons that say nothing about the phone: they never count towards unreachable.
NOT_THE_PHONE = frozenset({"InsufficientCredit", "InvalidLinkId"})

# Per-recipient send codes that end the message for good.
REJECTED_CODES = frozenset({403, 404, 406, 407, 409})
INVALID_NUMBER_CODES = frozenset({403, 404})
BLACKLIST_CODE = 406
# The account, not the message, is at fault: hold the message until an operator acts.
ACCOUNT_CODES = frozenset({401, 402, 405})
ACCOUNT_HOLD = timedelta(minutes=15)

# Dedupe-key prefix of a direct answer to an SMS the person just sent: it goes even after
# her opt-out, since the confirmation of a STOP is one (outreach/inbound).
ANSWER_PREFIX = "sms-reply:"

# Dedupe-key prefix of an appointment reminder (`appt:<appointment id>:<slot>`): checked
# against its appointment at send time (outreach/appointments).
APPOINTMENT_PREFIX = "appt:"

# Attempt outcomes after which the gateway may hold a copy we did not hear about.
AMBIGUOUS_OUTCOMES = ("timeout", "lease_expired", "late_result")


def wake(message_id: int | None = None) -> None:
    """Ask a worker to drain due messages now (best effort: beat's tick is the safety net)."""
    from redis.exceptions import RedisError

    from outreach.redis import get_redis
    from workers.app import celery_app

    try:
        if not get_redis().set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL_SECONDS):
            return
    except RedisError:
        log.warning("wake-up flag unavailable; publishing anyway")
    celery_app.send_task(DRAIN_TASK, queue=SEND_QUEUE)


def wake_taken() -> None:
    """A drain has started: the next enqueue must publish a new wake-up."""
    from redis.exceptions import RedisError

    from outreach.redis import get_redis

    try:
        get_redis().delete(WAKE_KEY)
    except RedisError:
        log.warning("wake-up flag unavailable")


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    to_number: str,
    body: str,
    kind: str,
    addressee: str | None = None,
    priority: int = Priority.PROGRAMME,
    beneficiary_id: int | None = None,
    language: str | None = None,
    sender_id: str | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> OutboundMessage:
    """Add a message to the outbox once per dedupe key; a worker is woken after commit.

    A name in the text is `bodies.NAME` in `body`, and the name itself `addressee`.
    """
    now = utcnow()
    due = due_at or now
    message = OutboundMessage(
        dedupe_key=dedupe_key,
        kind=kind,
        priority=priority,
        to_number=to_number,
        body=body,
        addressee=addressee,
        sender_id=sender_id if sender_id is not None else get_settings().at_sender_id,
        language=language,
        beneficiary_id=beneficiary_id,
        due_at=due,
        expires_at=expires_at,
        enqueued_at=now if due <= now else None,
    )
    # One statement whether or not the key exists: this runs inside USSD hops.
    if insert_new(session, message, conflict=("dedupe_key",)) is None:
        return session.exec(
            select(OutboundMessage).where(OutboundMessage.dedupe_key == dedupe_key)
        ).one()
    if due <= now:
        after_commit(session, wake)
    return message


@dataclass(frozen=True, slots=True)
class Claim:
    """A message leased to one worker for one gateway try."""

    message_id: int
    attempt_id: int
    to_number: str
    body: str
    sender_id: str | None
    kind: str = ""
    priority: int = Priority.PROGRAMME
    lease: str = ""


def _window_filter(state: WindowState) -> ColumnElement[bool]:
    kind = col(OutboundMessage.kind)
    if state.default_open:
        closed = state.closed_overrides
        return kind.not_in(closed) if closed else true()
    return kind.in_(state.open_overrides)


def _claimable(now: datetime, state: WindowState) -> list[ColumnElement[bool]]:
    return [is_sendable(), col(OutboundMessage.due_at) <= now, _window_filter(state)]


def claim_due(
    session: Session, *, owner: str, limit: int, now: datetime | None = None
) -> list[Claim]:
    """Lease up to `limit` due messages, highest lane first, in one atomic statement."""
    return _claim(session, owner=owner, limit=limit, only_id=None, now=now)


def claim(session: Session, *, message_id: int, owner: str) -> Claim | None:
    """Lease one due message for sending, or return None if it is not ours to send."""
    claims = _claim(session, owner=owner, limit=1, only_id=message_id, now=None)
    return claims[0] if claims else None


# The claim updates the table, not the mapped class: an ORM UPDATE ... RETURNING matches
# the returned columns against the mapper's by equality, which an encrypted column refuses.
_OUTBOX: Any = OutboundMessage.__table__  # type: ignore[attr-defined]


def _claim(
    session: Session, *, owner: str, limit: int, only_id: int | None, now: datetime | None
) -> list[Claim]:
    settings = get_settings()
    now = now or utcnow()
    state = window_state(now)
    lease = f"{owner[:70]}/{uuid.uuid4().hex[:8]}"
    conditions = _claimable(now, state)
    if only_id is not None:
        conditions.append(col(OutboundMessage.id) == only_id)
    values: dict[str, Any] = {
        "status": MessageStatus.SENDING,
        "lease_owner": lease,
        "lease_expires_at": now + timedelta(seconds=settings.lease_seconds),
        "attempt_count": col(OutboundMessage.attempt_count) + 1,
        "updated_at": now,
    }
    returned = (
        col(OutboundMessage.id),
        col(OutboundMessage.to_number),
        col(OutboundMessage.body),
        col(OutboundMessage.addressee),
        col(OutboundMessage.sender_id),
        col(OutboundMessage.kind),
        col(OutboundMessage.priority),
        col(OutboundMessage.expires_at),
        col(OutboundMessage.attempt_count),
        col(OutboundMessage.beneficiary_id),
        col(OutboundMessage.dedupe_key),
    )
    order = (
        col(OutboundMessage.priority),
        col(OutboundMessage.due_at),
        col(OutboundMessage.id),
    )
    if session.get_bind().dialect.name == "postgresql":
        # SKIP LOCKED inside a CTE joined by id: exactly `limit` rows, never more, and two
        # workers never wait on each other's rows.
        picked = (
            select(col(OutboundMessage.id))
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        stmt = (
            update(_OUTBOX)
            .where(col(OutboundMessage.id) == picked.c.id)
            .values(**values)
            .returning(*returned)
        )
    else:
        # SQLite: the engine opens every transaction with BEGIN IMMEDIATE, so this one
        # statement runs alone; no other writer can claim between its SELECT and UPDATE.
        picked_ids = (
            select(col(OutboundMessage.id)).where(*conditions).order_by(*order).limit(limit)
        )
        stmt = (
            update(_OUTBOX)
            .where(col(OutboundMessage.id).in_(picked_ids.scalar_subquery()))
            .values(**values)
            .returning(*returned)
        )
    rows = sorted(session.execute(stmt).all(), key=lambda r: (r.priority, r.id))
    if not rows:
        return []
    # Consent is checked at send time: an opt-out after queueing cancels the message,
    # and so does a moment that has passed (a reminder for an appointment that is over).
    # Matched on every configured index key: a row queued before a key rotation still
    # finds its phone.
    hashes = {r.id: keys.blind_indexes(r.to_number) for r in rows}
    inactive = dict(
        session.exec(
            select(Phone.e164_index, Phone.status).where(
                col(Phone.e164_index).in_({h for found in hashes.values() for h in found}),
                col(Phone.status) != PhoneStatus.ACTIVE,
            )
        ).all()
    )
    stopped = set(
        session.exec(
            select(Beneficiary.id).where(
                col(Beneficiary.id).in_({r.beneficiary_id for r in rows} - {None}),
                col(Beneficiary.status) == BeneficiaryStatus.OPTED_OUT,
            )
        ).all()
    )
    void = _void_reminders(session, rows)
    reasons: dict[int, str] = {}
    for row in rows:
        if row.id in void:
            reasons[row.id] = "appointment_no_longer_due"
            continue
        if row.dedupe_key.startswith(ANSWER_PREFIX) and not (
            row.expires_at is not None and row.expires_at <= now
        ):
            continue
        phone_status = next((inactive[h] for h in hashes[row.id] if h in inactive), None)
        if phone_status is not None:
            reasons[row.id] = f"phone_{phone_status}"
        elif row.beneficiary_id in stopped:
            reasons[row.id] = "beneficiary_opted_out"
        elif row.expires_at is not None and row.expires_at <= now:
            reasons[row.id] = "no_longer_due"
    for reason in set(reasons.values()):
        ids = [i for i, r in reasons.items() if r == reason]
        session.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id).in_(ids))
            .values(
                status=MessageStatus.CANCELLED,
                failure_reason=reason,
                final_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                attempt_count=col(OutboundMessage.attempt_count) - 1,
            )
        )
        _count_after_commit(
            session, [metrics.transition(MessageStatus.CANCELLED, reason, len(ids))]
        )
    kept = [r for r in rows if r.id not in reasons]
    if not kept:
        return []
    attempts = session.execute(
        MessageAttempt.__table__.insert().returning(  # type: ignore[attr-defined]
            MessageAttempt.__table__.c.id,  # type: ignore[attr-defined]
            MessageAttempt.__table__.c.message_id,  # type: ignore[attr-defined]
        ),
        [
            {"message_id": r.id, "number": r.attempt_count, "worker": owner[:80], "started_at": now}
            for r in kept
        ],
    ).all()
    attempt_ids = {a.message_id: a.id for a in attempts}
    return [
        Claim(
            message_id=r.id,
            attempt_id=attempt_ids[r.id],
            to_number=r.to_number,
            # Rendered here, so batching groups recipients by the text they will read.
            body=bodies.render(r.body, r.addressee),
            sender_id=r.sender_id,
            kind=r.kind,
            priority=r.priority,
            lease=lease,
        )
        for r in kept
    ]


def _void_reminders(session: Session, rows: Sequence[Any]) -> set[int]:
    """Claimed appointment reminders whose appointment was moved, cancelled or attended."""
    from outreach.appointments.models import Appointment, AppointmentStatus

    by_appointment: dict[int, list[int]] = {}
    for row in rows:
        if row.dedupe_key.startswith(APPOINTMENT_PREFIX):
            appointment = row.dedupe_key.split(":")[1]
            if appointment.isdigit():
                by_appointment.setdefault(int(appointment), []).append(row.id)
    if not by_appointment:
        return set()
    gone = session.exec(
        select(Appointment.id).where(
            col(Appointment.id).in_(by_appointment),
            col(Appointment.status) != AppointmentStatus.SCHEDULED,
        )
    ).all()
    return {message for a in gone if a is not None for message in by_appointment[a]}


def release(session: Session, *, claims: Sequence[Claim]) -> int:
    """Hand claimed messages back untried (a higher lane is waiting, or the lease runs short)."""
    if not claims:
        return 0
    now = utcnow()
    ids = [c.message_id for c in claims]
    leases = {c.lease for c in claims}
    result = session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.id).in_(ids),
            col(OutboundMessage.status) == MessageStatus.SENDING,
            col(OutboundMessage.lease_owner).in_(leases),
        )
        .values(
            status=MessageStatus.QUEUED,
            lease_owner=None,
            lease_expires_at=None,
            attempt_count=col(OutboundMessage.attempt_count) - 1,
            updated_at=now,
        )
    )
    # No request left: these were never tries.
    session.execute(
        delete(MessageAttempt).where(
            col(MessageAttempt.id).in_([c.attempt_id for c in claims]),
            col(MessageAttempt.finished_at).is_(None),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@lru_cache
def _autocommit_engine(engine: Engine) -> Engine:
    return engine.execution_options(sqlite_begin=None)


def read_session() -> Session:
    """A session for reads only: on SQLite it takes no write lock."""
    return Session(_autocommit_engine(get_engine()))


def has_due(
    session: Session, *, above_priority: int | None = None, now: datetime | None = None
) -> bool:
    """Is any message claimable now (with a lower priority number than `above_priority`)?"""
    now = now or utcnow()
    conditions = _claimable(now, window_state(now))
    if above_priority is not None:
        conditions.append(col(OutboundMessage.priority) < above_priority)
    return session.exec(select(OutboundMessage.id).where(*conditions).limit(1)).first() is not None


@dataclass(slots=True)
class CallOutcome:
    """What one gateway call did to its messages, for the caller's logs and counters."""

    by_message: dict[int, str] = field(default_factory=dict)
    events: list[metrics.Event] = field(default_factory=list)
    accepted: int = 0


def record_results(
    session: Session, *, claims: Sequence[Claim], results: Iterable[RecipientResult]
) -> CallOutcome:
    """Store the gateway's per-recipient answers and move each message accordingly."""
    by_number = {r.number: r for r in results}
    return _record(
        session,
        claims=claims,
        decide=lambda claim: by_number.get(claim.to_number),
        error=None,
        ambiguous=False,
    )


def record_failure(
    session: Session, *, claims: Sequence[Claim], error: str, ambiguous: bool
) -> CallOutcome:
    """Store a failed call for each of its recipients: retry, or unknown when ambiguous."""
    return _record(session, claims=claims, decide=lambda _c: None, error=error, ambiguous=ambiguous)


def _record(
    session: Session,
    *,
    claims: Sequence[Claim],
    decide: Callable[[Claim], RecipientResult | None],
    error: str | None,
    ambiguous: bool,
) -> CallOutcome:
    now = utcnow()
    outcome = CallOutcome()
    messages = {
        m.id: m
        for m in session.exec(
            select(OutboundMessage)
            .where(col(OutboundMessage.id).in_([c.message_id for c in claims]))
            .order_by(col(OutboundMessage.id))
            # Locked, so a sweeper reclaiming these leases right now is seen, not overwritten.
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    attempts = {
        a.id: a
        for a in session.exec(
            select(MessageAttempt).where(col(MessageAttempt.id).in_([c.attempt_id for c in claims]))
        )
    }
    sent: list[OutboundMessage] = []
    phone_codes: dict[str, int] = {}
    for claim in claims:
        message, attempt = messages[claim.message_id], attempts[claim.attempt_id]
        result = decide(claim)
        attempt.finished_at = now
        if result is not None:
            attempt.status_code = result.status_code
            attempt.gateway_message_id = result.message_id
            attempt.cost = result.cost
        current = message.status == MessageStatus.SENDING and message.lease_owner == claim.lease
        if not current:
            # The lease expired and someone else moved it; the attempt row keeps the evidence.
            attempt.outcome = "late_result"
            attempt.error = (error or "")[:2000] or None
            outcome.by_message[claim.message_id] = "late_result"
            continue
        message.lease_owner = None
        message.lease_expires_at = None
        message.updated_at = now
        if error is not None or result is None:
            problem = error or "gateway did not report this recipient"
            # A 2xx answer that leaves our recipient out is as unknowable as a timeout.
            is_ambiguous = ambiguous if error is not None else True
            attempt.outcome = "timeout" if is_ambiguous else "error"
            attempt.error = problem[:2000]
            message.last_error = problem[:2000]
            label = "ambiguous" if is_ambiguous else "error"
            if is_ambiguous and ambiguous_policy(message.kind) == "at_most_once":
                message.status = MessageStatus.UNKNOWN
                outcome.events.append(metrics.transition(MessageStatus.UNKNOWN, "timeout"))
            else:
                if is_ambiguous:
                    outcome.events.append(
                        metrics.event("outreach_outbox_possible_duplicates", "timeout")
                    )
                outcome.events.append(
                    _retry_or_fail(
                        message, now, error=problem, reason="timeout" if is_ambiguous else "error"
                    )
                )
            outcome.by_message[claim.message_id] = label
            continue
        if result.accepted:
            attempt.outcome = "accepted"
            message.status = MessageStatus.SENT
            message.gateway_message_id = result.message_id
            message.cost = result.cost
            message.currency = result.currency
            message.sent_at = now
            sent.append(message)
            outcome.accepted += 1
            outcome.events.append(metrics.transition(MessageStatus.SENT, str(result.status_code)))
        elif result.status_code in REJECTED_CODES:
            attempt.outcome = "rejected"
            _finish(message, MessageStatus.REJECTED, now, reason=result.status)
            phone_codes[message.to_number] = result.status_code
            outcome.events.append(metrics.transition(MessageStatus.REJECTED, result.status))
        elif result.status_code in ACCOUNT_CODES:
            attempt.outcome = "account_hold"
            log.error(
                "gateway account problem: %s (%s); message %s held",
                result.status,
                result.status_code,
                message.id,
            )
            _defer(message, now + ACCOUNT_HOLD)
            message.last_error = f"{result.status_code} {result.status}"
            outcome.events.append(
                metrics.event("outreach_gateway_account_problems", str(result.status_code))
            )
            outcome.events.append(metrics.transition(MessageStatus.DEFERRED, result.status))
        else:
            attempt.outcome = "gateway_error"
            outcome.events.append(
                _retry_or_fail(
                    message,
                    now,
                    error=f"{result.status_code} {result.status}",
                    reason=result.status or str(result.status_code),
                )
            )
        outcome.by_message[claim.message_id] = str(message.status)
    session.flush()
    if phone_codes:
        _mark_phones(session, phone_codes, outcome.events)
    if sent:
        _apply_pending_reports(session, sent, outcome.events)
        for message in sent:
            outcome.by_message[message.id or 0] = str(message.status)
    return outcome


def ambiguous_policy(kind: str) -> str:
    """What a try the gateway may have accepted leads to, for this kind of message."""
    settings = get_settings()
    return settings.ambiguous_policy_by_kind.get(kind, settings.ambiguous_policy)


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
    events: list[metrics.Event] = []
    if message is not None:
        _apply_report(session, message, report, events)
    _count_after_commit(session, events)
    return report


@dataclass(frozen=True, slots=True)
class SweepResult:
    reclaimed: int
    deferred: int
    cancelled: int
    reports_matched: int
    due: bool


def sweep(session: Session, *, now: datetime | None = None) -> SweepResult:
    """Reclaim expired leases, apply quiet hours and validity, match stray reports."""
    now = now or utcnow()
    events: list[metrics.Event] = []
    reclaimed = _reclaim_expired_leases(session, now, events)
    cancelled = _cancel_no_longer_due(session, now, events)
    deferred = _defer_closed_kinds(session, now, events)
    matched = _match_stray_reports(session, events)
    _count_after_commit(session, events)
    session.flush()
    due = has_due(session, now=now)
    return SweepResult(
        reclaimed=reclaimed,
        deferred=deferred,
        cancelled=cancelled,
        reports_matched=matched,
        due=due,
    )


def cancel_for_phone(session: Session, *, e164: str, reason: str) -> int:
    """Cancel every message still waiting to go to this number."""
    now = utcnow()
    result = session.execute(
        update(OutboundMessage)
        .where(
            addressed_to(e164),
            is_sendable(),
        )
        .values(status=MessageStatus.CANCELLED, failure_reason=reason, final_at=now, updated_at=now)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    _count_after_commit(session, [metrics.transition(MessageStatus.CANCELLED, reason, count)])
    return count


def _count_after_commit(session: Session, events: list[metrics.Event]) -> None:
    if any(amount for _n, _l, amount in events):
        frozen = list(events)
        after_commit(session, lambda: metrics.record(frozen))


def _finish(
    message: OutboundMessage, status: MessageStatus, now: datetime, *, reason: str | None
) -> None:
    message.status = status
    message.failure_reason = reason[:60] if reason else None
    message.final_at = now
    message.updated_at = now
    message.lease_owner = None
    message.lease_expires_at = None


def _defer(message: OutboundMessage, due_at: datetime) -> None:
    message.status = MessageStatus.DEFERRED
    message.due_at = due_at
    message.enqueued_at = None


def _retry_or_fail(
    message: OutboundMessage, now: datetime, *, error: str, reason: str
) -> metrics.Event:
    settings = get_settings()
    message.last_error = error[:2000]
    if message.attempt_count >= settings.send_max_attempts:
        _finish(message, MessageStatus.FAILED, now, reason="max_attempts")
        return metrics.transition(MessageStatus.FAILED, "max_attempts")
    delay = min(
        settings.send_backoff_max_seconds,
        settings.send_backoff_seconds * 2 ** max(0, message.attempt_count - 1),
    )
    # Jitter spreads retries from the many messages of one failed call.
    delay = random.uniform(delay / 2, delay)
    message.status = MessageStatus.QUEUED
    message.due_at = now + timedelta(seconds=delay)
    message.enqueued_at = None
    return metrics.transition(MessageStatus.QUEUED, f"retry_{reason}"[:60])


def _opt_out_blocked(session: Session, e164: str) -> None:
    # Imported here: the registry enqueues through this module.
    from outreach.registry import service as registry_service
    from outreach.registry.models import ConsentChannel

    registry_service.opt_out_phone(
        session,
        raw=e164,
        reason="gateway_blacklist",
        withdrawal=registry_service.ConsentInfo(
            text_key="gateway_blacklist",
            text_version=0,
            language="fr",
            channel=ConsentChannel.GATEWAY_OPTOUT,
        ),
    )


def _mark_phones(session: Session, codes: dict[str, int], events: list[metrics.Event]) -> None:
    hashes = [h for number in codes for h in keys.blind_indexes(number)]
    phones = session.exec(select(Phone).where(col(Phone.e164_index).in_(hashes))).all()
    for phone in phones:
        code = codes[phone.e164]
        if code == BLACKLIST_CODE:
            # The person blocked our sender: that is an opt-out, logged as such.
            _opt_out_blocked(session, phone.e164)
        elif code in INVALID_NUMBER_CODES:
            phone.status = PhoneStatus.INVALID
        else:
            continue
        session.add(phone)
        events.append(metrics.event("outreach_phones_marked", phone.status))


def _apply_report(
    session: Session,
    message: OutboundMessage,
    report: DeliveryReport,
    events: list[metrics.Event],
) -> None:
    report.message_id = message.id
    report.applied = True
    session.add(report)
    target = REPORT_STATUS.get(report.status)
    if target is None or message.status in FINAL_STATES:
        return
    if message.status not in (MessageStatus.SENT, MessageStatus.UNKNOWN):
        return
    _finish(message, target, utcnow(), reason=report.failure_reason)
    events.append(metrics.transition(target, report.failure_reason))
    if target in (MessageStatus.FAILED, MessageStatus.REJECTED):
        _check_unreachable(session, message.to_number, events)


def _is_hard_failure(message: OutboundMessage) -> bool:
    return (
        message.status in (MessageStatus.FAILED, MessageStatus.REJECTED)
        and message.failure_reason not in NOT_THE_PHONE
        and message.failure_reason != "max_attempts"
    )


def _check_unreachable(session: Session, e164: str, events: list[metrics.Event]) -> None:
    """Several delivery failures in a row on one phone: mark it for staff to check."""
    needed = get_settings().unreachable_after_failures
    session.flush()
    latest = session.exec(
        select(OutboundMessage)
        .where(
            addressed_to(e164),
            col(OutboundMessage.status).in_(
                [
                    MessageStatus.DELIVERED,
                    MessageStatus.FAILED,
                    MessageStatus.REJECTED,
                    MessageStatus.EXPIRED,
                ]
            ),
            col(OutboundMessage.gateway_message_id).is_not(None),
        )
        .order_by(col(OutboundMessage.final_at).desc(), col(OutboundMessage.id).desc())
        .limit(needed)
    ).all()
    if len(latest) < needed or not all(_is_hard_failure(m) for m in latest):
        return
    phone = session.exec(select(Phone).where(has_number(e164))).first()
    if phone is None or phone.status != PhoneStatus.ACTIVE:
        return
    log.warning("phone %s unreachable after %d failed deliveries", phone.id, needed)
    phone.status = PhoneStatus.UNREACHABLE
    session.add(phone)
    events.append(metrics.event("outreach_phones_marked", PhoneStatus.UNREACHABLE))


def _apply_pending_reports(
    session: Session, messages: list[OutboundMessage], events: list[metrics.Event]
) -> None:
    by_gateway_id = {m.gateway_message_id: m for m in messages if m.gateway_message_id}
    if not by_gateway_id:
        return
    reports = session.exec(
        select(DeliveryReport)
        .where(
            col(DeliveryReport.gateway_message_id).in_(list(by_gateway_id)),
            col(DeliveryReport.applied).is_(False),
        )
        .order_by(col(DeliveryReport.id))
    ).all()
    # A final report wins whatever order the reports came in.
    for report in sorted(reports, key=lambda r: REPORT_STATUS.get(r.status) in FINAL_STATES):
        _apply_report(session, by_gateway_id[report.gateway_message_id], report, events)


def _match_stray_reports(session: Session, events: list[metrics.Event]) -> int:
    strays = session.exec(
        select(DeliveryReport, OutboundMessage)
        .join(
            OutboundMessage,
            col(OutboundMessage.gateway_message_id) == col(DeliveryReport.gateway_message_id),
        )
        .where(col(DeliveryReport.applied).is_(False))
        .limit(get_settings().sweep_batch)
    ).all()
    for report, message in strays:
        _apply_report(session, message, report, events)
    return len(strays)


def _reclaim_expired_leases(session: Session, now: datetime, events: list[metrics.Event]) -> int:
    candidates = session.exec(
        select(OutboundMessage.id, OutboundMessage.kind, OutboundMessage.lease_owner)
        .where(
            OutboundMessage.status == MessageStatus.SENDING,
            col(OutboundMessage.lease_expires_at) < now,
        )
        .limit(get_settings().sweep_batch)
    ).all()
    reclaimed: list[int] = []
    for target in (MessageStatus.QUEUED, MessageStatus.UNKNOWN):
        wanted = "at_most_once" if target == MessageStatus.UNKNOWN else "at_least_once"
        ids = [i for i, kind, _ in candidates if ambiguous_policy(kind) == wanted]
        if not ids:
            continue
        values: dict[str, Any] = {
            "status": target,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
            "last_error": "lease expired: worker lost during a try",
        }
        if target == MessageStatus.QUEUED:
            values.update(due_at=now, enqueued_at=None)
        # The conditions are checked again under the row lock: a worker that recorded its
        # result since the read above keeps it, instead of being sent a second time.
        done = session.execute(
            update(OutboundMessage)
            .where(
                col(OutboundMessage.id).in_(ids),
                col(OutboundMessage.status) == MessageStatus.SENDING,
                col(OutboundMessage.lease_expires_at) < now,
            )
            .values(**values)
            .returning(col(OutboundMessage.id))
        ).all()
        for (message_id,) in done:
            reclaimed.append(message_id)
            events.append(metrics.transition(target, "lease_expired"))
            if target == MessageStatus.QUEUED:
                events.append(metrics.event("outreach_outbox_possible_duplicates", "lease_expired"))
    if not reclaimed:
        return 0
    # The worker died mid-try: the gateway may or may not have the message.
    session.execute(
        update(MessageAttempt)
        .where(
            col(MessageAttempt.message_id).in_(reclaimed),
            col(MessageAttempt.finished_at).is_(None),
        )
        .values(outcome="lease_expired", finished_at=now, error="worker lost during the try")
    )
    owners = {i: owner for i, _, owner in candidates}
    for message_id in reclaimed:
        log.warning("lease expired on message %s (owner %s)", message_id, owners.get(message_id))
    return len(reclaimed)


def _cancel_no_longer_due(session: Session, now: datetime, events: list[metrics.Event]) -> int:
    result = session.execute(
        update(OutboundMessage)
        .where(
            is_sendable(),
            col(OutboundMessage.expires_at).is_not(None),
            col(OutboundMessage.expires_at) <= now,
        )
        .values(
            status=MessageStatus.CANCELLED,
            failure_reason="no_longer_due",
            final_at=now,
            updated_at=now,
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    events.append(metrics.transition(MessageStatus.CANCELLED, "no_longer_due", count))
    return count


def _defer_closed_kinds(session: Session, now: datetime, events: list[metrics.Event]) -> int:
    """Move due messages of kinds outside their send window to the window's next opening."""
    state = window_state(now)
    kind = col(OutboundMessage.kind)
    targets: list[tuple[ColumnElement[bool], datetime]] = [
        (kind == closed, state.opening(closed)) for closed in state.closed_overrides
    ]
    if not state.default_open:
        targets.append((kind.not_in(list(state.overrides)), state.default_opening))
    total = 0
    for which, opening in targets:
        base = [is_sendable(), col(OutboundMessage.due_at) <= now, which]
        # A message whose moment will have passed at the opening is not sent late.
        stale = session.execute(
            update(OutboundMessage)
            .where(*base, col(OutboundMessage.expires_at).is_not(None))
            .where(col(OutboundMessage.expires_at) <= opening)
            .values(
                status=MessageStatus.CANCELLED,
                failure_reason="no_longer_due",
                final_at=now,
                updated_at=now,
            )
        )
        events.append(
            metrics.transition(
                MessageStatus.CANCELLED, "no_longer_due", int(getattr(stale, "rowcount", 0) or 0)
            )
        )
        moved = session.execute(
            update(OutboundMessage)
            .where(*base)
            .values(status=MessageStatus.DEFERRED, due_at=opening, updated_at=now)
        )
        count = int(getattr(moved, "rowcount", 0) or 0)
        events.append(metrics.transition(MessageStatus.DEFERRED, "quiet_hours", count))
        total += count
    return total
