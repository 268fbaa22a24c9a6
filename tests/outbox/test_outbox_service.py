"""Outbox rules: enqueue, claim, send results, delivery reports, sweeper and opt-out.

The gateway is the only fake: a scripted object implementing the `Gateway` protocol,
as Africa's Talking would answer. Everything else is the real service on the real
database, driven through `delivery.send_one` where a worker would drive it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from outbox_fakes import FakeGateway
from sqlalchemy import update
from sqlmodel import Session, col, select

from outreach.config import get_settings
from outreach.db import unit_of_work
from outreach.gateways.base import GatewayAmbiguousError, GatewayError, RecipientResult
from outreach.outbox import delivery, service
from outreach.outbox.models import (
    FINAL_STATES,
    DeliveryReport,
    MessageAttempt,
    MessageKind,
    MessageStatus,
    OutboundMessage,
)
from outreach.registry.models import (
    Beneficiary,
    Consent,
    ConsentChannel,
    Phone,
    PhoneStatus,
    has_number,
)
from outreach.timeutil import utcnow

AWA = "+22370123456"
MOUSSA = "+22376543210"


def _enqueue(db: Session, key: str = "reminder:1", *, to: str = AWA, due_in: float = 0) -> int:
    due_at = utcnow() + timedelta(seconds=due_in) if due_in else None
    message = service.enqueue(
        db,
        dedupe_key=key,
        to_number=to,
        body="Rappel: consultation prenatale demain au CSCom.",
        kind=MessageKind.REMINDER,
        due_at=due_at,
    )
    db.commit()
    assert message.id is not None
    return message.id


def _phone(db: Session, e164: str = AWA, status: str = PhoneStatus.ACTIVE) -> None:
    db.add(Phone(e164=e164, status=status))
    db.commit()


def _set(db: Session, message_id: int, **values: object) -> None:
    db.execute(update(OutboundMessage).where(col(OutboundMessage.id) == message_id).values(values))
    db.commit()


def _message(db: Session, message_id: int) -> OutboundMessage:
    db.expire_all()
    message = db.get(OutboundMessage, message_id)
    assert message is not None
    return message


def _attempts(db: Session, message_id: int) -> list[MessageAttempt]:
    db.expire_all()
    return list(
        db.exec(
            select(MessageAttempt)
            .where(MessageAttempt.message_id == message_id)
            .order_by(col(MessageAttempt.number))
        ).all()
    )


def _reports(db: Session, gateway_message_id: str) -> list[DeliveryReport]:
    db.expire_all()
    return list(
        db.exec(
            select(DeliveryReport)
            .where(DeliveryReport.gateway_message_id == gateway_message_id)
            .order_by(col(DeliveryReport.id))
        ).all()
    )


def _phone_status(db: Session, e164: str) -> Phone:
    db.expire_all()
    return db.exec(select(Phone).where(has_number(e164))).one()


def _send(message_id: int, gateway: FakeGateway) -> str:
    return delivery.send_one(message_id=message_id, gateway=gateway, owner="test")


def _report(gateway_message_id: str, status: str, **extra: object) -> DeliveryReport | None:
    with unit_of_work() as session:
        return service.apply_delivery_report(
            session, gateway_message_id=gateway_message_id, status=status, **extra
        )


def _sent(db: Session, key: str = "reminder:1") -> tuple[int, str]:
    """A message accepted by the gateway: its id and the gateway's message id."""
    message_id = _enqueue(db, key)
    gateway = FakeGateway(101)
    assert _send(message_id, gateway) == MessageStatus.SENT
    return message_id, gateway.message_ids[0]


# --- enqueue ---------------------------------------------------------------------------


