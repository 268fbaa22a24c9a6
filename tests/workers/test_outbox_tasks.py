"""The outbox tasks, run in process against the AT emulator over HTTP through the real SDK."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlmodel import select

from outreach.db import unit_of_work
from outreach.outbox import service
from outreach.outbox.models import MessageAttempt, MessageKind, MessageStatus, OutboundMessage
from outreach.redis import get_redis
from outreach.registry.models import Phone
from outreach.timeutil import utcnow
from workers import outbox as tasks


def test_drain_task_sends_rows_the_daily_fan_out_inserted(db, emulator_url) -> None:
    # Given 150 programme messages written the way the daily fan-out writes them:
    # INSERT ... SELECT with ON CONFLICT DO NOTHING, status queued, a due time, no wake-up
    # (the number copied from the phone row as stored: ciphertext and blind index)
    now = utcnow()
    db.add_all(Phone(e164=f"+2237{1000000 + n}") for n in range(1, 151))
    db.commit()
    db.execute(
        text(
            " INSERT INTO outbound_message (dedupe_key, kind, priority, to_number, to_index,"
            " body, sender_id, language, beneficiary_id, status, due_at, created_at, updated_at)"
            " SELECT 'fanout:' || p.id, 'programme', 2, p.e164, p.e164_index,"
            " CAST(:body AS TEXT), NULL, 'fr', NULL, 'queued', :due, :now, :now"
            " FROM phone p WHERE true ON CONFLICT (dedupe_key) DO NOTHING"
        ),
        {"body": "Semaine 20: dormez sous moustiquaire.", "due": now, "now": now},
    )
    db.commit()
    # When a worker runs one drain task
    summary = tasks.drain.run()
    # Then all 150 went out in two calls, and each row is sent with its own gateway id
    assert summary["accepted"] == 150 and summary["calls"] == 2
    db.expire_all()
    rows = db.exec(select(OutboundMessage)).all()
    assert {m.status for m in rows} == {MessageStatus.SENT}
    assert len({m.gateway_message_id for m in rows}) == 150
    ledger = httpx.get(f"{emulator_url}/emulator/ledger", timeout=5).json()
    assert ledger["accepted"] == 150
    assert len({m["call_id"] for m in ledger["messages"]}) == 2
    assert len(db.exec(select(MessageAttempt)).all()) == 150


def test_enqueues_publish_one_wake_up_until_a_drain_takes_it(db, emulator_url) -> None:
    # Given an empty broker queue
    redis = get_redis()
    redis.delete(service.SEND_QUEUE)
    # When three replies are enqueued in a row, each in its own request
    for i in range(3):
        with unit_of_work() as session:
            service.enqueue(
                session,
                dedupe_key=f"reply:{i}",
                to_number=f"+2237000000{i}",
                body="Merci, votre message est bien reçu.",
                kind=MessageKind.REPLY,
                priority=0,
            )
    # Then a single drain task was published for the burst
    assert redis.llen(service.SEND_QUEUE) == 1
    # When a drain starts, Then the next enqueue publishes again (no wake-up is ever lost)
    tasks.drain.run()
    with unit_of_work() as session:
        service.enqueue(
            session, dedupe_key="reply:late", to_number="+22370000009", body="Merci.", kind="reply"
        )
    assert redis.llen(service.SEND_QUEUE) == 2
    redis.delete(service.SEND_QUEUE)
    db.expire_all()
    statuses = [m.status for m in db.exec(select(OutboundMessage).order_by(OutboundMessage.id))]
    assert statuses == [MessageStatus.SENT] * 3 + [MessageStatus.QUEUED]


def test_sweep_task_reclaims_a_dead_workers_lease_and_the_drain_resends(db, emulator_url) -> None:
    # Given a message leased by a worker that died long ago
    message = service.enqueue(
        db, dedupe_key="orphan", to_number="+22370000077", body="Rappel.", kind="reminder"
    )
    db.commit()
    with unit_of_work() as session:
        assert service.claim(session, message_id=message.id or 0, owner="dead") is not None
    db.execute(
        text("UPDATE outbound_message SET lease_expires_at = :past"),
        {"past": utcnow() - timedelta(minutes=5)},
    )
    db.commit()
    # When beat's sweep runs, then a drain
    swept = tasks.sweep.run()
    tasks.drain.run()
    # Then the message is sent once more, and the dead try is on record as ambiguous
    assert swept["reclaimed"] == 1 and swept["due"] == 1
    db.expire_all()
    assert db.get(OutboundMessage, message.id).status == MessageStatus.SENT  # type: ignore[union-attr]
    outcomes = [a.outcome for a in db.exec(select(MessageAttempt).order_by(MessageAttempt.id))]
    assert outcomes == ["lease_expired", "accepted"]
