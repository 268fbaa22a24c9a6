"""Batch claiming, lanes, one gateway call per text, and per-recipient results mapped back.

The gateway is the scripted fake; the database and Redis (the rate limit) are real.
"""

from __future__ import annotations

from datetime import timedelta

from outbox_fakes import FakeGateway
from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from outreach.db import unit_of_work
from outreach.encryption import keys
from outreach.gateways.base import GatewayAmbiguousError
from outreach.outbox import bodies, delivery, service
from outreach.outbox.models import (
    MessageAttempt,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Priority,
    addressed_to,
)
from outreach.outbox.ratelimit import get_bucket
from outreach.registry.models import Phone, PhoneStatus
from outreach.timeutil import utcnow

CAMPAIGN_TEXT = "Campagne: vaccination gratuite samedi au CSCom."


def _number(i: int) -> str:
    return f"+2237{i:07d}"


def _bulk(
    db: Session,
    count: int,
    *,
    kind: str = MessageKind.CAMPAIGN,
    priority: int = Priority.CAMPAIGN,
    body: str = CAMPAIGN_TEXT,
    prefix: str = "c",
    start: int = 0,
    due_in: float = -1,
) -> None:
    """Rows as the daily fan-out writes them: one multi-row INSERT, no wake-up, no attempts."""
    now = utcnow()
    db.execute(
        insert(OutboundMessage.__table__),  # type: ignore[attr-defined]
        [
            {
                "dedupe_key": f"{prefix}:{i}",
                "kind": kind,
                "priority": priority,
                "to_number": _number(i),
                "to_index": keys.blind_index(_number(i)),
                "body": body,
                "sender_id": None,
                "language": "fr",
                "beneficiary_id": None,
                "status": MessageStatus.QUEUED,
                "due_at": now + timedelta(seconds=due_in),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, start + count)
        ],
    )
    db.commit()


def _enqueue(db: Session, key: str, *, to: str, kind: str, priority: int, body: str) -> int:
    message = service.enqueue(
        db, dedupe_key=key, to_number=to, body=body, kind=kind, priority=priority
    )
    db.commit()
    assert message.id is not None
    return message.id


def _statuses(db: Session) -> dict[str, int]:
    db.expire_all()
    rows = db.exec(select(OutboundMessage.status)).all()
    return {status: rows.count(status) for status in set(rows)}


def _claim(limit: int, owner: str = "w") -> list[service.Claim]:
    with unit_of_work() as session:
        return service.claim_due(session, owner=owner, limit=limit)


def test_bulk_inserted_rows_are_claimed_in_batches_of_at_most_n(db) -> None:
    # Given 250 due campaign rows inserted in bulk, without attempt counts or wake-ups
    _bulk(db, 250)
    # When two workers claim batches of 100
    first, second = _claim(100, "a"), _claim(100, "b")
    third = _claim(100, "c")
    # Then each gets its own rows, never more than asked, and nothing twice
    assert (len(first), len(second), len(third)) == (100, 100, 50)
    ids = [c.message_id for c in (*first, *second, *third)]
    assert len(set(ids)) == 250
    assert len({c.lease for c in first}) == 1 and first[0].lease != second[0].lease
    assert _claim(100) == []
    # and every claimed row is leased with one open attempt
    assert _statuses(db) == {MessageStatus.SENDING: 250}
    attempts = db.exec(select(MessageAttempt)).all()
    assert len(attempts) == 250 and all(a.number == 1 and a.finished_at is None for a in attempts)


def test_claim_order_is_by_lane_then_due_time(db) -> None:
    # Given a campaign backlog, then a programme message, a reminder and a reply
    _bulk(db, 20)
    programme = _enqueue(
        db, "p", to="+22365000001", kind="programme", priority=Priority.PROGRAMME, body="P"
    )
    reminder = _enqueue(
        db, "r", to="+22365000002", kind="reminder", priority=Priority.REMINDER, body="R"
    )
    reply = _enqueue(
        db, "i", to="+22365000003", kind="reply", priority=Priority.INTERACTIVE, body="I"
    )
    # When a worker claims a small batch
    claims = _claim(4)
    # Then the lanes come first, in order, and the campaign only fills what is left
    assert [c.message_id for c in claims[:3]] == [reply, reminder, programme]
    assert claims[3].priority == Priority.CAMPAIGN
    # and the calls are planned in the same order
    calls = delivery.plan_calls(claims, max_recipients=100)
    assert [call[0].message_id for call in calls[:3]] == [reply, reminder, programme]