def test_enqueue_is_idempotent_on_dedupe_key(db) -> None:
    # Given a reminder already in the outbox
    first = _enqueue(db, "reminder:awa:anc2")
    # When the same reminder is enqueued again, even with another body
    again = service.enqueue(
        db,
        dedupe_key="reminder:awa:anc2",
        to_number=AWA,
        body="Autre texte",
        kind=MessageKind.REMINDER,
    )
    db.commit()
    # Then there is still one row, the first one, untouched
    assert again.id == first
    rows = db.exec(select(OutboundMessage)).all()
    assert len(rows) == 1
    assert rows[0].body.startswith("Rappel")
    assert rows[0].status == MessageStatus.QUEUED


def test_enqueue_marks_only_due_messages_as_enqueued(db) -> None:
    # Given nothing in the outbox
    # When one message is due now and another tomorrow
    now_id = _enqueue(db, "now")
    later_id = _enqueue(db, "later", due_in=86_400)
    # Then only the due one is marked as handed to a worker
    assert _message(db, now_id).enqueued_at is not None
    later = _message(db, later_id)
    assert later.enqueued_at is None
    assert later.due_at > utcnow() + timedelta(hours=23)


# --- claim -----------------------------------------------------------------------------


def test_claim_leases_a_due_queued_message_once(db) -> None:
    # Given a due queued message
    message_id = _enqueue(db)
    # When two workers claim it one after the other
    with unit_of_work() as session:
        first = service.claim(session, message_id=message_id, owner="worker-a")
    with unit_of_work() as session:
        second = service.claim(session, message_id=message_id, owner="worker-b")
    # Then only the first gets it, leased to it, with one attempt row
    assert first is not None and second is None
    assert first.to_number == AWA and first.body.startswith("Rappel")
    message = _message(db, message_id)
    assert message.status == MessageStatus.SENDING
    assert message.lease_owner == first.lease and first.lease.startswith("worker-a/")
    assert message.lease_expires_at is not None and message.lease_expires_at > utcnow()
    assert message.attempt_count == 1
    [attempt] = _attempts(db, message_id)
    assert attempt.id == first.attempt_id
    assert attempt.number == 1 and attempt.worker == "worker-a"
    assert attempt.finished_at is None and attempt.outcome is None


def test_claim_skips_a_message_due_in_the_future(db) -> None:
    # Given a message due in an hour
    message_id = _enqueue(db, due_in=3600)
    # When a worker tries to send it now
    gateway = FakeGateway(101)
    outcome = _send(message_id, gateway)
    # Then nothing is sent and nothing moves
    assert outcome == "skipped"
    assert gateway.calls == []
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED and message.attempt_count == 0
    assert _attempts(db, message_id) == []


@pytest.mark.parametrize(
    "status",
    sorted({*FINAL_STATES, MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.UNKNOWN}),
)
def test_claim_skips_a_message_that_is_not_sendable(db, status) -> None:
    # Given a due message already past the queue
    message_id = _enqueue(db)
    _set(db, message_id, status=status)
    # When a worker tries to send it
    gateway = FakeGateway(101)
    outcome = _send(message_id, gateway)
    # Then the gateway is never called and the row is unchanged
    assert outcome == "skipped"
    assert gateway.calls == []
    message = _message(db, message_id)
    assert message.status == status and message.attempt_count == 0


def test_claim_cancels_when_the_phone_opted_out_after_queueing(db) -> None:
    # Given a queued message, then the woman opts out before a worker picks it up
    _phone(db)
    message_id = _enqueue(db)
    db.exec(select(Phone)).one().status = PhoneStatus.OPTED_OUT
    db.commit()
    # When a worker tries to send it
    gateway = FakeGateway(101)
    outcome = _send(message_id, gateway)
    # Then consent is checked at send time: no call, the message is cancelled
    assert outcome == "skipped"
    assert gateway.calls == []
    message = _message(db, message_id)
    assert message.status == MessageStatus.CANCELLED
    assert message.failure_reason == "phone_opted_out"
    assert message.final_at is not None and message.lease_owner is None
    assert _attempts(db, message_id) == []


