"""Every AT delivery status, unreachable phones, and what `/metrics` shows staff."""

from __future__ import annotations

import re

import pytest
from outbox_fakes import FakeGateway
from sqlmodel import Session, select

from outreach.db import unit_of_work
from outreach.gateways.base import GatewayAmbiguousError
from outreach.outbox import delivery, service
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage
from outreach.redis import get_redis
from outreach.registry.models import Phone, PhoneStatus, has_number

AWA = "+22370123456"


def _send(db: Session, key: str, gateway: FakeGateway, to: str = AWA) -> OutboundMessage:
    message = service.enqueue(
        db, dedupe_key=key, to_number=to, body=f"Conseil {key}", kind=MessageKind.PROGRAMME
    )
    db.commit()
    assert message.id is not None
    delivery.send_one(message_id=message.id, gateway=gateway, owner="test")
    db.expire_all()
    sent = db.get(OutboundMessage, message.id)
    assert sent is not None
    return sent


def _report(gateway_message_id: str, status: str, reason: str | None = None) -> None:
    with unit_of_work() as session:
        service.apply_delivery_report(
            session, gateway_message_id=gateway_message_id, status=status, failure_reason=reason
        )


def _phone(db: Session) -> Phone:
    db.expire_all()
    return db.exec(select(Phone).where(has_number(AWA))).one()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Sent", MessageStatus.SENT),
        ("Submitted", MessageStatus.SENT),
        ("Buffered", MessageStatus.SENT),
        ("AbsentSubscriber", MessageStatus.SENT),
        ("Success", MessageStatus.DELIVERED),
        ("Failed", MessageStatus.FAILED),
        ("Rejected", MessageStatus.REJECTED),
        ("Expired", MessageStatus.EXPIRED),
        ("SomethingNew", MessageStatus.SENT),
    ],
)
def test_every_at_delivery_status_is_mapped(db, status, expected) -> None:
    # Given a sent message
    message = _send(db, "m", FakeGateway(101))
    assert message.gateway_message_id is not None
    # When AT reports this status
    _report(message.gateway_message_id, status, "DeliveryFailure" if status == "Failed" else None)
    # Then the message is where the map says (intermediate and unknown ones wait)
    db.expire_all()
    assert db.get(OutboundMessage, message.id).status == expected  # type: ignore[union-attr]


def test_three_failed_deliveries_in_a_row_mark_the_phone_unreachable(db, wait_for) -> None:
    # Given Awa's phone and three messages sent to it
    db.add(Phone(e164=AWA))
    db.commit()
    gateway = FakeGateway(101)
    sent = [_send(db, f"m{i}", gateway) for i in range(3)]
    # When the first two fail, Then she is not unreachable yet
    for message in sent[:2]:
        _report(message.gateway_message_id or "", "Failed", "UserIsInactive")
    assert _phone(db).status == PhoneStatus.ACTIVE
    # When the third fails as well
    _report(sent[2].gateway_message_id or "", "Rejected", "UserDoesNotExist")
    # Then her phone is unreachable, and the next message to it is cancelled, not sent
    assert _phone(db).status == PhoneStatus.UNREACHABLE
    later = _send(db, "later", gateway)
    assert later.status == MessageStatus.CANCELLED
    assert later.failure_reason == "phone_unreachable"
    assert len(gateway.calls) == 3


def test_a_delivery_in_between_breaks_the_streak(db) -> None:
    # Given Awa's phone with failed, delivered, failed, failed messages
    db.add(Phone(e164=AWA))
    db.commit()
    gateway = FakeGateway(101)
    for i, status in enumerate(["Failed", "Success", "Failed", "Failed"]):
        message = _send(db, f"m{i}", gateway)
        _report(message.gateway_message_id or "", status, "DeliveryFailure")
    # Then only two failures are consecutive: she stays active
    assert _phone(db).status == PhoneStatus.ACTIVE


def test_account_failures_say_nothing_about_the_phone(db) -> None:
    # Given three failures because our account ran out of credit
    db.add(Phone(e164=AWA))
    db.commit()
    gateway = FakeGateway(101)
    for i in range(3):
        message = _send(db, f"m{i}", gateway)
        _report(message.gateway_message_id or "", "Failed", "InsufficientCredit")
    # Then the phone is not blamed
    assert _phone(db).status == PhoneStatus.ACTIVE


def _metric(body: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, body, re.MULTILINE)
    assert match, f"{name} {labels} not in /metrics:\n{body}"
    return float(match.group(1))


def test_metrics_show_states_failures_latency_rate_and_unreachable_phones(client, db) -> None:
    # Given clean counters, and a pipeline that sent, held, timed out and failed messages
    redis = get_redis()
    stale = list(redis.scan_iter("outreach:metrics:*"))
    if stale:
        redis.delete(*stale)
    db.add(Phone(e164=AWA))
    db.commit()
    gateway = FakeGateway(101)
    sent = [_send(db, f"m{i}", gateway) for i in range(3)]
    for message in sent:
        _report(message.gateway_message_id or "", "Failed", "UserIsInactive")
    _send(db, "held", FakeGateway(405), to="+22370000405")
    _send(db, "lost", FakeGateway(GatewayAmbiguousError("read timeout")), to="+22370000504")
    # When Prometheus scrapes the API
    body = client.get("/metrics").text
    # Then staff see states, failure reasons, the account problem, timeouts and phones
    assert _metric(body, "outreach_outbox_messages", status="failed") == 3
    assert (
        _metric(body, "outreach_outbox_transitions_total", status="failed", reason="UserIsInactive")
        == 3
    )
    assert _metric(body, "outreach_outbox_transitions_total", status="sent", reason="101") == 3
    assert _metric(body, "outreach_gateway_account_problems_total", code="405") == 1
    assert _metric(body, "outreach_outbox_possible_duplicates_total", cause="timeout") == 1
    assert _metric(body, "outreach_gateway_calls_total", outcome="timeout") == 1
    assert _metric(body, "outreach_phones", status="unreachable") == 1
    assert _metric(body, "outreach_phones_marked_total", status="unreachable") == 1
    assert _metric(body, "outreach_gateway_latency_seconds_count") == 5
    assert _metric(body, "outreach_outbox_lag_seconds") >= 0
    assert "outreach_outbox_send_rate " in body