def test_same_text_goes_in_one_call_and_each_result_maps_back(db) -> None:
    # Given 100 campaign rows with the same text, one of them to a number AT refuses,
    # one to a number that blocked us and one to an account problem
    _bulk(db, 100)
    db.add(Phone(e164=_number(1)))
    db.add(Phone(e164=_number(2)))
    db.commit()
    gateway = FakeGateway({_number(1): 403, _number(2): 406, _number(3): 405})
    # When one batch is claimed and delivered
    claims = _claim(100)
    result = delivery.deliver(claims, gateway=gateway, bucket=get_bucket())
    # Then AT saw a single call with the 100 recipients
    assert result.calls == 1 and len(gateway.calls) == 1
    assert sorted(gateway.calls[0][1]) == sorted(_number(i) for i in range(100))
    # and each row got its own answer
    db.expire_all()
    by_number = {m.to_number: m for m in db.exec(select(OutboundMessage))}
    assert by_number[_number(1)].status == MessageStatus.REJECTED
    assert by_number[_number(2)].status == MessageStatus.REJECTED
    assert by_number[_number(3)].status == MessageStatus.DEFERRED
    sent = [m for m in by_number.values() if m.status == MessageStatus.SENT]
    assert len(sent) == 97
    assert len({m.gateway_message_id for m in sent}) == 97
    assert set(gateway.message_ids) == {m.gateway_message_id for m in sent}
    phones = {p.e164: p.status for p in db.exec(select(Phone))}
    assert phones == {_number(1): PhoneStatus.INVALID, _number(2): PhoneStatus.OPTED_OUT}
    outcomes = {a.outcome for a in db.exec(select(MessageAttempt))}
    assert outcomes == {"accepted", "rejected", "account_hold"}


def test_named_messages_are_batched_by_the_text_each_will_read(db) -> None:
    # Given three relayed messages stored with the same marked body: two for Awa on two
    # CHW phones, one for Fanta
    body = "Pour " + bodies.NAME + ": Vaccin samedi."
    for key, to, name in (
        ("relay:1", "+22370111001", "Awa"),
        ("relay:2", "+22370111002", "Awa"),
        ("relay:3", "+22370111003", "Fanta"),
    ):
        service.enqueue(
            db, dedupe_key=key, to_number=to, body=body, addressee=name, kind="programme"
        )
    db.commit()
    gateway = FakeGateway(101)
    # When they are claimed together and delivered
    delivery.deliver(_claim(10), gateway=gateway, bucket=get_bucket())
    # Then each call carries one rendered text: Awa's two in one call, Fanta's in another,
    # and no call carries a marker
    calls = sorted((message, sorted(to)) for message, to, _s in gateway.calls)
    assert calls == [
        ("Pour Awa: Vaccin samedi.", ["+22370111001", "+22370111002"]),
        ("Pour Fanta: Vaccin samedi.", ["+22370111003"]),
    ]


def test_two_messages_to_one_number_never_share_a_call(db) -> None:
    # Given two messages with the same text to the same number (two babies, one phone)
    for key in ("twin:1", "twin:2"):
        _enqueue(db, key, to="+22370111222", kind="programme", priority=2, body="Vaccin")
    _enqueue(db, "other", to="+22370111333", kind="programme", priority=2, body="Vaccin")
    gateway = FakeGateway(101)
    # When they are claimed together and delivered
    claims = _claim(10)
    delivery.deliver(claims, gateway=gateway, bucket=get_bucket())
    # Then the number appears once per call, and both messages are sent with their own id
    assert sorted(len(recipients) for _m, recipients, _s in gateway.calls) == [1, 2]
    for _message, recipients, _sender in gateway.calls:
        assert len(recipients) == len(set(recipients))
    db.expire_all()
    twins = db.exec(select(OutboundMessage).where(addressed_to("+22370111222"))).all()
    assert [m.status for m in twins] == [MessageStatus.SENT, MessageStatus.SENT]
    assert twins[0].gateway_message_id != twins[1].gateway_message_id


def test_different_texts_go_in_different_calls() -> None:
    # Given claims for two texts and two senders
    claims = [
        service.Claim(i, i, _number(i), body, sender, "programme", 2, "l")
        for i, (body, sender) in enumerate(
            [("A", None), ("B", None), ("A", None), ("A", "SANTE"), ("B", None)]
        )
    ]
    # When the calls are planned with at most 2 recipients each
    calls = delivery.plan_calls(claims, max_recipients=2)
    # Then each call has one text and one sender
    shapes = sorted(
        (call[0].body, call[0].sender_id or "", tuple(c.message_id for c in call)) for call in calls
    )
    assert shapes == [("A", "", (0, 2)), ("A", "SANTE", (3,)), ("B", "", (1, 4))]
    for call in calls:
        assert len({(c.body, c.sender_id) for c in call}) == 1


def test_a_batch_timeout_is_ambiguous_for_every_recipient(db, settings_env) -> None:
    # Given the at-least-once policy and 30 rows in one batch
    settings_env(ambiguous_policy="at_least_once")
    _bulk(db, 30)
    gateway = FakeGateway(GatewayAmbiguousError("read timeout"))
    # When the call times out
    result = delivery.deliver(_claim(100), gateway=gateway, bucket=get_bucket())
    # Then every recipient is queued again and carries a counted timeout attempt
    assert result.by_message is not None
    assert set(result.by_message.values()) == {"ambiguous"}
    assert _statuses(db) == {MessageStatus.QUEUED: 30}
    attempts = db.exec(select(MessageAttempt)).all()
    assert len(attempts) == 30 and {a.outcome for a in attempts} == {"timeout"}