# --- record_result -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [100, 101, 102])
def test_accepted_send_marks_the_message_sent_with_id_and_cost(db, code) -> None:
    # Given a due message
    message_id = _enqueue(db)
    # When AT accepts it for the recipient
    gateway = FakeGateway(code)
    outcome = _send(message_id, gateway)
    # Then it is sent, with AT's message id, cost and currency, and the attempt says so
    assert outcome == MessageStatus.SENT
    assert gateway.calls == [
        ("Rappel: consultation prenatale demain au CSCom.", [AWA], get_settings().at_sender_id)
    ]
    message = _message(db, message_id)
    assert message.status == MessageStatus.SENT
    assert message.gateway_message_id == gateway.message_ids[0]
    assert message.cost == Decimal("25.0000") and message.currency == "XOF"
    assert message.sent_at is not None and message.final_at is None
    assert message.lease_owner is None and message.lease_expires_at is None
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "accepted" and attempt.status_code == code
    assert attempt.gateway_message_id == gateway.message_ids[0]
    assert attempt.cost == Decimal("25.0000") and attempt.finished_at is not None


def test_invalid_number_rejects_the_message_and_marks_the_phone(db) -> None:
    # Given a queued message to a known phone
    _phone(db)
    message_id = _enqueue(db)
    # When AT answers 403 InvalidPhoneNumber for it
    outcome = _send(message_id, FakeGateway(403))
    # Then the message is rejected for good and the phone marked invalid
    assert outcome == MessageStatus.REJECTED
    message = _message(db, message_id)
    assert message.status == MessageStatus.REJECTED
    assert message.failure_reason == "InvalidPhoneNumber" and message.final_at is not None
    assert _phone_status(db, AWA).status == PhoneStatus.INVALID
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "rejected" and attempt.status_code == 403


def test_blacklisted_sender_rejects_the_message_and_opts_the_phone_out(db) -> None:
    # Given a queued message to a known phone
    _phone(db)
    message_id = _enqueue(db)
    # When AT answers 406 UserInBlacklist: she blocked our sender
    outcome = _send(message_id, FakeGateway(406))
    # Then the message is rejected and the phone treated as opted out
    assert outcome == MessageStatus.REJECTED
    assert _message(db, message_id).failure_reason == "UserInBlacklist"
    phone = _phone_status(db, AWA)
    assert phone.status == PhoneStatus.OPTED_OUT and phone.opted_out_at is not None
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "rejected" and attempt.status_code == 406


def test_blacklisted_sender_is_logged_as_a_consent_withdrawal(db) -> None:
    # Given a beneficiary on a phone with a queued message
    _phone(db)
    phone = _phone_status(db, AWA)
    db.add(Beneficiary(code="654321", name="Awa Traore", phone_id=phone.id))
    db.commit()
    message_id = _enqueue(db)
    # When AT answers 406 UserInBlacklist
    _send(message_id, FakeGateway(406))
    # Then her consent history shows the withdrawal, through the gateway
    [withdrawal] = db.exec(select(Consent)).all()
    assert withdrawal.granted is False
    assert withdrawal.channel == ConsentChannel.GATEWAY_OPTOUT


@pytest.mark.parametrize("code", [402, 405])
def test_account_problem_holds_the_message_for_later(db, code, caplog) -> None:
    # Given a queued message
    message_id = _enqueue(db)
    # When AT answers an account problem (bad sender id, no credit)
    before = utcnow()
    outcome = _send(message_id, FakeGateway(code))
    # Then the message is held, due well after now, and an operator is alerted
    assert outcome == MessageStatus.DEFERRED
    message = _message(db, message_id)
    assert message.status == MessageStatus.DEFERRED
    assert message.due_at >= before + service.ACCOUNT_HOLD
    assert message.enqueued_at is None and message.final_at is None
    assert "gateway account problem" in caplog.text
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "account_hold" and attempt.status_code == code
    # ... and a worker woken meanwhile does not send it
    assert _send(message_id, FakeGateway(101)) == "skipped"


