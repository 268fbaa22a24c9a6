"""POST /callbacks/at/delivery as Africa's Talking sends it: form fields, retries, garbage."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from outreach.gateways.base import RecipientResult
from outreach.outbox import delivery, service
from outreach.outbox.models import DeliveryReport, MessageKind, MessageStatus, OutboundMessage

AWA = "+22370123456"
AT_ID = "ATXid_5e1f0c3a9b7d4e2f8a6c1b0d9e8f7a6b"


class AcceptingGateway:
    """Plays AT's send endpoint: accepts every recipient with a fixed message id."""

    name = "fake"

    def send(
        self, *, message: str, recipients: list[str], sender_id: str | None = None
    ) -> list[RecipientResult]:
        return [
            RecipientResult(
                number=number,
                status_code=101,
                status="Success",
                message_id=AT_ID,
                cost=Decimal("25.0000"),
                currency="XOF",
            )
            for number in recipients
        ]


def _sent_message(db: Session) -> int:
    message = service.enqueue(
        db, dedupe_key="welcome:1", to_number=AWA, body="Bienvenue", kind=MessageKind.REPLY
    )
    db.commit()
    assert message.id is not None
    outcome = delivery.send_one(message_id=message.id, gateway=AcceptingGateway(), owner="test")
    assert outcome == MessageStatus.SENT
    return message.id


def _form(status: str = "Success", **overrides: str) -> dict[str, str]:
    """The fields AT posts, as AT names them."""
    fields = {
        "id": AT_ID,
        "status": status,
        "phoneNumber": AWA,
        "networkCode": "61001",
        "failureReason": "",
        "retryCount": "0",
    }
    fields.update(overrides)
    return fields


def _message(db: Session, message_id: int) -> OutboundMessage:
    db.expire_all()
    message = db.get(OutboundMessage, message_id)
    assert message is not None
    return message


def _reports(db: Session) -> list[DeliveryReport]:
    db.expire_all()
    return list(db.exec(select(DeliveryReport).order_by(col(DeliveryReport.id))).all())


def test_success_report_marks_the_message_delivered(client, db) -> None:
    # Given a message AT accepted
    message_id = _sent_message(db)
    # When AT posts its Success report
    response = client.post("/callbacks/at/delivery", data=_form("Success", retryCount="1"))
    # Then it is acknowledged, stored with its fields, and the message is delivered
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    message = _message(db, message_id)
    assert message.status == MessageStatus.DELIVERED and message.final_at is not None
    [report] = _reports(db)
    assert report.gateway_message_id == AT_ID and report.status == "Success"
    assert report.network_code == "61001" and report.retry_count == 1
    assert report.failure_reason is None
    assert report.message_id == message_id and report.applied


def test_failed_report_keeps_the_failure_reason(client, db) -> None:
    # Given a message AT accepted
    message_id = _sent_message(db)
    # When AT reports it failed on the network
    response = client.post(
        "/callbacks/at/delivery", data=_form("Failed", failureReason="DeliveryFailure")
    )
    # Then the message is failed with AT's reason
    assert response.status_code == 200
    message = _message(db, message_id)
    assert message.status == MessageStatus.FAILED
    assert message.failure_reason == "DeliveryFailure"


def test_intermediate_report_keeps_the_message_sent(client, db) -> None:
    # Given a message AT accepted
    message_id = _sent_message(db)
    # When AT says it is buffered at the operator
    response = client.post("/callbacks/at/delivery", data=_form("Buffered"))
    # Then the report is kept and the message waits for a final one
    assert response.status_code == 200
    assert _message(db, message_id).status == MessageStatus.SENT
    assert [r.status for r in _reports(db)] == ["Buffered"]


def test_unknown_status_is_stored_and_answered_200(client, db) -> None:
    # Given a message AT accepted
    message_id = _sent_message(db)
    # When AT posts a status this service has never heard of
    response = client.post("/callbacks/at/delivery", data=_form("PendingAtCarrier"))
    # Then AT gets its 200, the report is stored, the message stays sent
    assert response.status_code == 200
    [report] = _reports(db)
    assert report.status == "PendingAtCarrier" and report.message_id == message_id
    assert _message(db, message_id).status == MessageStatus.SENT


def test_duplicate_report_is_answered_200_and_stored_once(client, db) -> None:
    # Given a message AT accepted
    message_id = _sent_message(db)
    # When AT posts the same report three times (it retries until it sees a 200)
    responses = [client.post("/callbacks/at/delivery", data=_form("Success")) for _ in range(3)]
    # Then every post is acknowledged and there is a single row
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(_reports(db)) == 1
    assert _message(db, message_id).status == MessageStatus.DELIVERED


def test_report_for_an_unknown_message_is_stored_unmatched(client, db) -> None:
    # Given no message carries this gateway id (yet)
    # When AT posts a report for it
    response = client.post("/callbacks/at/delivery", data=_form("Success", id="ATXid_unknown"))
    # Then it is acknowledged and kept for the sweeper to match later
    assert response.status_code == 200
    [report] = _reports(db)
    assert report.gateway_message_id == "ATXid_unknown"
    assert report.message_id is None and not report.applied


def test_non_numeric_retry_count_is_tolerated(client, db) -> None:
    # Given a message AT accepted
    _sent_message(db)
    # When the retry count is not a number
    response = client.post("/callbacks/at/delivery", data=_form("Success", retryCount="n/a"))
    # Then the report is still applied, without a retry count
    assert response.status_code == 200
    [report] = _reports(db)
    assert report.retry_count is None and report.applied


@pytest.mark.parametrize(
    ("missing", "overrides"),
    [
        ("id", {}),
        ("status", {}),
        (None, {"id": ""}),
        (None, {"status": ""}),
        (None, {"failureReason": "x" * 200}),
        (None, {"networkCode": "9" * 50}),
    ],
    ids=["no-id", "no-status", "empty-id", "empty-status", "long-reason", "long-network"],
)
def test_malformed_report_is_422_with_a_message(client, db, missing, overrides) -> None:
    # Given a report with a missing or impossible field
    form = _form(**overrides)
    if missing:
        del form[missing]
    # When it is posted
    response = client.post("/callbacks/at/delivery", data=form)
    # Then it is refused with a readable JSON reason, and nothing is stored
    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"].startswith("requête invalide")
    assert body["errors"]
    assert _reports(db) == []


def test_empty_body_is_422_not_500(client, db) -> None:
    # Given nothing at all
    # When an empty POST arrives
    response = client.post("/callbacks/at/delivery")
    # Then it is a 422 that names the missing fields
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "id" in detail and "status" in detail
