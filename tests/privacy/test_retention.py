"""Retention: old bodies and free text are blanked; rows, statuses and costs stay."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from outreach.audit.models import AuditEntry
from outreach.cli import app
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import MessageAttempt, MessageStatus, OutboundMessage
from outreach.privacy import retention
from outreach.redis import get_redis
from outreach.registry import service as registry_service
from outreach.registry.models import SelfRegistration
from outreach.reports import service as reports
from outreach.timeutil import utcnow
from outreach.ussd.models import UssdSessionEvent

# Run "in the future": every row written now is then past a one-day period.
LATER = timedelta(days=3)


@pytest.fixture
def history(db: Session) -> dict[str, int]:
    """A woman with sent, delivered, failed and queued messages, a reply, a USSD session."""
    woman = registry_service.register_pregnancy(
        db, name="Awa Traoré", phone="+22376000001", weeks=20, chw_id=None
    ).beneficiary
    assert woman.id is not None
    rows = {}
    for n, (status, cost) in enumerate(
        [
            (MessageStatus.DELIVERED, Decimal("25")),
            (MessageStatus.DELIVERED, Decimal("50")),
            (MessageStatus.FAILED, Decimal("25")),
            (MessageStatus.QUEUED, None),
            (MessageStatus.SENDING, None),
        ]
    ):
        message = OutboundMessage(
            dedupe_key=f"test:{n}",
            kind="programme",
            to_number="+22376000001",
            body=f"Awa, message {n}",
            beneficiary_id=woman.id,
            status=status,
            cost=cost,
            currency="XOF" if cost else None,
            sent_at=utcnow() if cost else None,
            final_at=utcnow()
            if status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
            else None,
            last_error="gateway said: +22376000001" if status == MessageStatus.FAILED else None,
        )
        db.add(message)
        db.flush()
        rows[status.value + str(n)] = message.id
        db.add(MessageAttempt(message_id=message.id, number=1, error="echo +22376000001"))
    db.add(
        InboundMessage(
            gateway_id="in-1", from_number="+22376000001", text="Je suis malade", intent="other"
        )
    )
    db.add(
        UssdSessionEvent(
            session_id="s-1",
            phone_number="+22376000001",
            status="Success",
            input="1*Awa*20",
            last_app_response="END Merci Awa",
            last_screen="done",
        )
    )
    db.add(
        SelfRegistration(
            beneficiary_id=woman.id,
            kind="pregnancy",
            estimated_anchor=date.today(),
            village_text="derrière le marché",
        )
    )
    db.commit()
    return rows  # type: ignore[return-value]


def _clear_dashboard_cache() -> None:
    redis = get_redis()
    keys = list(redis.scan_iter("outreach:reports:*"))
    if keys:
        redis.delete(*keys)


def _figures(db: Session) -> tuple[object, ...]:
    _clear_dashboard_cache()
    board = reports.dashboard(db)
    raw = db.execute(
        text(
            "SELECT status, count(*), sum(cost), max(sent_at), max(final_at)"
            " FROM outbound_message GROUP BY status ORDER BY status"
        )
    ).all()
    return board.messages, board.cost, board.networks, board.drop_off, raw


def test_purge_blanks_old_text_and_keeps_every_figure(db: Session, history) -> None:
    # given old messages, a reply, a USSD session and a self-registration, and the figures
    before = _figures(db)
    # when the purge runs past the retention period
    counts = retention.run(days=1, now=utcnow() + LATER, batch=2)
    db.expire_all()
    # then every final outbound body is blank, and the queued and sending ones are untouched
    messages = {m.status: m for m in db.exec(select(OutboundMessage)).all()}
    for status in (MessageStatus.DELIVERED, MessageStatus.FAILED):
        assert messages[status].body == "" and messages[status].redacted_at is not None
    assert messages[MessageStatus.FAILED].last_error is None
    assert messages[MessageStatus.SENDING].body == "Awa, message 4"
    queued = db.exec(select(OutboundMessage).where(OutboundMessage.status == "queued")).all()
    assert queued and all(m.body and m.redacted_at is None for m in queued)
    # and the reply, the attempts' errors, the USSD text and the village text are gone
    assert db.exec(select(InboundMessage)).one().text == ""
    assert all(a.error is None for a in db.exec(select(MessageAttempt)).all())
    event = db.exec(select(UssdSessionEvent)).one()
    assert (event.input, event.last_app_response, event.status) == (None, None, "Success")
    assert db.exec(select(SelfRegistration)).one().village_text is None
    # and counts, statuses, costs and dates are what they were
    assert _figures(db) == before
    assert counts.outbound == 3 and counts.inbound == 1 and counts.ussd_events == 1
    assert counts.attempts == 5 and counts.self_registrations == 1


def test_purge_is_audited_by_the_system_with_counts_only(db: Session, history) -> None:
    # given old text
    # when the purge runs
    retention.run(days=1, now=utcnow() + LATER)
    # then one audit entry by the system says how many rows of each kind were blanked
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
    assert entry.actor == "system" and entry.user_id is None
    assert entry.detail["outbound"] == 3 and entry.detail["days"] == 1
    assert "Awa" not in str(entry.detail)


def test_recent_text_is_kept_and_a_second_purge_finds_nothing(db: Session, history) -> None:
    # given messages written today, and a 180-day period
    # when the purge runs now
    counts = retention.run(days=180)
    # then nothing is blanked
    assert counts.total == 0
    assert db.exec(select(InboundMessage)).one().text == "Je suis malade"
    # and when it runs twice past the period, the second run blanks nothing more
    assert retention.run(days=1, now=utcnow() + LATER).total == 11
    assert retention.run(days=1, now=utcnow() + LATER).total == 0


def test_the_cli_purges_by_hand_and_says_how_much(db: Session, history) -> None:
    # given old text (older than one day, once the rows are backdated)
    db.execute(
        text("UPDATE outbound_message SET created_at = created_at - interval '5 days'")
        if db.get_bind().dialect.name == "postgresql"
        else text("UPDATE outbound_message SET created_at = datetime(created_at, '-5 days')")
    )
    db.commit()
    # when staff run the purge by hand with a one-day period
    result = CliRunner().invoke(app, ["privacy", "purge", "--days", "1"])
    # then it reports the rows blanked, and the audit names the CLI as the actor
    assert result.exit_code == 0, result.output
    assert "SMS envoyés 3" in result.output
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
    assert entry.actor == "cli"
