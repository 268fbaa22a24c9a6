"""Hostile delivery-report bodies: applied, stored, or refused with a clean 4xx.

The full run, 10,000 cases a test:

    CALLBACK_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/outbox/test_delivery_fuzz.py
"""

from __future__ import annotations

import pytest
from callback_forms import FUZZ, assert_clean, hostile_text, phone, request_for
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col, select

from outreach.outbox import service
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage

IDS = [f"ATXid_fuzz_{i}" for i in range(5)]
FINAL = {"delivered", "failed", "rejected", "expired"}
FIELDS = {
    "id": st.one_of(st.sampled_from(IDS), hostile_text),
    "status": st.sampled_from(
        ["Success", "Failed", "Rejected", "Sent", "Submitted", "Buffered", "Expired", "Queued"]
    ),
    "phoneNumber": phone,
    "networkCode": st.sampled_from(["61001", "61002", "99999"]),
    "failureReason": st.sampled_from(
        ["", "InsufficientCredit", "UserInBlacklist", "DeliveryFailure", "AbsentSubscriber"]
    ),
    "retryCount": st.one_of(st.integers(0, 10).map(str), hostile_text),
}


@pytest.fixture
def sent(db: Session) -> None:
    """Five messages the gateway accepted, under the ids the reports name."""
    for i, gateway_id in enumerate(IDS):
        message = service.enqueue(
            db, dedupe_key=f"fuzz:{i}", to_number=f"+2237012345{i}", body="Bienvenue",
            kind=MessageKind.REPLY,
        )  # fmt: skip
        db.flush()
        db.execute(
            update(OutboundMessage)
            .where(col(OutboundMessage.id) == message.id)
            .values(status=MessageStatus.SENT, gateway_message_id=gateway_id)
        )
    db.commit()


@FUZZ
@given(request=request_for(FIELDS))
def test_a_hostile_delivery_report_is_applied_or_refused_cleanly(sent, client, db, request):
    # When this body is posted as a delivery report
    response = client.post("/callbacks/at/delivery", **request)
    # Then it is a 200 or a clean 4xx, and the messages are in known states
    assert_clean(response)
    db.expire_all()
    statuses = set(db.exec(select(OutboundMessage.status)).all())
    assert statuses <= {"sent", *FINAL}, statuses