def test_per_recipient_500_requeues_with_backoff_then_sends(db, wait_for) -> None:
    # Given a queued message
    message_id = _enqueue(db)
    gateway = FakeGateway(500, 101)
    # When AT answers 500 for the recipient
    before = utcnow()
    assert _send(message_id, gateway) == MessageStatus.QUEUED
    # Then it is queued again, due a little later, with the error kept
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED
    assert message.due_at > before and message.enqueued_at is None
    assert message.last_error == "500 InternalServerError"
    # When the retry falls due, it goes through
    wait_for(lambda: _send(message_id, gateway) != "skipped", timeout=10, what="the retry")
    assert _message(db, message_id).status == MessageStatus.SENT
    attempts = _attempts(db, message_id)
    assert [(a.number, a.outcome, a.status_code) for a in attempts] == [
        (1, "gateway_error", 500),
        (2, "accepted", 101),
    ]
    assert len(gateway.calls) == 2


def test_gateway_error_requeues_the_message(db) -> None:
    # Given a queued message
    message_id = _enqueue(db)
    # When the send call fails for sure (AT answered 5xx to the whole request)
    before = utcnow()
    outcome = _send(message_id, FakeGateway(GatewayError("HTTP 503 from gateway")))
    # Then it is queued for another try
    assert outcome == "error"
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED and message.due_at > before
    assert message.last_error == "HTTP 503 from gateway" and message.lease_owner is None
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "error" and attempt.error == "HTTP 503 from gateway"
    assert attempt.finished_at is not None


def test_message_fails_after_max_attempts(db, settings_env, wait_for) -> None:
    # Given at most three tries, and a gateway that always fails
    settings_env(send_max_attempts=3)
    message_id = _enqueue(db)
    gateway = FakeGateway(GatewayError("HTTP 503 from gateway"))
    # When workers keep trying as retries fall due
    for _ in range(3):
        wait_for(lambda: _send(message_id, gateway) != "skipped", timeout=10, what="a retry")
    # Then it fails for good after the third try, and no fourth call is made
    message = _message(db, message_id)
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason == "max_attempts" and message.final_at is not None
    assert message.attempt_count == 3
    assert [a.outcome for a in _attempts(db, message_id)] == ["error"] * 3
    assert _send(message_id, gateway) == "skipped"
    assert len(gateway.calls) == 3


def test_ambiguous_timeout_is_retried_at_least_once(db, settings_env, wait_for) -> None:
    # Given the at-least-once policy
    settings_env(ambiguous_policy="at_least_once")
    message_id = _enqueue(db)
    gateway = FakeGateway(GatewayAmbiguousError("read timeout"), 101)
    # When the send call times out after the request left
    assert _send(message_id, gateway) == "ambiguous"
    # Then the message is queued again and the next try sends it
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED and message.last_error == "read timeout"
    wait_for(lambda: _send(message_id, gateway) != "skipped", timeout=10, what="the retry")
    assert _message(db, message_id).status == MessageStatus.SENT
    assert [a.outcome for a in _attempts(db, message_id)] == ["timeout", "accepted"]


def test_ambiguous_timeout_is_marked_unknown_at_most_once(db, settings_env) -> None:
    # Given the at-most-once policy
    settings_env(ambiguous_policy="at_most_once")
    message_id = _enqueue(db)
    gateway = FakeGateway(GatewayAmbiguousError("read timeout"), 101)
    # When the send call times out after the request left
    assert _send(message_id, gateway) == "ambiguous"
    # Then the message is unknown and never sent again
    message = _message(db, message_id)
    assert message.status == MessageStatus.UNKNOWN and message.last_error == "read timeout"
    assert message.lease_owner is None
    assert _send(message_id, gateway) == "skipped"
    assert len(gateway.calls) == 1
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "timeout" and attempt.error == "read timeout"