def test_per_kind_policy_marks_campaign_timeouts_unknown(db, settings_env) -> None:
    # Given campaigns at most once while reminders stay at least once
    settings_env(ambiguous_policy_by_kind='{"campaign": "at_most_once"}')
    _bulk(db, 3)
    _bulk(db, 2, kind="reminder", priority=Priority.REMINDER, prefix="r", start=10)
    gateway = FakeGateway(GatewayAmbiguousError("read timeout"))
    # When both calls time out
    delivery.deliver(_claim(100), gateway=gateway, bucket=get_bucket())
    # Then the campaign is unknown (shown, never resent) and the reminders will be retried
    db.expire_all()
    by_kind = {(m.kind, m.status) for m in db.exec(select(OutboundMessage))}
    assert by_kind == {("campaign", MessageStatus.UNKNOWN), ("reminder", MessageStatus.QUEUED)}


def test_a_waiting_batch_gives_way_to_a_higher_lane(db) -> None:
    # Given a worker holding a claimed campaign batch while the rate limit is exhausted
    _bulk(db, 5)
    claims = _claim(5)
    bucket = get_bucket()
    grant, _wait = bucket.try_acquire(bucket.capacity)
    assert grant is not None
    # When a reminder falls due meanwhile
    reminder = _enqueue(db, "r", to="+22365000009", kind="reminder", priority=1, body="Rappel")
    gateway = FakeGateway(101)
    result = delivery.deliver(claims, gateway=gateway, bucket=bucket)
    # Then the campaign batch is handed back untried, for the reminder to be claimed first
    assert result.released == 5 and gateway.calls == []
    assert _statuses(db) == {MessageStatus.QUEUED: 6}
    db.expire_all()
    assert db.exec(select(MessageAttempt)).all() == []
    assert {m.attempt_count for m in db.exec(select(OutboundMessage))} == {0}
    bucket.release(grant)
    assert _claim(1)[0].message_id == reminder


def test_drain_sends_a_bulk_backlog_and_stops_when_empty(db) -> None:
    # Given 230 bulk-inserted campaign rows and 5 not yet due
    _bulk(db, 230)
    _bulk(db, 5, prefix="later", start=1000, due_in=3600)
    gateway = FakeGateway(101)
    # When a worker drains
    result = delivery.drain(gateway=gateway, bucket=get_bucket(), owner="drainer", max_seconds=60)
    # Then every due row is sent in full calls of the batch size, the rest waits
    assert result.accepted == 230 and not result.more
    assert sorted(len(r) for _m, r, _s in gateway.calls) == [30, 100, 100]
    assert _statuses(db) == {MessageStatus.SENT: 230, MessageStatus.QUEUED: 5}


def test_opted_out_and_no_longer_due_rows_are_cancelled_at_claim(db) -> None:
    # Given three due rows: one to a phone that opted out after queueing, one whose
    # appointment is over, one fine
    _bulk(db, 3)
    db.add(Phone(e164=_number(0), status=PhoneStatus.OPTED_OUT))
    db.commit()
    db.execute(
        text("UPDATE outbound_message SET expires_at = :past WHERE to_index = :n"),
        {"past": utcnow() - timedelta(minutes=1), "n": keys.blind_index(_number(1))},
    )
    db.commit()
    # When a worker claims
    claims = _claim(10)
    # Then only the fine one is leased; the others are cancelled with their reason
    assert [c.to_number for c in claims] == [_number(2)]
    db.expire_all()
    rows = {m.to_number: m for m in db.exec(select(OutboundMessage))}
    assert rows[_number(0)].status == MessageStatus.CANCELLED
    assert rows[_number(0)].failure_reason == "phone_opted_out"
    assert rows[_number(1)].status == MessageStatus.CANCELLED
    assert rows[_number(1)].failure_reason == "no_longer_due"
    assert rows[_number(0)].attempt_count == 0
    assert db.exec(select(col(MessageAttempt.message_id))).all() == [claims[0].message_id]


def test_a_malformed_number_is_rejected_alone_and_never_sinks_the_call(db) -> None:
    # Given a batch where one row carries a number the SDK would refuse for the whole call
    _bulk(db, 5)
    db.execute(
        text(
            "UPDATE outbound_message SET to_number = :bad, to_index = :bad_index"
            " WHERE to_index = :n"
        ),
        {
            "bad": keys.encrypt("70 12 34"),
            "bad_index": keys.blind_index("70 12 34"),
            "n": keys.blind_index(_number(2)),
        },
    )
    db.commit()
    gateway = FakeGateway(101)
    # When the batch is delivered
    delivery.deliver(_claim(10), gateway=gateway, bucket=get_bucket())
    # Then the other four went in one call and the bad one is rejected, never retried
    assert [sorted(r) for _m, r, _s in gateway.calls] == [sorted(_number(i) for i in (0, 1, 3, 4))]
    assert _statuses(db) == {MessageStatus.SENT: 4, MessageStatus.REJECTED: 1}
    db.expire_all()
    bad = db.exec(select(OutboundMessage).where(addressed_to("70 12 34"))).one()
    assert bad.failure_reason == "InvalidPhoneNumber"