def test_missing_recipient_in_the_answer_is_ambiguous(db, settings_env) -> None:
    # Given the at-most-once policy and a gateway that answers for someone else
    settings_env(ambiguous_policy="at_most_once")
    message_id = _enqueue(db)

    class OtherRecipient(FakeGateway):
        def send(self, *, message, recipients, sender_id=None):
            return super().send(message=message, recipients=[MOUSSA], sender_id=sender_id)

    # When the answer does not mention our recipient
    outcome = _send(message_id, OtherRecipient(101))
    # Then we cannot know whether AT has it
    assert outcome == "ambiguous"
    assert _message(db, message_id).status == MessageStatus.UNKNOWN
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "timeout"
    assert attempt.error == "gateway did not report this recipient"


def test_every_try_writes_an_attempt_row(db, wait_for) -> None:
    # Given a gateway that fails three ways before accepting
    message_id = _enqueue(db)
    gateway = FakeGateway(
        500, GatewayError("connection refused"), GatewayAmbiguousError("t/o"), 101
    )
    # When workers try until it is sent
    for _ in range(4):
        wait_for(lambda: _send(message_id, gateway) != "skipped", timeout=10, what="a try")
    # Then there is one finished attempt per try, numbered, with its outcome
    attempts = _attempts(db, message_id)
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, "gateway_error"),
        (2, "error"),
        (3, "timeout"),
        (4, "accepted"),
    ]
    assert all(a.finished_at is not None and a.worker == "test" for a in attempts)
    message = _message(db, message_id)
    assert message.status == MessageStatus.SENT and message.attempt_count == 4


# --- delivery reports --------------------------------------------------------------------


def test_success_report_marks_the_message_delivered(db) -> None:
    # Given a sent message
    message_id, at_id = _sent(db)
    # When AT reports it on the handset
    report = _report(at_id, "Success", network_code="61001", retry_count=0)
    # Then it is delivered, and the report stored and linked
    assert report is not None
    message = _message(db, message_id)
    assert message.status == MessageStatus.DELIVERED and message.final_at is not None
    [stored] = _reports(db, at_id)
    assert stored.message_id == message_id and stored.applied
    assert stored.network_code == "61001" and stored.retry_count == 0


def test_duplicate_report_is_ignored(db) -> None:
    # Given a delivered message
    message_id, at_id = _sent(db)
    assert _report(at_id, "Success") is not None
    # When AT posts the same report again, twice
    _report(at_id, "Success")
    _report(at_id, "Success")
    # Then nothing new is stored and the message is unchanged
    [report] = _reports(db, at_id)
    assert report.message_id == message_id and report.applied
    assert _message(db, message_id).status == MessageStatus.DELIVERED


def test_duplicate_report_is_reported_as_a_duplicate(db) -> None:
    # Given a sent message with one Success report
    _message_id, at_id = _sent(db)
    first = _report(at_id, "Success")
    # When AT posts the same report again
    again = _report(at_id, "Success")
    # Then the service says it was a duplicate
    assert first is not None
    assert again is None


def test_late_sent_report_never_moves_a_delivered_message_back(db) -> None:
    # Given a message delivered by a Success report
    message_id, at_id = _sent(db)
    _report(at_id, "Success")
    # When a late intermediate report arrives
    _report(at_id, "Sent")
    _report(at_id, "Buffered")
    # Then it stays delivered; every report is kept
    message = _message(db, message_id)
    assert message.status == MessageStatus.DELIVERED
    assert [r.status for r in _reports(db, at_id)] == ["Success", "Sent", "Buffered"]


def test_failed_report_after_delivered_changes_nothing(db) -> None:
    # Given a delivered message
    message_id, at_id = _sent(db)
    _report(at_id, "Success")
    delivered = _message(db, message_id)
    # When a contradictory Failed report arrives
    _report(at_id, "Failed", failure_reason="DeliveryFailure")
    # Then the first final state stands
    message = _message(db, message_id)
    assert message.status == MessageStatus.DELIVERED
    assert message.failure_reason is None and message.final_at == delivered.final_at


def test_failed_report_marks_a_sent_message_failed(db) -> None:
    # Given a sent message
    message_id, at_id = _sent(db)
    # When AT reports it failed
    _report(at_id, "Failed", failure_reason="UserIsInactive")
    # Then it is failed with AT's reason
    message = _message(db, message_id)
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason == "UserIsInactive"


def test_report_before_send_result_is_applied_when_the_result_is_recorded(db) -> None:
    # Given AT's reports reach us while the send call's response is still on its way
    message_id = _enqueue(db)
    early: list[DeliveryReport | None] = []

    def reports_race_the_response(at_id: str) -> None:
        early.append(_report(at_id, "Success"))
        early.append(_report(at_id, "Sent"))
        # Nothing carries this gateway id yet: the reports are stored, unmatched
        for stored in _reports(db, at_id):
            assert stored.message_id is None and not stored.applied
        assert _message(db, message_id).status == MessageStatus.SENDING

    gateway = FakeGateway(101, during_send=reports_race_the_response)
    # When the send result is recorded
    outcome = _send(message_id, gateway)
    # Then the stored reports are applied: the final one wins whatever the order
    assert all(report is not None for report in early)
    assert outcome == MessageStatus.DELIVERED
    message = _message(db, message_id)
    assert message.status == MessageStatus.DELIVERED
    assert message.gateway_message_id == gateway.message_ids[0]
    reports = _reports(db, gateway.message_ids[0])
    assert [(r.status, r.applied, r.message_id) for r in reports] == [
        ("Success", True, message_id),
        ("Sent", True, message_id),
    ]


def test_unknown_report_status_is_stored_and_changes_nothing(db, caplog) -> None:
    # Given a sent message
    message_id, at_id = _sent(db)
    # When AT reports a status we do not know
    report = _report(at_id, "Queued_At_Operator")
    # Then it is stored and logged, and the message stays sent
    assert report is not None
    assert _message(db, message_id).status == MessageStatus.SENT
    [stored] = _reports(db, at_id)
    assert stored.status == "Queued_At_Operator" and stored.message_id == message_id
    assert "unknown delivery status" in caplog.text


# --- sweep -------------------------------------------------------------------------------


def _expired_lease(db: Session) -> int:
    """A message whose worker died mid-try: `sending`, lease in the past."""
    message_id = _enqueue(db)
    with unit_of_work() as session:
        assert service.claim(session, message_id=message_id, owner="dead-worker") is not None
    _set(db, message_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    return message_id


def _sweep() -> service.SweepResult:
    with unit_of_work() as session:
        return service.sweep(session)


def test_sweep_requeues_an_expired_lease_at_least_once(db, settings_env, caplog) -> None:
    # Given the at-least-once policy and a message whose worker died
    settings_env(ambiguous_policy="at_least_once")
    message_id = _expired_lease(db)
    # When the sweeper runs
    with caplog.at_level(logging.WARNING):
        result = _sweep()
    # Then the message is due again at once, and the dead try is kept as a possible duplicate
    assert result.reclaimed == 1 and result.due
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED and message.due_at <= utcnow()
    assert message.lease_owner is None and message.lease_expires_at is None
    assert message.last_error == "lease expired: worker lost during a try"
    [attempt] = _attempts(db, message_id)
    assert attempt.worker == "dead-worker" and attempt.finished_at is not None
    assert attempt.outcome == "lease_expired" and attempt.outcome in service.AMBIGUOUS_OUTCOMES
    assert "lease expired" in caplog.text


def test_sweep_marks_an_expired_lease_unknown_at_most_once(db, settings_env) -> None:
    # Given the at-most-once policy and a message whose worker died
    settings_env(ambiguous_policy="at_most_once")
    message_id = _expired_lease(db)
    # When the sweeper runs
    result = _sweep()
    # Then the message is unknown and nothing is left to send
    assert result.reclaimed == 1 and not result.due
    message = _message(db, message_id)
    assert message.status == MessageStatus.UNKNOWN and message.lease_owner is None


def test_sweep_leaves_a_live_lease_alone(db) -> None:
    # Given a message being sent right now
    message_id = _enqueue(db)
    with unit_of_work() as session:
        assert service.claim(session, message_id=message_id, owner="busy-worker") is not None
    # When the sweeper runs
    result = _sweep()
    # Then the lease stands
    assert result.reclaimed == 0
    message = _message(db, message_id)
    assert message.status == MessageStatus.SENDING
    assert message.lease_owner is not None and message.lease_owner.startswith("busy-worker/")


def test_late_result_after_a_reclaimed_lease_keeps_the_evidence_only(db) -> None:
    # Given a slow worker whose lease expired and was reclaimed by the sweeper
    message_id = _enqueue(db)
    with unit_of_work() as session:
        claim = service.claim(session, message_id=message_id, owner="slow-worker")
    assert claim is not None
    _set(db, message_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    _sweep()
    # When its answer finally arrives
    with unit_of_work() as session:
        service.record_results(
            session,
            claims=[claim],
            results=[
                RecipientResult(number=AWA, status_code=101, status="Success", message_id="X1")
            ],
        )
    # Then the message keeps the sweeper's decision and the attempt records the late answer
    message = _message(db, message_id)
    assert message.status == MessageStatus.QUEUED and message.gateway_message_id is None
    [attempt] = _attempts(db, message_id)
    assert attempt.outcome == "late_result" and attempt.gateway_message_id == "X1"


def test_sweep_says_whether_anything_is_due(db) -> None:
    # Given a message due tomorrow only
    _enqueue(db, "future", due_in=86_400)
    # When the sweeper runs
    # Then it has nothing to wake a drain for
    assert not _sweep().due
    # Given a message due now as well (as a bulk insert leaves it, with no wake-up)
    _enqueue(db, "now")
    # Then the sweeper reports it, so that a drain is woken
    assert _sweep().due


def test_sweep_matches_a_stray_report(db) -> None:
    # Given a sent message and a report stored before its gateway id was visible
    message_id, at_id = _sent(db)
    db.add(DeliveryReport(gateway_message_id=at_id, status="Success"))
    db.commit()
    # When the sweeper runs
    result = _sweep()
    # Then the report is applied
    assert result.reports_matched == 1
    assert _message(db, message_id).status == MessageStatus.DELIVERED
    [report] = _reports(db, at_id)
    assert report.applied and report.message_id == message_id


# --- cancel_for_phone ----------------------------------------------------------------------


def test_cancel_for_phone_cancels_only_sendable_messages(db) -> None:
    # Given messages to Awa in every stage, and one queued to Moussa
    ids = {status: _enqueue(db, f"awa:{status}") for status in MessageStatus}
    for status, message_id in ids.items():
        _set(db, message_id, status=status)
    moussa = _enqueue(db, "moussa", to=MOUSSA)
    # When Awa's number is cancelled
    with unit_of_work() as session:
        count = service.cancel_for_phone(session, e164=AWA, reason="sms_stop")
    # Then only her queued and deferred messages are cancelled
    assert count == 2
    for status in (MessageStatus.QUEUED, MessageStatus.DEFERRED):
        message = _message(db, ids[status])
        assert message.status == MessageStatus.CANCELLED
        assert message.failure_reason == "sms_stop" and message.final_at is not None
    for status in set(MessageStatus) - {MessageStatus.QUEUED, MessageStatus.DEFERRED}:
        message = _message(db, ids[status])
        assert message.status == status and message.failure_reason is None
    assert _message(db, moussa).status == MessageStatus.QUEUED
